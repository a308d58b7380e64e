"""Face detection: the detector protocol and a MediaPipe detector tuned for small faces.

Detectors take an RGB ``uint8`` array ``(H, W, 3)`` and return :class:`Detection` s in its pixels.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import numpy as np
from mediapipe.python.solutions import face_detection as mp_face_detection

from ..boxes import Box


class Detection(NamedTuple):
    """A square face box in the detector's input pixels and the detector's confidence in ``[0, 1]``."""

    box: Box
    score: float


class FaceDetector(Protocol):
    """Anything that finds faces in an RGB ``uint8`` array ``(H, W, 3)`` (e.g. an MTCNN wrapper)."""

    def __call__(self, image: np.ndarray) -> list[Detection]: ...


class MediaPipeDetector:
    """MediaPipe's bundled detectors, with a tiled second pass for small faces.

    Three passes, merged by non-maximum suppression:

    1. the short-range model on the whole image (best for faces larger than ~1/10 of the edge);
    2. the full-range model on the whole image (down to ~1/16);
    3. the full-range model on overlapping tiles half the long edge in size, which doubles every
       face's relative size (down to ~1/32). A tile box touching a tile border inside the image is
       dropped: it is a cut face, and the overlap puts that face whole in another tile.

    ``passes`` picks which of ``"short"``, ``"full"`` and ``"tiles"`` run. The detectors are not
    thread-safe; use one instance per thread.
    """

    PASSES = ("short", "full", "tiles")

    def __init__(
        self, min_score: float = 0.5, passes: tuple[str, ...] = PASSES, overlap_threshold: float = 0.3
    ):
        if not passes or not set(passes) <= set(self.PASSES):
            raise ValueError(f"passes must be a non-empty subset of {self.PASSES}, got {passes}")
        self.passes = passes
        self.overlap_threshold = overlap_threshold
        self._short_range = mp_face_detection.FaceDetection(
            model_selection=0, min_detection_confidence=min_score
        )
        self._full_range = mp_face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_score
        )

    def __call__(self, image: np.ndarray) -> list[Detection]:
        image = np.ascontiguousarray(image)
        found = []
        if "short" in self.passes:
            found += _run(self._short_range, image)
        if "full" in self.passes:
            found += _run(self._full_range, image)
        if "tiles" in self.passes:
            for x0, y0, tile in _tiles(image):
                height, width = tile.shape[:2]
                for detection in _run(self._full_range, tile):
                    if _touches_inner_border(detection.box, x0, y0, width, height, image.shape):
                        continue
                    box = detection.box
                    found.append(Detection(Box(box.x0 + x0, box.y0 + y0, box.size), detection.score))
        return suppress_overlaps(found, self.overlap_threshold)

    def close(self) -> None:
        self._short_range.close()
        self._full_range.close()


def _run(model: mp_face_detection.FaceDetection, image: np.ndarray) -> list[Detection]:
    height, width = image.shape[:2]
    detections = []
    for result in model.process(image).detections or ():
        rect = result.location_data.relative_bounding_box
        x0, y0 = rect.xmin * width, rect.ymin * height
        box = Box.square(x0, y0, x0 + rect.width * width, y0 + rect.height * height)
        detections.append(Detection(box, float(result.score[0])))
    return detections


def _tile_starts(length: int, tile: int) -> list[int]:
    """Tile origins along one axis: stride half a tile, the last tile flush with the end."""
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / (tile / 2)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _tiles(image: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """``(x0, y0, tile)`` for overlapping tiles of side half the image's long edge."""
    height, width = image.shape[:2]
    side = max(height, width) // 2
    return [
        (x0, y0, np.ascontiguousarray(image[y0 : y0 + side, x0 : x0 + side]))
        for y0 in _tile_starts(height, side)
        for x0 in _tile_starts(width, side)
    ]


def _touches_inner_border(box: Box, x0: int, y0: int, width: int, height: int, shape: tuple) -> bool:
    """Whether ``box`` (tile pixels) reaches a border of the tile that is not the image's border."""
    margin = 0.02 * max(width, height)
    image_height, image_width = shape[:2]
    return (
        (x0 > 0 and box.x0 < margin)
        or (y0 > 0 and box.y0 < margin)
        or (x0 + width < image_width and box.x0 + box.size > width - margin)
        or (y0 + height < image_height and box.y0 + box.size > height - margin)
    )


def overlap(a: Box, b: Box) -> float:
    """Intersection area over the smaller box's area, in ``[0, 1]``."""
    width = min(a.x0 + a.size, b.x0 + b.size) - max(a.x0, b.x0)
    height = min(a.y0 + a.size, b.y0 + b.size) - max(a.y0, b.y0)
    if width <= 0 or height <= 0:
        return 0.0
    return width * height / min(a.size, b.size) ** 2


def suppress_overlaps(detections: list[Detection], threshold: float) -> list[Detection]:
    """Greedy non-maximum suppression, best score first; boxes overlapping a kept one are dropped.

    Overlap is measured over the smaller box (:func:`overlap`), so of a face's full box and a
    fragment inside it only the better-scored one is kept, however different their sizes.
    """
    kept: list[Detection] = []
    for detection in sorted(detections, key=lambda d: -d.score):
        if all(overlap(detection.box, other.box) <= threshold for other in kept):
            kept.append(detection)
    return kept
