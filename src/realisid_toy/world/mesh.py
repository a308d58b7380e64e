"""A full MediaPipe-layout landmark array from the points the renderer models.

The renderer knows exact 3-D points only for the drawn contours (:data:`realisid.faces.topology.PARTS`)
and the iris centres. Every other mesh vertex is filled in as the *harmonic interpolation* of the
known points over the face mesh's tessellation graph: each unknown vertex is the mean of its mesh
neighbours. The result is a smooth membrane spanning the contours, so the array has the shape,
centroid and extent of a real mesh (``rotate_landmarks`` and the face-oval mask work on it), while
only the contour points are exact.
"""

from __future__ import annotations

import functools

import numpy as np
from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

from realisid.faces.topology import MESH_POINTS, MESH_POINTS_WITH_IRISES, PARTS

RIGHT_IRIS_CENTER = 468
LEFT_IRIS_CENTER = 473

MODELLED: tuple[int, ...] = tuple(
    sorted({i for polylines in PARTS.values() for line in polylines for i in line} | {468, 473})
)
"""Indices whose positions the renderer models exactly."""


@functools.cache
def _interpolation() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(known, unknown, weights)``: ``points[unknown] = weights @ points[known]`` (mesh vertices only)."""
    laplacian = np.zeros((MESH_POINTS, MESH_POINTS))
    for a, b in FACEMESH_TESSELATION:
        laplacian[a, b] = laplacian[b, a] = -1.0
    np.fill_diagonal(laplacian, -laplacian.sum(axis=1))
    known = np.array([i for i in MODELLED if i < MESH_POINTS])
    unknown = np.setdiff1d(np.arange(MESH_POINTS), known)
    weights = -np.linalg.solve(laplacian[np.ix_(unknown, unknown)], laplacian[np.ix_(unknown, known)])
    return known, unknown, weights


def complete_mesh(points: np.ndarray) -> np.ndarray:
    """``(478, 3)`` landmarks from an array whose :data:`MODELLED` rows are set (others ignored)."""
    if points.shape != (MESH_POINTS_WITH_IRISES, 3):
        raise ValueError(f"expected ({MESH_POINTS_WITH_IRISES}, 3) points, got {points.shape}")
    known, unknown, weights = _interpolation()
    full = points.astype(np.float64, copy=True)
    full[unknown] = weights @ full[known]
    return full
