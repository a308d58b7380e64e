"""Square face boxes: ``(x0, y0, size)`` in image pixels (docs/design.md, "Conventions").

A box may extend past the image border and may have fractional coordinates. "Relative size" is
``size / long image edge``, the paper's definition.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .errors import RealisIDError

SMALL_FACE = 1 / 6
"""The paper's small face: a box whose side is at most 1/6 of the image's long edge (its hard case)."""
MAX_RELATIVE_SIZE = 2.0
"""The largest box side over the image's long edge: a larger face barely shows, and drawing it costs
memory."""


class Box(NamedTuple):
    """A square box in pixels: top-left corner ``(x0, y0)`` and side ``size``."""

    x0: float
    y0: float
    size: float

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.size / 2, self.y0 + self.size / 2)

    @classmethod
    def square(cls, x0: float, y0: float, x1: float, y1: float) -> Box:
        """The square box around a detector rectangle: its longer edge, same centre."""
        size = max(x1 - x0, y1 - y0)
        return cls((x0 + x1 - size) / 2, (y0 + y1 - size) / 2, size)

    @classmethod
    def from_relative(cls, cx: float, cy: float, rel_size: float, width: int, height: int) -> Box:
        """A box given by its centre as fractions of width/height and its size relative to the long edge."""
        size = rel_size * max(width, height)
        return cls(cx * width - size / 2, cy * height - size / 2, size)

    def relative(self, width: int, height: int) -> tuple[float, float, float]:
        """``(cx, cy, rel_size)``: the inverse of :meth:`from_relative`."""
        cx, cy = self.center
        return (cx / width, cy / height, self.size / max(width, height))

    def scaled(self, factor: float) -> Box:
        """The same box in an image resized by ``factor``."""
        return Box(self.x0 * factor, self.y0 * factor, self.size * factor)

    def expanded(self, factor: float) -> Box:
        """This box scaled by ``factor`` about its centre (a face with ``factor - 1`` of context)."""
        cx, cy = self.center
        size = self.size * factor
        return Box(cx - size / 2, cy - size / 2, size)

    def intersection(self, other: Box) -> float:
        """The area the two squares share."""
        width = min(self.x0 + self.size, other.x0 + other.size) - max(self.x0, other.x0)
        height = min(self.y0 + self.size, other.y0 + other.size) - max(self.y0, other.y0)
        return max(0.0, width) * max(0.0, height)

    def iou(self, other: Box) -> float:
        """Intersection over union of the two squares."""
        inter = self.intersection(other)
        return inter / (self.size**2 + other.size**2 - inter)

    def validate(self, width: int, height: int) -> Box:
        """Raise a clear error for a box that cannot place a face in a ``width×height`` image."""
        if not all(math.isfinite(v) for v in self):
            raise RealisIDError(f"box values must be finite numbers, got {tuple(self)}")
        if not self.size > 0:
            raise RealisIDError(f"box size must be positive, got {self.size}")
        if self.size > MAX_RELATIVE_SIZE * max(width, height):
            raise RealisIDError(
                f"box size {self.size:g} is over {MAX_RELATIVE_SIZE:g} times the long edge of the "
                f"{width}x{height} image"
            )
        x1, y1 = self.x0 + self.size, self.y0 + self.size
        if x1 <= 0 or y1 <= 0 or self.x0 >= width or self.y0 >= height:
            raise RealisIDError(
                f"box (x0={self.x0:.1f}, y0={self.y0:.1f}, size={self.size:.1f}) lies outside "
                f"the {width}x{height} image"
            )
        return self
