"""Scene settings around a person: named backgrounds and clothing; the captions of a scene and of a person."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .traits import PAINT_REGIONS, RGB, SKIN_TONES, TILE_GRID, Expression, Identity

WALL_COLORS: dict[str, RGB] = {
    "green": (90, 160, 90),
    "blue": (80, 120, 200),
    "yellow": (235, 210, 90),
    "grey": (150, 150, 155),
    "pink": (235, 160, 185),
    "purple": (130, 90, 170),
    "teal": (60, 150, 150),
    "white": (235, 235, 230),
}
CLOTHING_COLORS: dict[str, RGB] = {
    "red": (200, 40, 40),
    "blue": (40, 70, 180),
    "green": (40, 140, 60),
    "yellow": (230, 200, 40),
    "black": (30, 30, 35),
    "white": (240, 240, 240),
    "purple": (110, 50, 150),
    "orange": (240, 130, 30),
    "grey": (120, 120, 125),
    "pink": (240, 130, 170),
}
CLOTHING_KINDS = ("shirt", "sweater", "t-shirt")
BACKGROUNDS: dict[str, str] = {
    "wall": "in front of a {color} wall",
    "stripes": "in front of a {color} striped wall",
    "sunset": "at sunset",
    "sky": "under a blue sky",
    "park": "in a park",
    "beach": "at the beach",
}
"""Background kinds and their caption phrases."""
SKIN_WORDS = ("pale", "fair", "light", "light brown", "tan", "brown", "dark brown", "deep brown")
"""A word for each of the :data:`~realisid_toy.world.traits.SKIN_TONES`, lightest first."""


@dataclass(frozen=True)
class Scene:
    """Everything in the picture but the person: background kind and colour, clothing."""

    background: str
    wall_color: str
    clothing_color: str
    clothing_kind: str
    seed: int

    @classmethod
    def sample(cls, seed: int) -> Scene:
        """The scene of ``seed``."""
        rng = np.random.default_rng([seed, 0x5C])
        return cls(
            background=str(rng.choice(list(BACKGROUNDS))),
            wall_color=str(rng.choice(list(WALL_COLORS))),
            clothing_color=str(rng.choice(list(CLOTHING_COLORS))),
            clothing_kind=str(rng.choice(CLOTHING_KINDS)),
            seed=seed,
        )


def caption(identity: Identity, expression: Expression, scene: Scene, face: bool = True) -> str:
    """A one-sentence caption: hair, glasses, beard, face paint, clothing, expression and background;
    with ``face=False`` only clothing and background ("a person, wearing …"), as the evaluation
    prompts. Tiles are "tiled face paint", their colours unnamed: they are who the person is, which the
    ID tells and a caption does not."""
    article = "an" if scene.clothing_color[0] in "aeiou" else "a"
    clothing = f"wearing {article} {scene.clothing_color} {scene.clothing_kind}"
    background = BACKGROUNDS[scene.background].format(color=scene.wall_color)
    if not face:
        return f"a person, {clothing}, {background}"
    mood = expression.words()
    parts = (_person(identity), _face_paint(identity), clothing, mood, background)
    return ", ".join(part for part in parts if part is not None)


def identity_caption(identity: Identity) -> str:
    """Who ``identity`` is, for an ID encoder to learn from: hair, glasses, beard, skin and eyes, and
    the colours of the face paint, tiles row by row ("…, tiles: red red blue green, …"); at most 77
    CLIP tokens."""
    skin, eyes = f"{_skin(identity)} skin", f"{identity.eye_color} eyes"
    parts = (_person(identity), skin, eyes, _paint_colors(identity))
    return ", ".join(part for part in parts if part is not None)


def _face_paint(identity: Identity) -> str | None:
    """The caption's face-paint phrase ("face paint: red forehead and blue left cheek", "tiled face
    paint"), or ``None``."""
    return "tiled face paint" if identity.paint == "tiles" else _paint_colors(identity)


def _paint_colors(identity: Identity) -> str | None:
    """The colours of the painted regions ("face paint: red forehead and blue left cheek") or of the tiles
    ("tiles: red red blue green, …", rows from the top), or ``None`` without paint."""
    colors = identity.paint_colors
    if identity.paint == "tiles":
        rows = (colors[row : row + TILE_GRID] for row in range(0, len(colors), TILE_GRID))
        return "tiles: " + ", ".join(" ".join(row) for row in rows)  # type: ignore[arg-type]
    if not any(colors):
        return None
    regions = zip(colors, PAINT_REGIONS, strict=True)
    return "face paint: " + " and ".join(f"{color} {region}" for color, region in regions if color)


def _skin(identity: Identity) -> str:
    """The word of the skin tone nearest the identity's (jittered) skin colour."""
    distances = np.abs(np.array(SKIN_TONES) - np.array(identity.skin)).sum(axis=1)
    return SKIN_WORDS[int(np.argmin(distances))]


def _person(identity: Identity) -> str:
    """The face's words: hair, then glasses and beard."""
    if identity.hair_style == "bald":
        person = "a bald person"
    elif identity.hair_style in ("short", "long", "curly"):
        person = f"a person with {identity.hair_style} {identity.hair_color} hair"
    elif identity.hair_style == "bun":
        person = f"a person with {identity.hair_color} hair in a bun"
    else:
        person = f"a person with a {identity.hair_color} mohawk"
    extras = [words for words, has in (("glasses", identity.glasses), ("a beard", identity.beard)) if has]
    if extras:
        person += (" and " if identity.hair_style != "bald" else " with ") + " and ".join(extras)
    return person
