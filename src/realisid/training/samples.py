"""One photo → one training sample: the face conditions of ``realisid.faces`` at the training size.

The photo is cut to the largest square that centres the face as well as the borders allow, and
resized to ``resolution``; the face box is mapped with it. Landmarks are normalised to the box, so
they are the same before and after the cut. Face crop, mask and landmarks come from the full-size
photo (the ID encoder sees all the detail there is).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..boxes import Box
from ..errors import RealisIDError, whole_number
from ..faces import FaceConditions, PhotoError, detect_faces, draw_landmarks, face_conditions, load_photo
from .sources import SourceItem


@dataclass(frozen=True)
class PrepareSettings:
    """How photos become samples. Stored with the shards; a resumed run must use the same."""

    resolution: int = 1024
    """Side of the square training image."""
    crop_size: int = 224
    """Side of the masked face crop (the ID encoder's input size)."""
    landmark_size: int = 1024
    """Side of the stored ``c_p&e`` drawing (``8L``: 1024 for SDXL)."""
    min_face: float = 0.05
    """Smallest face kept, as box side over the training image side."""
    dominance: float = 2.0
    """With several faces, the largest is kept only if its box side is at least this many times the
    second largest's (the others are background faces); otherwise the photo is skipped."""

    def __post_init__(self) -> None:
        if whole_number("resolution", self.resolution, 8) % 8:
            raise RealisIDError(f"resolution must be a multiple of 8 (the VAE's factor), got {self.resolution}")
        whole_number("crop_size", self.crop_size, 1)
        whole_number("landmark_size", self.landmark_size, 1)
        if not 0 <= self.min_face <= 1:
            raise RealisIDError(f"min_face is a fraction of the image side, in [0, 1]; got {self.min_face}")
        if not self.dominance >= 1:
            raise RealisIDError(f"dominance is a ratio of box sides, at least 1; got {self.dominance}")


class Skip(Exception):
    """A photo that does not make a sample; ``reason`` is the counter it goes to."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def square_window(width: int, height: int, box: Box) -> tuple[int, int, int]:
    """``(left, top, side)``: the largest square of the photo, centred on the face where possible."""
    side = min(width, height)
    cx, cy = box.center
    left = int(np.clip(round(cx - side / 2), 0, width - side))
    top = int(np.clip(round(cy - side / 2), 0, height - side))
    return left, top, side


def make_sample(key: str, item: SourceItem, settings: PrepareSettings) -> dict[str, bytes]:
    """The webdataset entries of one photo; raises :class:`Skip` with the reason it is not kept."""
    if item.caption is None:
        raise Skip("no_caption")
    try:
        photo = load_photo(item.path)
    except PhotoError:
        raise Skip("unreadable") from None
    faces = detect_faces(photo)
    if not faces:
        raise Skip("no_face")
    if len(faces) > 1 and faces[0].box.size < settings.dominance * faces[1].box.size:
        raise Skip("several_faces")
    face = faces[0]
    left, top, side = square_window(photo.width, photo.height, face.box)
    scale = settings.resolution / side
    box = Box((face.box.x0 - left) * scale, (face.box.y0 - top) * scale, face.box.size * scale)
    if box.size < settings.min_face * settings.resolution:
        raise Skip("face_too_small")
    size = (settings.resolution, settings.resolution)
    image = photo.resize(
        size, Image.Resampling.BICUBIC, box=(left, top, left + side, top + side), reducing_gap=3.0
    )
    conditions = face_conditions(photo, face, crop_size=settings.crop_size)
    meta = {
        "source": str(item.path),
        "original_size": [photo.height, photo.width],
        "crop_top_left": [round(top * scale), round(left * scale)],
        "score": float(face.score),
    }
    return sample_entries(key, image, item.caption, box, conditions, meta, settings)


def sample_entries(
    key: str,
    image: Image.Image,
    caption: str,
    box: Box,
    conditions: FaceConditions,
    meta: dict,
    settings: PrepareSettings,
) -> dict[str, bytes]:
    """The webdataset entries of one training image: the image, caption, metadata (``meta`` plus
    box and landmarks), masked face crop, face mask and ``c_p&e`` drawing (``c_loc`` is the box's,
    computed when training)."""
    meta = {**meta, "box": [float(v) for v in box], "landmarks": conditions.landmarks.tolist()}
    return {
        "__key__": key,
        "jpg": _encode(image, "JPEG", quality=95),
        "txt": caption.encode("utf-8"),
        "json": json.dumps(meta).encode("utf-8"),
        "face.png": _encode(conditions.masked_crop, "PNG"),
        "mask.png": _encode(Image.fromarray(np.rint(conditions.mask * 255).astype(np.uint8)), "PNG"),
        "pe.png": _encode(draw_landmarks(conditions.landmarks, settings.landmark_size), "PNG"),
    }


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()
