"""Pose and expression for the landmark image: transfer from a driving face, or rotate the 3-D mesh.

Landmarks here are normalised to their face box: ``x, y`` in ``[0, 1]`` over the box, ``z`` divided
by the box size (same scale as ``x, y``; smaller ``z`` = nearer the camera).

Sign convention (camera frame, ``x`` right, ``y`` down, ``z`` away from the camera):

* positive ``yaw`` turns the face towards the subject's left, i.e. the nose moves to image right;
* positive ``pitch`` raises the chin: the nose moves up in the image;
* positive ``roll`` turns the face counter-clockwise as seen in the image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .conditions import FaceConditions


def rotation_matrix(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """The ``(3, 3)`` rotation applying yaw, then pitch, then roll (degrees), to column vectors."""
    y, p, r = np.radians([yaw, pitch, roll])
    yaw_m = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    pitch_m = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    roll_m = np.array([[np.cos(r), np.sin(r), 0], [-np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return roll_m @ pitch_m @ yaw_m


def rotate_landmarks(
    landmarks: np.ndarray, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0
) -> np.ndarray:
    """``(N, 3)`` normalised landmarks rotated about their centroid by yaw, pitch and roll (degrees)."""
    points = np.asarray(landmarks, dtype=np.float64)
    centre = points.mean(axis=0)
    rotated = (points - centre) @ rotation_matrix(yaw, pitch, roll).T + centre
    return rotated.astype(np.float32)


def transfer_pose(driving: FaceConditions) -> np.ndarray:
    """The driving face's landmarks ``(N, 3)``, normalised to its own box: drawn in any target box,
    they give that box the driving face's pose, expression and placement within the box."""
    return driving.landmarks.copy()
