"""Photos as RGB PIL images: loading from files and arrays, downscaling for detection, square crops."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from ..boxes import Box
from .errors import PhotoError

PhotoSource = str | Path | Image.Image | np.ndarray

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
"""The file endings read as photos where a folder is listed (references, training images)."""

# Transparent pixels become white: the usual background of cut-out portraits.
_BACKGROUND = (255, 255, 255)


def load_photo(source: PhotoSource) -> Image.Image:
    """An RGB image from a file path, a PIL image or an array, with the EXIF orientation applied.

    Arrays are ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``; ``uint8``, ``uint16``
    (full 16-bit range) or float in ``[0, 1]``. Greyscale, palette, CMYK, 16-bit and 32-bit modes are
    converted; transparency is composited onto white. Raises :class:`PhotoError` for anything else.
    """
    if isinstance(source, np.ndarray):
        image = _from_array(source)
    elif isinstance(source, Image.Image):
        image = source
    elif isinstance(source, (str, Path)):
        image = _open(Path(source))
    else:
        raise PhotoError(f"cannot read a photo from a {type(source).__name__}")
    if image.width == 0 or image.height == 0:
        raise PhotoError(f"the photo is empty ({image.width}x{image.height})")
    return _to_rgb(_upright(image))


def _upright(image: Image.Image) -> Image.Image:
    """``image`` turned by its EXIF orientation; the image itself when it needs no turn."""
    if image.getexif().get(ExifTags.Base.Orientation, 1) in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(image)
    return image


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise PhotoError(f"cannot read photo {path}: no such file")
    try:
        image = Image.open(path)
        image.load()
    except Image.DecompressionBombError as error:
        raise PhotoError(f"cannot read photo {path}: {error}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise PhotoError(f"cannot read photo {path}: not an image file ({error})") from None
    return image


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise PhotoError(f"a photo array must be HxW, HxWx3 or HxWx4, got shape {array.shape}")
    if array.dtype == np.uint16:
        array = array / 257.0
    elif np.issubdtype(array.dtype, np.floating):
        array = array * 255.0
    elif array.dtype != np.uint8:
        raise PhotoError(f"a photo array must be uint8, uint16 or float, got {array.dtype}")
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = _from_array(_high_depth_to_unit(np.asarray(image)))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _high_depth_to_unit(array: np.ndarray) -> np.ndarray:
    """Greyscale values of a 16/32-bit or float image as floats in ``[0, 1]``."""
    array = array.astype(np.float64)
    if array.max(initial=0.0) <= 1.0:
        return array
    return array / (65535.0 if array.max() > 255 else 255.0)


def downscale(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """``image`` shrunk so that its long side is at most ``max_side``, and the factor used (≤ 1)."""
    factor = min(1.0, max_side / max(image.size))
    if factor == 1.0:
        return image, 1.0
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BOX), factor  # area average: fast and alias-free


def crop_square(image: Image.Image, box: Box, size: int) -> Image.Image:
    """The ``box`` region of ``image`` resampled to ``size×size``; zeros where the box leaves the image.

    Fractional boxes are honoured; downsampling is antialiased. Inside the image the result equals
    resizing the box region of the image directly (up to rounding).
    """
    # Keep the bicubic kernel's support (2 source pixels per output pixel step) of real neighbours.
    margin = 2 * math.ceil(max(1.0, box.size / size))
    left, top = math.floor(box.x0) - margin, math.floor(box.y0) - margin
    right, bottom = math.ceil(box.x0 + box.size) + margin, math.ceil(box.y0 + box.size) + margin
    region = Image.new(image.mode, (right - left, bottom - top))
    region.paste(image, (-left, -top))
    x0, y0 = box.x0 - left, box.y0 - top
    return region.resize((size, size), Image.Resampling.BICUBIC, box=(x0, y0, x0 + box.size, y0 + box.size))
