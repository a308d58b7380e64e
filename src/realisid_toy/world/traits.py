"""Who a synthetic person is (:class:`Identity`) and what they are doing (:class:`Pose`, :class:`Expression`).

An identity is a vector of face traits sampled from a seed. Geometric traits are multipliers or
offsets around an average face (1.0 / 0.0 = average); colours are RGB with a name for captions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from realisid.errors import RealisIDError

RGB = tuple[int, int, int]
Paint = Literal["none", "regions", "tiles"]
"""What every person of a world wears on the face: nothing, paint in some of the four
:data:`PAINT_REGIONS`, or a grid of :data:`TILE_COLORS` tiles (detail finer than a latent cell)."""
PAINTS: tuple[Paint, ...] = get_args(Paint)

SKIN_TONES: tuple[RGB, ...] = (
    (247, 219, 196),
    (236, 196, 164),
    (224, 172, 135),
    (198, 145, 106),
    (170, 118, 82),
    (141, 94, 62),
    (111, 73, 48),
    (86, 57, 40),
)
EYE_COLORS: dict[str, RGB] = {
    "brown": (99, 62, 32),
    "dark brown": (55, 35, 20),
    "blue": (60, 120, 200),
    "green": (70, 140, 80),
    "grey": (120, 130, 140),
    "hazel": (140, 110, 50),
}
HAIR_COLORS: dict[str, RGB] = {
    "black": (28, 24, 22),
    "dark brown": (66, 42, 28),
    "brown": (112, 72, 40),
    "blonde": (222, 190, 110),
    "red": (170, 70, 30),
    "grey": (150, 150, 150),
    "white": (235, 235, 230),
    "blue": (40, 90, 200),
    "pink": (230, 110, 170),
}
HAIR_STYLES = ("bald", "short", "long", "curly", "bun", "mohawk")
GLASSES_COLORS: dict[str, RGB] = {"black": (20, 20, 20), "gold": (200, 160, 60), "red": (190, 30, 40)}
LIP_TINTS: tuple[RGB, ...] = ((190, 90, 90), (160, 80, 80), (200, 70, 90), (140, 70, 60))
PAINT_COLORS: dict[str, RGB] = {
    "red": (215, 40, 40),
    "blue": (40, 80, 220),
    "green": (40, 170, 70),
    "yellow": (240, 210, 40),
    "white": (245, 245, 245),
    "black": (25, 25, 25),
}
PAINT_REGIONS = ("forehead", "right cheek", "left cheek", "chin")
"""Where face paint goes (the person's right and left, as MediaPipe's parts are named)."""
TILE_COLORS = ("red", "blue", "green", "yellow")
"""The :data:`PAINT_COLORS` a tile takes: well apart from each other and from every skin tone (with
white and black too, the metric's held-out verification drops from 0.975 to 0.969; three hold less)."""
TILE_GRID = 4
"""Tiles per row and per column."""


@dataclass(frozen=True)
class Identity:
    """The face traits of one synthetic person; two identities differ in most of them."""

    face_width: float  # cheek-to-cheek width
    jaw: float  # 0 = pointed chin, 1 = square jaw
    chin_length: float
    skin: RGB
    eye_color: str
    eye_spacing: float
    eye_size: float
    eye_height: float  # offset, box units
    nose_length: float
    nose_width: float
    mouth_width: float
    lip_thickness: float
    lip_tint: RGB
    brow_thickness: float
    brow_arch: float  # 0 = straight, 1 = high arch
    brow_tilt: float  # >0 outer ends raised
    brow_color: RGB
    hair_style: str
    hair_color: str
    hair_volume: float
    glasses: str | None  # frame colour name or None
    beard: bool
    ear_size: float
    paint: Paint = "none"
    paint_colors: tuple[str | None, ...] = ()
    """A :data:`PAINT_COLORS` name or ``None`` (bare) per :data:`PAINT_REGIONS`, or a name per tile,
    row by row from the top, each row from the person's right (the image's left in a frontal view)."""

    @classmethod
    def sample(cls, seed: int, paint: Paint = "none") -> Identity:
        """The identity of ``seed``; the same seed always gives the same person (the same one with
        ``paint`` added)."""
        return sample_identity(np.random.default_rng([seed, 0x1D]), paint)


def _jitter(rng: np.random.Generator, color: RGB, amount: int) -> RGB:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)  # type: ignore[return-value]


def sample_identity(rng: np.random.Generator, paint: Paint = "none") -> Identity:
    """A random identity drawn with ``rng``, wearing ``paint``: with ``"regions"``, each of the
    :data:`PAINT_REGIONS` is painted (three times in four) in one of the :data:`PAINT_COLORS`, large
    blocks of colour that tell people apart even where a face is a few pixels wide; with ``"tiles"``,
    each tile of the grid takes one of the :data:`TILE_COLORS`."""
    if paint not in PAINTS:
        raise RealisIDError(f"face paint is one of {', '.join(PAINTS)}; got {paint!r}")
    skin = _jitter(rng, SKIN_TONES[rng.integers(len(SKIN_TONES))], 8)
    hair_color = str(rng.choice(list(HAIR_COLORS), p=[0.22, 0.2, 0.16, 0.14, 0.09, 0.07, 0.04, 0.04, 0.04]))
    hair_style = str(rng.choice(HAIR_STYLES, p=[0.1, 0.32, 0.26, 0.14, 0.1, 0.08]))
    brow_base = (
        HAIR_COLORS[hair_color] if hair_color in ("black", "dark brown", "brown", "red") else (60, 45, 35)
    )
    return Identity(
        face_width=float(rng.uniform(0.84, 1.06)),
        jaw=float(rng.uniform(0.0, 1.0)),
        chin_length=float(rng.uniform(0.92, 1.06)),
        skin=skin,
        eye_color=str(rng.choice(list(EYE_COLORS))),
        eye_spacing=float(rng.uniform(0.85, 1.15)),
        eye_size=float(rng.uniform(0.8, 1.25)),
        eye_height=float(rng.uniform(-0.03, 0.03)),
        nose_length=float(rng.uniform(0.8, 1.2)),
        nose_width=float(rng.uniform(0.75, 1.3)),
        mouth_width=float(rng.uniform(0.8, 1.2)),
        lip_thickness=float(rng.uniform(0.6, 1.5)),
        lip_tint=_jitter(rng, LIP_TINTS[rng.integers(len(LIP_TINTS))], 10),
        brow_thickness=float(rng.uniform(0.6, 1.8)),
        brow_arch=float(rng.uniform(0.0, 1.0)),
        brow_tilt=float(rng.uniform(-0.03, 0.03)),
        brow_color=_jitter(rng, brow_base, 10),
        hair_style=hair_style,
        hair_color=hair_color,
        hair_volume=float(rng.uniform(0.9, 1.15)),
        glasses=str(rng.choice(list(GLASSES_COLORS))) if rng.random() < 0.25 else None,
        beard=bool(rng.random() < 0.2),
        ear_size=float(rng.uniform(0.8, 1.2)),
        paint=paint,
        paint_colors=_sample_paint_colors(rng, paint),
    )


def _sample_paint_colors(rng: np.random.Generator, paint: Paint) -> tuple[str | None, ...]:
    if paint == "regions":
        colors = list(PAINT_COLORS)
        return tuple(str(rng.choice(colors)) if rng.random() < 0.75 else None for _ in PAINT_REGIONS)
    if paint == "tiles":
        return tuple(str(color) for color in rng.choice(TILE_COLORS, TILE_GRID**2))
    return ()


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees, signs as :mod:`realisid.faces.pose` (positive yaw: nose to image right)."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0


@dataclass(frozen=True)
class Expression:
    """Expression strengths in ``[0, 1]``."""

    smile: float = 0.0
    mouth_open: float = 0.0
    eyes_closed: float = 0.0
    brow_raise: float = 0.0

    def words(self) -> str | None:
        """A caption phrase for the dominant expression, or ``None`` for a neutral face."""
        if self.eyes_closed > 0.7:
            return "with eyes closed"
        if self.mouth_open > 0.5:
            return "laughing" if self.smile > 0.5 else "with mouth open"
        if self.smile > 0.5:
            return "smiling"
        if self.brow_raise > 0.6:
            return "looking surprised"
        return None


FRONTAL = Pose()
NEUTRAL = Expression()


def sample_pose(rng: np.random.Generator, max_yaw: float = 35.0) -> Pose:
    """A random head pose within the range the renderer draws well."""
    return Pose(
        float(rng.uniform(-max_yaw, max_yaw)), float(rng.uniform(-15, 15)), float(rng.uniform(-15, 15))
    )


def sample_expression(rng: np.random.Generator) -> Expression:
    """A random expression: neutral about a third of the time."""
    if rng.random() < 0.3:
        return Expression()
    return Expression(
        smile=float(rng.uniform(0, 1)),
        mouth_open=float(rng.uniform(0, 1)) if rng.random() < 0.4 else 0.0,
        eyes_closed=1.0 if rng.random() < 0.1 else float(rng.uniform(0, 0.3)),
        brow_raise=float(rng.uniform(0, 1)) if rng.random() < 0.4 else 0.0,
    )
