"""The toy world's identity metric, the ``synthetic`` backend of ``realisid.evaluation``.

Registered through the ``realisid.identity_backends`` entry point (``SyntheticIdentityBackend.load``).
Weights: one safetensors file per model in a folder, ``identity_net.safetensors`` and
``face_segmenter.safetensors``, written by :func:`train_backend`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from realisid.errors import RealisIDError
from realisid.evaluation.identity_backend import Face

from .detector import FaceSegmenter, train_face_segmenter
from .identity_net import IdentityNet, TrainingConfig, face_crop, train_identity_net
from .traits import Paint

EMBEDDER_FILE = "identity_net.safetensors"
SEGMENTER_FILE = "face_segmenter.safetensors"


class SyntheticIdentityBackend:
    """Face found by the :class:`FaceSegmenter`, embedded by the :class:`IdentityNet`; cosine similarity."""

    name = "synthetic"

    def __init__(self, embedder: IdentityNet, segmenter: FaceSegmenter):
        self.embedder = embedder.eval()
        self.segmenter = segmenter.eval()

    @classmethod
    def load(cls, path: str | Path | None) -> SyntheticIdentityBackend:
        if path is None or not (Path(path) / EMBEDDER_FILE).is_file():
            raise RealisIDError(
                f"the synthetic identity backend needs a weights folder with {EMBEDDER_FILE} and "
                f"{SEGMENTER_FILE} (got {path}); make one with realisid_toy.world.backend.train_backend"
            )
        return cls(
            IdentityNet.load(Path(path) / EMBEDDER_FILE), FaceSegmenter.load(Path(path) / SEGMENTER_FILE)
        )

    def save(self, path: str | Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        self.embedder.save(Path(path) / EMBEDDER_FILE)
        self.segmenter.save(Path(path) / SEGMENTER_FILE)

    def find_face(self, image: Image.Image) -> Face | None:
        box = self.segmenter.find_box(image)
        if box is None:
            return None
        return Face(box=box, embedding=self.embedder.embed([face_crop(image, box)])[0])

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def train_backend(
    output: str | Path | None = None,
    embedder: TrainingConfig | None = None,
    segmenter_images: int = 1500,
    paint: Paint = "none",
) -> SyntheticIdentityBackend:
    """Both models trained from scratch on renderings (of faces wearing ``paint``; a few minutes on 2
    CPU cores); saved to ``output``."""
    backend = SyntheticIdentityBackend(
        train_identity_net(embedder, paint=paint), train_face_segmenter(segmenter_images, paint=paint)
    )
    if output is not None:
        backend.save(output)
    return backend
