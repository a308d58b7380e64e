"""Offline identity backend: dlib's HOG face detector and its 128-D face-recognition ResNet.

The model files come from the ``face-recognition-models`` package. That package's ``__init__``
imports ``pkg_resources`` (gone from setuptools >= 81), so the files are located from the package
folder without importing it.

Similarity is ``1 - d`` with ``d`` the Euclidean distance of the two 128-D descriptors: dlib's
same-person threshold ``d < 0.6`` becomes ``similarity > 0.4``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from ..boxes import Box
from ..errors import RealisIDError
from ..faces.photo import downscale
from .identity_backend import Face
from .images import to_array

RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARK_MODEL = "shape_predictor_5_face_landmarks.dat"


def face_recognition_models_dir() -> Path:
    """The ``models/`` folder of the installed ``face-recognition-models`` package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RealisIDError(
            "the dlib identity backend needs the model files: pip install face-recognition-models"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _import_dlib():
    try:
        import dlib
    except ImportError as error:
        raise RealisIDError("the dlib face detector needs dlib: pip install dlib-bin") from error
    return dlib


class DlibFaceDetector:
    """Largest face found by dlib's HOG detector, as a square box in image pixels.

    Detection runs on a copy whose long edge is at most ``detect_size`` px, upsampled ``upsample``
    times (faces down to ~40 px at that scale are found).
    """

    def __init__(self, detect_size: int = 1024, upsample: int = 1):
        self._detector = _import_dlib().get_frontal_face_detector()
        self.detect_size = detect_size
        self.upsample = upsample

    def __call__(self, image: Image.Image) -> Box | None:
        image, scale = downscale(image, self.detect_size)
        rects = self._detector(to_array(image), self.upsample)
        if not rects:
            return None
        r = max(rects, key=lambda rect: rect.area())
        return Box.square(r.left(), r.top(), r.right() + 1, r.bottom() + 1).scaled(1 / scale)


class DlibBackend:
    """Largest HOG-detected face → 5 landmarks → 128-D descriptor (on the full-resolution image)."""

    name = "dlib"

    def __init__(self, models_dir: str | Path | None = None, detector: DlibFaceDetector | None = None):
        dlib = _import_dlib()
        models_dir = Path(models_dir) if models_dir is not None else face_recognition_models_dir()
        self._rectangle = dlib.rectangle
        self._landmarks = dlib.shape_predictor(str(models_dir / LANDMARK_MODEL))
        self._encoder = dlib.face_recognition_model_v1(str(models_dir / RECOGNITION_MODEL))
        self.detector = detector or DlibFaceDetector()

    def find_face(self, image: Image.Image) -> Face | None:
        box = self.detector(image)
        if box is None:
            return None
        x0, y0 = round(box.x0), round(box.y0)
        rect = self._rectangle(x0, y0, x0 + round(box.size) - 1, y0 + round(box.size) - 1)
        pixels = to_array(image)
        shape = self._landmarks(pixels, rect)
        embedding = np.asarray(self._encoder.compute_face_descriptor(pixels, shape), dtype=np.float32)
        return Face(box=box, embedding=embedding)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(1.0 - np.linalg.norm(a - b))
