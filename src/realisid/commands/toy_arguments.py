"""Argument types shared by the toy-world commands (``toy-reproduce``, ``toy-study``, ``toy-check``)."""

from __future__ import annotations

import argparse
import math
from fractions import Fraction
from pathlib import Path


def face_sizes(text: str) -> tuple[float, float]:
    """``MIN,MAX`` with ``0 < MIN <= MAX <= 1``."""
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"face sizes are MIN,MAX (two numbers), got {text!r}") from None
    if not 0 < low <= high <= 1:
        raise argparse.ArgumentTypeError(f"face sizes need 0 < MIN <= MAX <= 1, got {text!r}")
    return low, high


def relative_sizes(text: str) -> tuple[float, ...]:
    """Comma-separated relative face sizes as fractions or decimals (``1/4,1/7``), each in (0, 1]."""
    try:
        sizes = tuple(float(Fraction(part)) for part in text.split(","))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"relative sizes are fractions like 1/4,1/7, got {text!r}") from None
    if not all(0 < size <= 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"relative sizes lie in (0, 1], got {text!r}")
    return sizes


def image_size(text: str) -> int:
    """A positive multiple of 32: the toy VAE's 8× and the U-Net's 4× down-sampling divide it."""
    if not text.isdigit() or int(text) == 0 or int(text) % 32:
        raise argparse.ArgumentTypeError(f"the image size is a positive multiple of 32 (pixels), got {text!r}")
    return int(text)


def positive_int(text: str) -> int:
    """A whole number above 0 (a count, a number of steps or threads)."""
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text!r}")
    return int(text)


def positive_float(text: str) -> float:
    """A finite number above 0 (a learning rate)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def stage_names(text: str) -> tuple[str, ...]:
    """Comma-separated stage names; the run refuses the ones it does not have."""
    return tuple(name.strip() for name in text.split(","))


def sheet_path(text: str) -> Path:
    """A picture file to write: a PNG, JPEG or WebP name."""
    path = Path(text)
    if path.suffix.lower() not in {".png", ".jpg", ".jpeg", ".webp"}:
        raise argparse.ArgumentTypeError(f"the sheet is a .png, .jpg or .webp file, got {text!r}")
    return path


def add_paint_arguments(parser: argparse.ArgumentParser, note: str = "", default: str | None = "none"):
    """``--face-paint`` or ``--face-tiles`` (one at most) into ``args.paint``: ``regions`` or ``tiles``
    (:data:`realisid_toy.world.traits.Paint`), else ``default``; ``note`` ends both helps."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--face-paint", dest="paint", action="store_const", const="regions", default=default,
                       help="a world where every person wears face paint: identities that differ in large "
                            f"blocks of colour{note}")
    group.add_argument("--face-tiles", dest="paint", action="store_const", const="tiles",
                       help="a world where every person wears a 4x4 grid of paint tiles on the face: "
                            f"identities that differ in detail finer than a latent cell{note}")


def base_folder(text: str) -> Path:
    """A trained base: a folder holding a diffusers ``model_index.json``."""
    if not (Path(text) / "model_index.json").is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not a trained base folder (no model_index.json in it)")
    return Path(text)


def ship_target(text: str) -> Path:
    """A folder (resolved) that is new, empty or toy weights, or ``package``: the toy package's own weights
    folder (the weights it ships); checked before any stage runs, as the ship stage comes last."""
    from realisid.errors import RealisIDError
    from realisid_toy.shipped import WEIGHTS, shipping_folder

    try:
        return shipping_folder(WEIGHTS if text == "package" else text)
    except RealisIDError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
