"""Finding faces in a photo: detection, landmark verification, largest first."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..boxes import Box
from .detection import Detection, FaceDetector, MediaPipeDetector, suppress_overlaps
from .mesh import MeshLandmarker
from .photo import PhotoSource, downscale, load_photo
from .topology import FACE_OVAL

DETECTION_MAX_SIDE = 1024
"""Photos with a longer side are downscaled for detection (the detector's smallest tiles still hold
more pixels than its model sees); boxes are mapped back to full size."""

MESH_AGREEMENT = 0.4
"""Least IoU of a detector's box and its mesh's oval box for the detection to count as a face."""


@dataclass(frozen=True)
class Face:
    """One face of a photo, in that photo's pixels.

    ``box`` is the square around the face mesh's oval (forehead to chin, cheek to cheek),
    ``relative_size`` its size over the photo's long edge, ``landmarks`` the face mesh ``(N, 3)``
    (``z`` in the same pixel scale as ``x``, ``y``).
    """

    box: Box
    score: float
    relative_size: float
    landmarks: np.ndarray | None


@functools.cache
def default_detector() -> MediaPipeDetector:
    """The shared MediaPipe detector (built once; not thread-safe)."""
    return MediaPipeDetector()


@functools.cache
def default_landmarker() -> MeshLandmarker:
    """The shared MediaPipe face-mesh landmarker (built once; not thread-safe)."""
    return MeshLandmarker()


def detect_faces(
    photo: PhotoSource,
    detector: FaceDetector | None = None,
    landmarker: MeshLandmarker | None = None,
    max_side: int = DETECTION_MAX_SIDE,
) -> list[Face]:
    """Every face of ``photo`` with its landmarks, largest first.

    Detection runs on the photo downscaled to ``max_side``; landmarks on crops of the full photo.
    Boxes in which the face mesh finds no face, or a face of another place and size (IoU under
    :data:`MESH_AGREEMENT`), are dropped as false detections. Each face's box is
    the square around its mesh's oval: detector boxes drift with a face's size by up to 20 %, the
    mesh's by 3 %. Faces whose boxes overlap (two detections of one face) are merged.
    """
    image = load_photo(photo)
    small, factor = downscale(image, max_side)
    detections = (detector or default_detector())(np.asarray(small))
    landmarker = landmarker or default_landmarker()
    meshes = {}
    for detection in detections:
        box = detection.box.scaled(1 / factor)
        landmarks = landmarker(image, box)
        if landmarks is not None and oval_box(landmarks).iou(box) >= MESH_AGREEMENT:
            meshes[Detection(oval_box(landmarks), detection.score)] = landmarks
    long_edge = max(image.size)
    faces = [
        Face(kept.box, kept.score, kept.box.size / long_edge, meshes[kept])
        for kept in suppress_overlaps(list(meshes), threshold=0.3)
    ]
    return sorted(faces, key=lambda face: (-face.box.size, -face.score))


def oval_box(landmarks: np.ndarray) -> Box:
    """The square box around the face oval of a mesh ``(N, >=2)`` in image pixels."""
    oval = landmarks[FACE_OVAL, :2]
    return Box.square(*oval.min(axis=0), *oval.max(axis=0))
