"""Real photos that ship inside installed packages, and compositions of them, for tests and benchmarks.

No photo is stored in this repository. ``astronaut`` (public domain, NASA) and ``cameraman`` (CC0)
come from scikit-image, ``grace_hopper`` from matplotlib's sample data (public domain, US Navy), and
``lfw_faces`` from scikit-image's subset of Labeled Faces in the Wild (news photos, no licence stated;
read at run time, never stored). Compositions paste a photo so that its face lands on a chosen box of
a larger canvas, which gives photos with small faces and group photos whose true face boxes are known.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..boxes import Box
from .detection import FaceDetector
from .face import detect_faces
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


def lfw_faces() -> list[Image.Image]:
    """The 100 faces of scikit-image's LFW subset: 25×25 greyscale crops (as RGB) of news photos, one
    face each, framed brows to chin: expressions, turned heads, glasses, beards, hats, dark and light
    skin."""
    from skimage import data

    crops = np.rint(data.lfw_subset()[:100] * 255).astype(np.uint8)
    return [Image.fromarray(crop).convert("RGB") for crop in crops]


def lfw_non_faces() -> Image.Image:
    """The 100 face-free 25×25 crops of the LFW subset (backgrounds of the same news photos), tiled
    10×10 into one 250×250 RGB image."""
    from skimage import data

    crops = np.rint(data.lfw_subset()[100:] * 255).astype(np.uint8)
    return Image.fromarray(crops.reshape(10, 10, 25, 25).transpose(0, 2, 1, 3).reshape(250, 250)).convert(
        "RGB"
    )


def backdrop(kind: str, size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A face-free canvas of ``size`` (w, h): ``"flat"`` light grey, ``"noise"`` (seeded Gaussian
    noise, σ 40 about mid-grey) or ``"scene"`` (:func:`background`)."""
    if kind == "flat":
        return Image.new("RGB", size, (205, 200, 195))
    if kind == "noise":
        noise = np.random.default_rng(seed).normal(128, 40, (size[1], size[0], 3))
        return Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))
    if kind == "scene":
        return background(size)
    raise ValueError(f"backdrop kind must be flat, noise or scene, got {kind!r}")


POSITIONS = {
    "centre": (0.5, 0.5),
    "left edge": (0.0, 0.4),
    "top-right corner": (1.0, 0.0),
    "bottom edge": (0.3, 1.0),
}
"""Where :func:`composed` puts a face: its box's place between the canvas borders (0: at the
left/top border, 1: at the right/bottom border, less a 1 % margin)."""


def reference_box(photo: Image.Image, detector: FaceDetector, margin: float = 0.0) -> Box | None:
    """The largest face box ``detector`` finds in ``photo``, in its pixels, or ``None``.

    The photo is framed in grey, ``margin`` times its long side on every side, and enlarged to at
    least 400 px: a tight 25 px face crop is found as a face of half the image, as detectors expect.
    """
    border = round(margin * max(photo.size))
    framed = Image.new("RGB", (photo.width + 2 * border, photo.height + 2 * border), (128, 128, 128))
    framed.paste(photo, (border, border))
    zoom = max(1.0, 400 / max(framed.size))
    framed = framed.resize(
        (round(framed.width * zoom), round(framed.height * zoom)), Image.Resampling.BICUBIC
    )
    faces = detect_faces(framed, detector)
    if not faces:
        return None
    box = faces[0].box
    return Box(box.x0 / zoom - border, box.y0 / zoom - border, box.size / zoom)


def composed(
    photo: Image.Image,
    face: Box,
    relative_size: float,
    backdrop_kind: str,
    position: str,
    canvas_size: tuple[int, int] = (1024, 1024),
) -> tuple[Image.Image, Box]:
    """``photo`` pasted whole on a :func:`backdrop` so that its face is ``relative_size`` of the long
    edge at one of the :data:`POSITIONS`; returns the canvas and the face's true box there."""
    width, height = canvas_size
    side = relative_size * max(canvas_size)
    fx, fy = POSITIONS[position]
    margin = 0.01 * max(canvas_size)
    target = Box(margin + fx * (width - 2 * margin - side), margin + fy * (height - 2 * margin - side), side)
    canvas = backdrop(backdrop_kind, canvas_size)
    paste_photo(canvas, photo, face, target)
    return canvas, target


def paste_photo(canvas: Image.Image, photo: Image.Image, face: Box, target: Box) -> None:
    """Paste all of ``photo`` into ``canvas``, scaled and placed so that ``face`` lands on ``target``
    (canvas pixels); what falls outside the canvas is cut off."""
    scale = target.size / face.size
    left, top = target.x0 - face.x0 * scale, target.y0 - face.y0 * scale
    # Only the part that lands on the canvas is resampled (a 1/4 face may scale a photo 5× past it).
    visible = (
        max(0, math.ceil(left)),
        max(0, math.ceil(top)),
        min(canvas.width, math.floor(left + photo.width * scale)),
        min(canvas.height, math.floor(top + photo.height * scale)),
    )
    if visible[0] >= visible[2] or visible[1] >= visible[3]:
        return
    source = ((visible[0] - left) / scale, (visible[1] - top) / scale)
    source += ((visible[2] - left) / scale, (visible[3] - top) / scale)
    size = (visible[2] - visible[0], visible[3] - visible[1])
    part = photo.resize(size, Image.Resampling.BICUBIC, box=source)
    canvas.paste(part, visible[:2])


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


def pair_photo() -> tuple[Image.Image, list[Box]]:
    """The astronaut and, smaller, Grace Hopper on a 640×400 background; returns the canvas and the
    true face boxes, largest first."""
    canvas = background((640, 400))
    targets = [Box(60, 100, 150), Box(420, 140, 90)]
    paste_face(canvas, astronaut(), ASTRONAUT_FACE, targets[0])
    paste_face(canvas, grace_hopper(), GRACE_HOPPER_FACE, targets[1])
    return canvas, targets
