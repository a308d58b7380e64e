"""The pose-expression image ``c_p&e``: face-mesh contours drawn in colour on black.

One drawing serves training and inference alike: the same landmarks give the same pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from .topology import PARTS

if TYPE_CHECKING:
    import torch

PART_COLORS: dict[str, tuple[int, int, int]] = {
    "face_oval": (255, 255, 255),
    "right_eyebrow": (255, 128, 0),
    "left_eyebrow": (0, 128, 255),
    "right_eye": (255, 0, 0),
    "left_eye": (0, 0, 255),
    "right_iris": (255, 255, 0),
    "left_iris": (0, 255, 255),
    "nose": (0, 255, 0),
    "lips": (255, 0, 255),
}
"""The fixed colour of each part; left and right differ so a mirrored face draws differently."""


def draw_landmarks(landmarks: np.ndarray, size: int, line_width: int | None = None) -> Image.Image:
    """The ``size×size`` RGB drawing of face-mesh landmarks normalised to their box.

    ``landmarks`` is ``(N, 3)`` or ``(N, 2)``, ``x, y`` in ``[0, 1]`` over the box (``z`` is
    ignored; rotate the mesh first for pose edits). Iris contours are drawn when ``N`` is 478.
    Lines are ``line_width`` pixels wide (default ``size / 256``, at least 1), without antialiasing.
    """
    line_width = line_width or max(1, round(size / 256))
    image = Image.new("RGB", (size, size), 0)
    draw = ImageDraw.Draw(image)
    points = np.asarray(landmarks, dtype=np.float64)[:, :2] * size
    for part, polylines in PARTS.items():
        for polyline in polylines:
            if max(polyline) >= len(points):  # irises of a 468-point mesh
                continue
            draw.line(
                [tuple(p) for p in points[polyline]], fill=PART_COLORS[part], width=line_width, joint="curve"
            )
    return image


def landmark_image_tensor(landmarks: np.ndarray, size: int, line_width: int | None = None) -> torch.Tensor:
    """:func:`draw_landmarks` as a ``(3, size, size)`` ``float32`` tensor in ``[0, 1]``."""
    import torch  # imported here so that detection and the CLI do not pay torch's import time

    array = np.asarray(draw_landmarks(landmarks, size, line_width), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()
