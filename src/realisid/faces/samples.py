"""Real photos that ship inside installed packages, and compositions of them, for tests and benchmarks.

No photo is stored in this repository. ``astronaut`` and ``cameraman`` come from scikit-image
(public domain), ``grace_hopper`` from matplotlib's sample data (public domain). Compositions paste
a head-and-shoulders cut of a photo so that its face lands on a chosen box of a larger canvas, which
gives photos with small faces and group photos whose true face boxes are known.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from ..boxes import Box
from .photo import crop_square

# Face boxes of the sample photos, checked by eye: brows to chin, cheek to cheek.
ASTRONAUT_FACE = Box(178, 83, 95)
GRACE_HOPPER_FACE = Box(171, 147, 195)
CAMERAMAN_FACE = Box(200, 123, 76)


def astronaut() -> Image.Image:
    """Eileen Collins, 512×512 (scikit-image; needs the ``test`` extra)."""
    from skimage import data

    return Image.fromarray(data.astronaut())


def cameraman() -> Image.Image:
    """The cameraman, 512×512 greyscale as RGB (scikit-image)."""
    from skimage import data

    return Image.fromarray(data.camera()).convert("RGB")


def grace_hopper() -> Image.Image:
    """Grace Hopper, 512×600 (matplotlib, installed with MediaPipe)."""
    import matplotlib

    return Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")


def background(size: tuple[int, int]) -> Image.Image:
    """A faceless real photo (scikit-image's rocket launch) stretched to ``size`` (w, h)."""
    from skimage import data

    return Image.fromarray(data.rocket()).resize(size, Image.Resampling.BICUBIC)


def paste_face(canvas: Image.Image, photo: Image.Image, face: Box, target: Box, context: float = 2.0) -> None:
    """Paste into ``canvas`` the square cut ``context`` times ``face`` (about its centre) of ``photo``,
    scaled and placed so that ``face`` lands exactly on ``target`` (canvas pixels)."""
    cut = face.expanded(context)
    side = round(context * target.size)
    tcx, tcy = target.center
    canvas.paste(crop_square(photo, cut, side), (round(tcx - side / 2), round(tcy - side / 2)))


def place_face(
    photo: Image.Image,
    face: Box,
    relative_size: float,
    canvas_size: tuple[int, int] = (1024, 1024),
    centre: tuple[float, float] = (0.6, 0.4),
) -> tuple[Image.Image, Box]:
    """``photo``'s face pasted on a background canvas at ``relative_size`` of its long edge, centred
    at ``centre`` (fractions of width, height); returns the canvas and the face's true box there."""
    canvas = background(canvas_size)
    target = Box.from_relative(*centre, relative_size, *canvas_size)
    paste_face(canvas, photo, face, target)
    return canvas, target


def mirrored(photo: Image.Image, face: Box) -> tuple[Image.Image, Box]:
    """``photo`` flipped left-right and its face box flipped with it."""
    return ImageOps.mirror(photo), Box(photo.width - face.x0 - face.size, face.y0, face.size)


def group_photo() -> tuple[Image.Image, list[Box]]:
    """Four faces of three people on a 1600×1000 background, at relative sizes 0.19 to 0.06; returns
    the canvas and the true face boxes, largest first."""
    canvas = background((1600, 1000))
    people = [
        (astronaut(), ASTRONAUT_FACE, Box(150, 250, 300)),
        (grace_hopper(), GRACE_HOPPER_FACE, Box(600, 300, 220)),
        (cameraman(), CAMERAMAN_FACE, Box(1000, 350, 160)),
        (*mirrored(astronaut(), ASTRONAUT_FACE), Box(1350, 450, 100)),
    ]
    for photo, face, target in people:
        paste_face(canvas, photo, face, target)
    return canvas, [target for *_, target in people]
