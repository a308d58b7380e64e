"""Face detection: the detector protocol and a MediaPipe detector that finds small faces.

Detectors take an RGB ``uint8`` array ``(H, W, 3)`` and return :class:`Detection` s in its pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, Protocol

import numpy as np
from mediapipe.python.solutions import face_detection as mp_face_detection
from PIL import Image

from ..boxes import Box
from .photo import crop_square


class Detection(NamedTuple):
    """A square face box in the detector's input pixels and the detector's confidence in ``[0, 1]``."""

    box: Box
    score: float


class FaceDetector(Protocol):
    """Anything that finds faces in an RGB ``uint8`` array ``(H, W, 3)`` (e.g. an MTCNN wrapper)."""

    def __call__(self, image: np.ndarray) -> list[Detection]: ...


class MediaPipeDetector:
    """MediaPipe's short-range face detector run on a pyramid of overlapping square tiles.

    The short-range model finds faces of about 1/2 to 1/5 of its input's side (it misses smaller
    ones, whatever their size in pixels), so each level cuts the image into square tiles of side
    ``tiles[k]`` times its long edge (stride 2/3 of a tile, so that any face up to 1/3 of a tile is
    whole in one) and runs the model on each; the levels' tile sides shrink by about 0.55, so every
    face from the whole image down to about 1/5 of the smallest tile falls in the model's range at
    one level. Each level is first shrunk so that its tiles are at most ``tile_pixels`` wide (the model
    sees 128 px). A box touching a tile border inside the image is dropped: it is a cut face, and the
    overlap puts that face whole in another tile. ``full_range`` adds MediaPipe's full-range model
    on the whole image. ``proposals`` (e.g. :class:`~realisid.faces.cascade.HaarCascade`) gives
    boxes that no tile's face covers a second look: the short-range model on a crop centred on the
    box, ``look_context`` times its size. Faces scoring under ``min_score`` are dropped. Boxes of all
    passes are merged by non-maximum suppression.

    Cost grows with the tile count: 1, 9, 25 and 64 for the default levels on a square photo, 99
    model runs of about 2 ms each on one core; Haar proposals add 60-600 ms on a 1024² photo (the
    more texture, the more) and 2 ms per look. The detectors are not thread-safe; use one instance
    per thread.
    """

    TILES = (1.0, 0.55, 0.3, 0.18)
    """Default tile sides over the long edge: faces from the whole image down to about 1/28 of it."""

    def __init__(
        self,
        min_score: float = 0.5,
        tiles: tuple[float, ...] = TILES,
        full_range: bool = False,
        overlap_threshold: float = 0.3,
        tile_pixels: int = 256,
        proposals: Callable[[np.ndarray], list[Box]] | None = None,
        look_context: float = 2.5,
    ):
        if not tiles or not all(0 < fraction <= 1 for fraction in tiles):
            raise ValueError(f"tiles must be tile sides in (0, 1] of the long edge, got {tiles}")
        self.min_score = min_score
        self.tiles = tuple(tiles)
        self.full_range = full_range
        self.overlap_threshold = overlap_threshold
        self.tile_pixels = tile_pixels
        self.proposals = proposals
        self.look_context = look_context
        self._short_range = mp_face_detection.FaceDetection(model_selection=0)
        self._full_range = mp_face_detection.FaceDetection(model_selection=1)

    def __call__(self, image: np.ndarray) -> list[Detection]:
        image = np.ascontiguousarray(image)
        found = []
        for fraction in self.tiles:
            found += self._level(image, fraction)
        if self.full_range:
            found += self._run(self._full_range, image)
        if self.proposals is not None:
            found += self._second_looks(image, found)
        return suppress_overlaps(found, self.overlap_threshold)

    def _second_looks(self, image: np.ndarray, found: list[Detection]) -> list[Detection]:
        """The short-range model on a crop centred on each proposal that no found box covers.

        The crop is the proposal enlarged ``look_context`` times, where the model finds nearly every
        face; the tiles of the pyramid see some faces only off-centre or at the edge of their range.
        """
        looks, photo = [], Image.fromarray(image)
        for proposal in self.proposals(image):
            if any(overlap(proposal, detection.box) > self.overlap_threshold for detection in found):
                continue
            region = proposal.expanded(self.look_context)
            crop = np.asarray(crop_square(photo, region, LOOK_PIXELS))
            for detection in self._run(self._short_range, crop):
                box = detection.box.scaled(region.size / LOOK_PIXELS)
                box = Box(box.x0 + region.x0, box.y0 + region.y0, box.size)
                if overlap(box, proposal) > 0.5:
                    looks.append(Detection(box, detection.score))
        return looks

    def _level(self, image: np.ndarray, fraction: float) -> list[Detection]:
        """The short-range model on every tile of side ``fraction`` of the long edge, boxes in image pixels."""
        height, width = image.shape[:2]
        side = max(1, round(fraction * max(height, width)))
        factor = min(1.0, self.tile_pixels / side)
        if factor < 1.0:
            size = (max(1, round(width * factor)), max(1, round(height * factor)))
            image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))
            side = max(1, round(side * factor))
        found = []
        for x0, y0, tile in _tiles(image, side):
            tile_height, tile_width = tile.shape[:2]
            for detection in self._run(self._short_range, tile):
                box = detection.box
                if _touches_inner_border(box, x0, y0, tile_width, tile_height, image.shape):
                    continue
                box = Box(box.x0 + x0, box.y0 + y0, box.size).scaled(1 / factor)
                found.append(Detection(box, detection.score))
        return found

    def _run(self, model: mp_face_detection.FaceDetection, image: np.ndarray) -> list[Detection]:
        """``model``'s faces in ``image`` scoring at least ``min_score``, boxes in its pixels.

        MediaPipe 0.10.21's graphs ignore their ``min_detection_confidence`` and keep scores from 0.5.
        """
        height, width = image.shape[:2]
        detections = []
        for result in model.process(image).detections or ():
            rect = result.location_data.relative_bounding_box
            x0, y0 = rect.xmin * width, rect.ymin * height
            box = Box.square(x0, y0, x0 + rect.width * width, y0 + rect.height * height)
            if result.score[0] >= self.min_score:
                detections.append(Detection(box, float(result.score[0])))
        return detections

    def close(self) -> None:
        self._short_range.close()
        self._full_range.close()


LOOK_PIXELS = 128
"""Side of a second look's crop: the short-range model's input size."""


def _tile_starts(length: int, tile: int) -> list[int]:
    """Tile origins along one axis: stride at most 2/3 of a tile, the last tile flush with the end."""
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / (2 * tile / 3)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _tiles(image: np.ndarray, side: int) -> list[tuple[int, int, np.ndarray]]:
    """``(x0, y0, tile)`` for the overlapping square tiles of ``side`` pixels that cover ``image``."""
    height, width = image.shape[:2]
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
    return a.intersection(b) / min(a.size, b.size) ** 2


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
