"""A picture of what was asked: each person's box and drawn landmarks on the output canvas."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .boxes import Box
from .faces import draw_landmarks
from .faces.preview import BOX_COLORS


def draw_layout(width: int, height: int, persons: list[tuple[Box, np.ndarray]]) -> Image.Image:
    """``width×height`` RGB: per person, its landmark drawing ``c_p&e`` in its box and the box outline.

    ``persons`` holds ``(box in pixels, landmarks (N, 3) normalised to the box)``.
    """
    canvas = Image.new("RGB", (width, height), (24, 24, 28))
    for box, landmarks in persons:
        size = max(1, round(box.size))
        drawing = draw_landmarks(landmarks, size)
        canvas.paste(drawing, (round(box.x0), round(box.y0)), mask=drawing.convert("L").point(lambda v: 255 * (v > 0)))
    draw = ImageDraw.Draw(canvas)
    for index, (box, _) in enumerate(persons):
        color = BOX_COLORS[index % len(BOX_COLORS)]
        line = max(1, round(min(width, height) / 256))
        draw.rectangle([box.x0, box.y0, box.x0 + box.size, box.y0 + box.size], outline=color, width=line)
        label_y = box.y0 - 12 if box.y0 >= 12 else box.y0 + box.size + 2  # outside the box, on the canvas
        draw.text((box.x0, label_y), f"person {index}", fill=color)
    return canvas
