"""Face masks in crop coordinates: the parser protocol and the face-mesh-oval parser.

The mask stands in for the paper's BiSeNet face parsing: it zeroes the background of the face crop
before the ID encoder sees it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw
from scipy.spatial import ConvexHull


class FaceParser(Protocol):
    """Anything that masks the face in a square face crop.

    Takes the crop and its landmarks ``(N, 3)`` in crop pixels; returns an ``(H, W)`` ``float32``
    mask in ``[0, 1]`` (1 = face) at the crop's resolution.
    """

    def __call__(self, crop: Image.Image, landmarks: np.ndarray) -> np.ndarray: ...


class MeshOvalParser:
    """The face mesh's outline (forehead to chin, cheek to cheek) filled, edges antialiased by
    ``supersample``-times oversampling; deterministic.

    The outline is the convex hull of all mesh points, not the mesh's oval: on a head turned to
    profile the oval folds over the face into a crescent and the nose juts out of it.
    """

    def __init__(self, supersample: int = 4):
        self.supersample = supersample

    def __call__(self, crop: Image.Image, landmarks: np.ndarray) -> np.ndarray:
        width, height = crop.size
        k = self.supersample
        canvas = Image.new("L", (width * k, height * k), 0)
        # Pixel centres sit at +0.5; scale the continuous coordinates, not the pixel indices.
        points = landmarks[:, :2].astype(np.float64)
        outline = [(float(x) * k, float(y) * k) for x, y in points[ConvexHull(points).vertices]]
        ImageDraw.Draw(canvas).polygon(outline, fill=255)
        mask = canvas.resize((width, height), Image.Resampling.BOX)
        return np.asarray(mask, dtype=np.float32) / 255.0
