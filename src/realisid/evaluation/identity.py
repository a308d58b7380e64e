"""Face-identity similarity behind one backend interface.

A backend finds the largest face in an image and embeds it; its ``similarity`` maps two embeddings
to a score where higher means more alike. Backends: ``"dlib"`` (offline, from registry packages),
``"facenet"`` (the paper's metric, weights from a path) and ``"synthetic"`` (the toy world's
metric, :mod:`realisid.synthetic.backend`, weights from a folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from ..boxes import Box
from ..errors import RealisIDError
from .images import ImageLike, load_rgb

BACKENDS = ("dlib", "facenet", "synthetic")


@dataclass(frozen=True)
class Face:
    """A detected face: its square box in image pixels and its identity embedding ``(D,)``."""

    box: Box
    embedding: np.ndarray


@runtime_checkable
class IdentityBackend(Protocol):
    """Finds and embeds faces; compares embeddings."""

    name: str

    def find_face(self, image: Image.Image) -> Face | None:
        """The largest face in an RGB image, or ``None`` when no face is found."""

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        """Similarity of two embeddings ``(D,)``; higher means more alike."""


def load_backend(
    name: str, facenet_path: str | Path | None = None, synthetic_path: str | Path | None = None
) -> IdentityBackend:
    """The backend called ``name``; ``"facenet"`` needs ``facenet_path`` (see ``FaceNetBackend``),
    ``"synthetic"`` needs ``synthetic_path`` (see ``SyntheticIdentityBackend``)."""
    if name == "dlib":
        return _dlib_backend()
    if name == "facenet":
        from .facenet_backend import FaceNetBackend

        return FaceNetBackend(facenet_path)
    if name == "synthetic":
        from ..synthetic.backend import SyntheticIdentityBackend

        return SyntheticIdentityBackend.load(synthetic_path)
    raise RealisIDError(f"unknown identity backend {name!r}; choose one of {', '.join(BACKENDS)}")


@lru_cache(maxsize=1)
def _dlib_backend() -> IdentityBackend:
    from .dlib_backend import DlibBackend

    return DlibBackend()


def face_similarity(
    image_a: ImageLike, image_b: ImageLike, backend: str | IdentityBackend = "dlib"
) -> float | None:
    """Identity similarity of the largest faces in two images, ``None`` if either has no face."""
    backend = load_backend(backend) if isinstance(backend, str) else backend
    face_a = backend.find_face(load_rgb(image_a))
    if face_a is None:
        return None
    face_b = backend.find_face(load_rgb(image_b))
    if face_b is None:
        return None
    return backend.similarity(face_a.embedding, face_b.embedding)
