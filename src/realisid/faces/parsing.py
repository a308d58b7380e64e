"""Face masks in crop coordinates: the parser protocol and the face-mesh-oval parser.

The mask stands in for the paper's BiSeNet face parsing: it zeroes the background of the face crop
before the ID encoder sees it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw

from .topology import FACE_OVAL


class FaceParser(Protocol):
    """Anything that masks the face in a square face crop.

    Takes the crop and its landmarks ``(N, 3)`` in crop pixels; returns an ``(H, W)`` ``float32``
    mask in ``[0, 1]`` (1 = face) at the crop's resolution.
    """

    def __call__(self, crop: Image.Image, landmarks: np.ndarray) -> np.ndarray: ...


class MeshOvalParser:
    """The face-mesh oval (forehead to chin, cheek to cheek) filled, edges antialiased by
    ``supersample``-times oversampling; deterministic."""

    def __init__(self, supersample: int = 4):
        self.supersample = supersample

    def __call__(self, crop: Image.Image, landmarks: np.ndarray) -> np.ndarray:
        width, height = crop.size
        k = self.supersample
        canvas = Image.new("L", (width * k, height * k), 0)
        # Pixel centres sit at +0.5; scale the continuous coordinates, not the pixel indices.
        outline = [(float(x) * k, float(y) * k) for x, y in landmarks[FACE_OVAL, :2]]
        ImageDraw.Draw(canvas).polygon(outline, fill=255)
        mask = canvas.resize((width, height), Image.Resampling.BOX)
        return np.asarray(mask, dtype=np.float32) / 255.0
