"""Square face crops and arrays shared by the metrics."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..boxes import Box


def crop_box(image: Image.Image, box: Box) -> Image.Image:
    """The square ``box`` cut from ``image``; parts past the border are black (zeros)."""
    x0, y0, size = round(box.x0), round(box.y0), max(1, round(box.size))
    return image.crop((x0, y0, x0 + size, y0 + size))


def to_array(image: Image.Image) -> np.ndarray:
    """``(H, W, 3)`` uint8, C-contiguous (what dlib expects)."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
