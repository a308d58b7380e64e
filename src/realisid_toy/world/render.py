"""Drawing a synthetic person in a scene: background, body and the posed head, with exact conditions.

Everything is drawn with PIL on a canvas ``supersample`` times larger and box-filtered down, which
antialiases edges. Face parts are filled from the same landmarks that are returned, so the drawn
eyes, nose, lips, brows and face outline lie exactly on their landmark contours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from realisid.boxes import Box
from realisid.faces.topology import FACE_OVAL, PARTS

from .head import HeadGeometry, build_head
from .scenes import CLOTHING_COLORS, WALL_COLORS, Scene, caption
from .traits import (
    EYE_COLORS,
    FRONTAL,
    GLASSES_COLORS,
    HAIR_COLORS,
    NEUTRAL,
    PAINT_COLORS,
    RGB,
    Expression,
    Identity,
    Pose,
)

Points = np.ndarray

_NOSE_OUTLINE = [64, 48, 115, 220, 45, 4, 275, 440, 344, 278, 294, 327, 326, 2, 97, 98]
_NOSTRILS = ((98, 97), (327, 326))
_NOSE_BRIDGE = [168, 6, 197, 195, 5, 4]


@dataclass(frozen=True)
class Rendering:
    """A rendered scene and its exact conditions.

    * ``image``: RGB, ``size×size``; ``box``: the square face box in its pixels.
    * ``landmarks``: ``(478, 3)`` ``float32`` in MediaPipe face-mesh layout normalised to ``box``, as
      :mod:`realisid.faces` returns them (see :mod:`realisid_toy.world.mesh` for which are exact).
    * ``face_mask``: ``(size, size)`` ``float32`` in ``[0, 1]``: the face-oval region in image pixels.
    * ``caption``: a sentence describing the person and the scene (what the base model learns from);
      :attr:`scene_caption` leaves the face out.
    """

    image: Image.Image
    box: Box
    landmarks: np.ndarray
    face_mask: np.ndarray
    caption: str
    identity: Identity
    pose: Pose
    expression: Expression
    scene: Scene

    @property
    def scene_caption(self) -> str:
        """The caption without the face's traits and expression ("a person, wearing …, <background>")."""
        return caption(self.identity, self.expression, self.scene, face=False)


def _shade(color: RGB, factor: float) -> RGB:
    return tuple(int(min(255, c * factor)) for c in color)  # type: ignore[return-value]


def _gradient(top: RGB, bottom: RGB, height: int, width: int) -> np.ndarray:
    t = np.linspace(0, 1, height)[:, None, None]
    column = (1 - t) * np.array(top) + t * np.array(bottom)
    return np.broadcast_to(column, (height, width, 3))


def _background(scene: Scene, size: int) -> Image.Image:
    rng = np.random.default_rng([scene.seed, 1])
    wall = WALL_COLORS[scene.wall_color]
    kind = scene.background
    if kind == "wall":
        pixels = _gradient(_shade(wall, 1.08), _shade(wall, 0.85), size, size)
    elif kind == "stripes":
        period = int(size * rng.uniform(0.06, 0.15))
        stripes = (np.arange(size) // period) % 2 == 0
        pixels = np.where(stripes[None, :, None], np.array(wall), np.array(_shade(wall, 0.75)))
        pixels = np.broadcast_to(pixels, (size, size, 3))
    elif kind == "sunset":
        pixels = _gradient((80, 50, 130), (250, 150, 70), size, size)
    else:  # sky, park, beach share the sky
        pixels = _gradient((70, 130, 220), (190, 220, 245), size, size).copy()
        horizon = int(size * rng.uniform(0.45, 0.65))
        if kind == "park":
            pixels[horizon:] = _gradient((90, 170, 70), (50, 120, 40), size - horizon, size)
        elif kind == "beach":
            sea = horizon + int(0.12 * size)
            pixels[horizon:sea] = (40, 100, 180)
            pixels[sea:] = (230, 210, 160)
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    draw = ImageDraw.Draw(image)
    if kind == "sky":
        for _ in range(3):
            x, y, r = rng.uniform(0, size), rng.uniform(0, 0.4 * size), rng.uniform(0.05, 0.12) * size
            draw.ellipse((x - 2 * r, y - r, x + 2 * r, y + r), fill=(250, 250, 250))
    if kind == "park":
        x, top = rng.uniform(0, size), horizon - 0.3 * size
        draw.rectangle((x - 0.03 * size, top, x + 0.03 * size, horizon + 0.05 * size), fill=(100, 70, 40))
        draw.ellipse(
            (x - 0.15 * size, top - 0.15 * size, x + 0.15 * size, top + 0.12 * size), fill=(40, 110, 50)
        )
    return image


class _Painter:
    """Draws box-unit geometry onto a supersampled canvas."""

    def __init__(self, canvas: Image.Image, box: Box, supersample: int):
        self.canvas = canvas
        self.draw = ImageDraw.Draw(canvas)
        self.origin = np.array([box.x0, box.y0]) * supersample
        self.scale = box.size * supersample
        self.line = max(1, round(0.012 * self.scale))

    def px(self, points: Points) -> list[tuple[float, float]]:
        return [tuple(p) for p in (np.asarray(points)[:, :2] * self.scale + self.origin)]

    def polygon(self, points: Points, fill: RGB, outline: RGB | None = None) -> None:
        self.draw.polygon(self.px(points), fill=fill)
        if outline is not None:
            self.closed_line(points, outline)

    def closed_line(self, points: Points, fill: RGB, width: int | None = None) -> None:
        self.draw.line(
            self.px(np.concatenate([points, points[:1]])), fill=fill, width=width or self.line, joint="curve"
        )

    def eye(self, lids: Points, iris: Points, iris_color: RGB, lash: RGB) -> None:
        """Eye white, then the iris and pupil clipped to the lids, then the lash line."""
        corners = np.array(self.px(lids))
        x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 1
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
        patch = Image.new("RGB", (x1 - x0, y1 - y0), (245, 245, 240))
        mask = Image.new("L", patch.size, 0)
        shift = np.array([x0, y0])
        ImageDraw.Draw(mask).polygon([tuple(p) for p in corners - shift], fill=255)
        centre, right, top = np.array(self.px(iris[[0, 1, 2]])) - shift
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)[:, None]
        iris_ring = centre + np.cos(t) * (right - centre) + np.sin(t) * (top - centre)
        pupil_ring = centre + 0.45 * (iris_ring - centre)
        patch_draw = ImageDraw.Draw(patch)
        patch_draw.polygon([tuple(p) for p in iris_ring], fill=iris_color)
        patch_draw.polygon([tuple(p) for p in pupil_ring], fill=(15, 15, 15))
        self.canvas.paste(patch, (int(x0), int(y0)), mask)
        self.closed_line(lids, lash)


def _draw_body(paint: _Painter, identity: Identity, scene: Scene) -> None:
    skin, cloth = identity.skin, CLOTHING_COLORS[scene.clothing_color]
    paint.polygon(np.array([[0.33, 0.7], [0.67, 0.7], [0.7, 1.3], [0.3, 1.3]]), _shade(skin, 0.8))
    t = np.linspace(np.pi, 2 * np.pi, 24)
    shoulders = np.stack([0.5 + 1.05 * np.cos(t), 2.15 + 0.95 * np.sin(t)], axis=1)
    paint.polygon(np.concatenate([shoulders, [[1.55, 40.0], [-0.55, 40.0]]]), cloth)
    if scene.clothing_kind == "t-shirt":
        t = np.linspace(0, np.pi, 12)
        paint.polygon(np.stack([0.5 + 0.2 * np.cos(t), 1.22 + 0.1 * np.sin(t)], axis=1), _shade(skin, 0.8))
    elif scene.clothing_kind == "shirt":
        paint.polygon(np.array([[0.34, 1.2], [0.66, 1.2], [0.5, 1.55]]), _shade(skin, 0.8))
        collar = _shade(cloth, 0.7)
        paint.polygon(np.array([[0.3, 1.2], [0.45, 1.24], [0.4, 1.36]]), collar)
        paint.polygon(np.array([[0.7, 1.2], [0.55, 1.24], [0.6, 1.36]]), collar)


def _draw_head(paint: _Painter, head: HeadGeometry, identity: Identity, expression: Expression) -> None:
    lm = head.landmarks
    skin, hair = identity.skin, HAIR_COLORS[identity.hair_color]
    if head.hair is not None and identity.hair_style == "long":
        lowest = head.hair[:, 1].max()
        paint.polygon(
            np.array(
                [
                    [head.hair[:, 0].min(), 0.45],
                    [head.hair[:, 0].max(), 0.45],
                    [head.hair[:, 0].max() + 0.05, lowest + 0.35],
                    [head.hair[:, 0].min() - 0.05, lowest + 0.35],
                ]
            ),
            hair,
        )
    for ear in head.ears:
        paint.polygon(ear, _shade(skin, 0.9), outline=_shade(skin, 0.7))
    paint.polygon(head.skull, skin)
    if head.hair is not None:
        paint.polygon(head.hair, hair)
    if head.hair_extra is not None:
        paint.polygon(head.hair_extra, hair)
    paint.polygon(lm[FACE_OVAL], skin)
    if head.paint:
        _draw_face_paint(paint, head, identity)
    if head.beard is not None:
        paint.polygon(head.beard, hair if identity.hair_style != "bald" else identity.brow_color)
    paint.polygon(lm[_NOSE_OUTLINE], _shade(skin, 0.9))
    bridge_side = 1 if head.yaw > 0 else -1  # shade the side of the bridge turned away from the camera
    paint.draw.line(
        paint.px(lm[_NOSE_BRIDGE] + [bridge_side * 0.012, 0, 0]), fill=_shade(skin, 0.82), width=paint.line
    )
    for outer, inner in _NOSTRILS:
        paint.polygon(
            np.stack(
                [
                    lm[outer],
                    (lm[outer] + lm[inner]) / 2,
                    lm[inner],
                    lm[2] * 0.3 + lm[outer] * 0.7 - [0, 0.012, 0],
                ]
            ),
            _shade(skin, 0.45),
        )
    outer_lips, inner_lips = (lm[line[:-1]] for line in PARTS["lips"])
    paint.polygon(outer_lips, identity.lip_tint)
    if expression.mouth_open > 0.05:
        paint.polygon(inner_lips, (70, 20, 30))
        teeth = inner_lips[[15, 16, 17, 18, 19, 0, 1, 2, 3, 4, 5]]
        paint.polygon(
            np.concatenate([teeth, teeth[::-1] + [0, 0.025 * expression.mouth_open, 0]]), (240, 240, 235)
        )
    else:
        paint.draw.line(
            paint.px(inner_lips[[15, 16, 17, 18, 19, 0, 1, 2, 3, 4, 5]]),
            fill=_shade(identity.lip_tint, 0.6),
            width=paint.line,
        )
    lash = _shade(identity.brow_color, 0.6)
    for eye, iris, centre in (("right_eye", "right_iris", 468), ("left_eye", "left_iris", 473)):
        paint.eye(
            lm[PARTS[eye][0][:-1]], lm[[centre, *PARTS[iris][0][:-1]]], EYE_COLORS[identity.eye_color], lash
        )
    for brow in ("right_eyebrow", "left_eyebrow"):
        lower, upper = PARTS[brow]
        paint.polygon(np.concatenate([lm[lower], lm[upper][::-1]]), identity.brow_color)
    if head.glasses is not None:
        frame = GLASSES_COLORS[identity.glasses]
        right, left = head.glasses
        for lens in (right, left):
            paint.closed_line(lens, frame)
        inner_right, inner_left = right[np.argmax(right[:, 0])], left[np.argmin(left[:, 0])]
        paint.draw.line(paint.px(np.stack([inner_right, inner_left])), fill=frame, width=paint.line)


def _draw_face_paint(paint: _Painter, head: HeadGeometry, identity: Identity) -> None:
    """Each painted region or tile in its colour, clipped to the face oval."""
    layer, coverage = Image.new("RGB", paint.canvas.size), Image.new("L", paint.canvas.size, 0)
    for outline, color in zip(head.paint, identity.paint_colors, strict=True):
        if color is not None:
            ImageDraw.Draw(layer).polygon(paint.px(outline), fill=PAINT_COLORS[color])
            ImageDraw.Draw(coverage).polygon(paint.px(outline), fill=255)
    oval = Image.new("L", paint.canvas.size, 0)
    ImageDraw.Draw(oval).polygon(paint.px(head.landmarks[FACE_OVAL]), fill=255)
    paint.canvas.paste(layer, (0, 0), ImageChops.multiply(coverage, oval))


def render_scene(
    identity: Identity,
    box: Box,
    pose: Pose = FRONTAL,
    expression: Expression = NEUTRAL,
    scene: Scene | int = 0,
    size: int = 128,
    supersample: int = 3,
) -> Rendering:
    """``identity`` with ``pose`` and ``expression``, face in ``box``, in ``scene`` (or the scene of
    that seed), as a ``size×size`` image with its exact box, landmarks, face mask and caption."""
    scene = Scene.sample(scene) if isinstance(scene, int) else scene
    big = size * supersample
    canvas = _background(scene, big)
    paint = _Painter(canvas, box, supersample)
    head = build_head(identity, pose, expression)
    _draw_body(paint, identity, scene)
    _draw_head(paint, head, identity, expression)
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).polygon(paint.px(head.landmarks[FACE_OVAL]), fill=255)
    face_mask = np.asarray(mask.resize((size, size), Image.BOX), dtype=np.float32) / 255.0
    return Rendering(
        image=canvas.resize((size, size), Image.BOX),
        box=box,
        landmarks=head.landmarks,
        face_mask=face_mask,
        caption=caption(identity, expression, scene),
        identity=identity,
        pose=pose,
        expression=expression,
        scene=scene,
    )
