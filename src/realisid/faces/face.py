"""Finding faces in a photo: detection, landmark verification, largest first."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..boxes import Box
from .detection import FaceDetector, MediaPipeDetector
from .mesh import MeshLandmarker
from .photo import PhotoSource, downscale, load_photo

DETECTION_MAX_SIDE = 2048
"""Photos with a longer side are downscaled for detection; boxes are mapped back to full size."""


@dataclass(frozen=True)
class Face:
    """One face of a photo, in that photo's pixels.

    ``box`` is the square box (:class:`~realisid.boxes.Box`), ``relative_size`` its size over the photo's long edge,
    ``landmarks`` the face mesh ``(N, 3)`` (``z`` in the same pixel scale as ``x``, ``y``).
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
    Boxes in which the face mesh finds no face are dropped as false detections.
    """
    image = load_photo(photo)
    small, factor = downscale(image, max_side)
    detections = (detector or default_detector())(np.asarray(small))
    landmarker = landmarker or default_landmarker()
    long_edge = max(image.size)
    faces = []
    for detection in detections:
        box = detection.box.scaled(1 / factor)
        landmarks = landmarker(image, box)
        if landmarks is not None:
            faces.append(Face(box, detection.score, box.size / long_edge, landmarks))
    return sorted(faces, key=lambda face: (-face.box.size, -face.score))
