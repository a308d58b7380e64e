"""What an identity backend is: a face finder and embedder (:class:`IdentityBackend`) and its :class:`Face`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from ..boxes import Box


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
