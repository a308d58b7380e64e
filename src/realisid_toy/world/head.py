"""The 3-D head model: face parts as 3-D points in MediaPipe mesh layout, posed and projected.

Coordinates are in face-box units, as :mod:`realisid.faces` normalises landmarks: ``x`` right and
``y`` down in ``[0, 1]`` over the box, ``z`` away from the camera on the same scale. A frontal face is
built around an average face measured on a real MediaPipe mesh (eyes at ``y ≈ 0.2``, nose tip at
``0.5``, mouth at ``0.65``, chin at ``1.0``, forehead top at ``-0.13``), deformed by the identity's
traits and the expression, then rotated about the head centre by the pose
(:func:`realisid.faces.rotation_matrix`) and projected orthographically: the projected ``x, y`` and
the rotated ``z`` *are* the landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realisid.faces.pose import rotation_matrix
from realisid.faces.topology import FACE_OVAL, PARTS

from .mesh import LEFT_IRIS_CENTER, RIGHT_IRIS_CENTER, complete_mesh
from .traits import TILE_GRID, Expression, Identity, Pose

HEAD_CENTER = np.array([0.5, 0.42, 0.35])
"""The rotation centre (and centre of the skull ellipsoid) in box units."""
SURFACE_DEPTH = 0.45
"""Depth of the front of the face ellipsoid: its surface is at ``z = 0.35 - 0.45 = -0.1`` at the centre."""

_NOSE_MIDLINE = {  # index: (y, z) of the average nose, measured on a frontal real mesh
    168: (0.19, -0.12),
    6: (0.244, -0.144),
    197: (0.297, -0.175),
    195: (0.345, -0.209),
    5: (0.398, -0.245),
    4: (0.461, -0.256),
    1: (0.506, -0.237),
    19: (0.526, -0.213),
    94: (0.531, -0.153),
    2: (0.533, -0.12),
}
_NOSE_SIDE = {  # right-side index: (left-side index, x offset from the midline, y, z)
    97: (326, -0.064, 0.521, -0.108),
    98: (327, -0.138, 0.49, -0.065),
    64: (294, -0.149, 0.47, -0.1),
    48: (278, -0.143, 0.459, -0.126),
    115: (344, -0.113, 0.456, -0.172),
    220: (440, -0.079, 0.457, -0.214),
    45: (275, -0.041, 0.457, -0.251),
}


@dataclass(frozen=True)
class HeadGeometry:
    """A posed head in box units: MediaPipe-layout ``landmarks`` ``(478, 3)`` and the outlines of the
    parts that are not in the mesh, each ``(N, 2)`` (``None`` where the identity has no such part)."""

    landmarks: np.ndarray
    hair: np.ndarray | None
    hair_extra: np.ndarray | None  # bun or mohawk crest
    skull: np.ndarray
    ears: tuple[np.ndarray, np.ndarray]
    glasses: tuple[np.ndarray, np.ndarray] | None
    beard: np.ndarray | None
    paint: tuple[np.ndarray, ...]  # an outline per paint colour of the identity, to be clipped to the oval
    yaw: float


def _surface_z(identity: Identity, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Depth of the front of the face ellipsoid at ``(x, y)`` (the rim where outside it)."""
    u = (x - 0.5) / (0.5 * identity.face_width)
    v = (y - HEAD_CENTER[1]) / 0.62
    return HEAD_CENTER[2] - SURFACE_DEPTH * np.sqrt(np.clip(1 - u**2 - v**2, 0, 1))


def _on_surface(identity: Identity, x: np.ndarray, y: np.ndarray, lift: float = 0.0) -> np.ndarray:
    return np.stack([x, y, _surface_z(identity, x, y) - lift], axis=-1)


def _face_oval(identity: Identity, expression: Expression) -> np.ndarray:
    """36 points clockwise from the forehead top (index 10): an ellipse above, a superellipse jaw below."""
    phi = np.radians(-90 + 10 * np.arange(36))
    cos, sin = np.cos(phi), np.sin(phi)
    width = 0.48 * identity.face_width
    exponent = 1.5 + 2.5 * identity.jaw
    lower = sin > 0
    x = 0.5 + width * np.where(lower, np.sign(cos) * np.abs(cos) ** (2 / exponent), cos)
    chin = 0.64 * identity.chin_length + 0.06 * expression.mouth_open
    y = 0.33 + np.where(lower, chin * np.abs(sin) ** (2 / exponent), 0.46 * sin)
    return _on_surface(identity, x, y)


def _eye(identity: Identity, expression: Expression, side: int) -> tuple[np.ndarray, np.ndarray]:
    """16 lid points (ring as in the mesh: lower lid from the outer corner, inner corner at 7, upper
    lid, outer corner at 15) and 5 iris points (centre, then +x, top, -x, bottom). ``side`` is -1 for
    the subject's right eye (image left), +1 for the left eye."""
    cx = 0.5 + side * 0.225 * identity.eye_spacing
    cy = 0.2 + identity.eye_height
    half_width = 0.095 * identity.eye_size
    upper, lower = 0.048 * identity.eye_size, 0.032 * identity.eye_size
    theta = np.concatenate([np.pi - (np.arange(8) + 1) * np.pi / 8, -(np.arange(8, 16) - 7) * np.pi / 8])
    sin = np.sin(theta)
    x = cx - side * half_width * np.cos(theta)
    lower_lid = cy + lower * np.abs(sin) ** 0.8
    upper_lid = cy - upper * np.abs(sin) ** 0.8
    shut = expression.eyes_closed
    y = np.where(sin > 0, lower_lid, (1 - shut) * upper_lid + shut * (cy + 0.6 * lower * np.abs(sin)))
    lids = _on_surface(identity, x, y)
    radius = 0.045 * identity.eye_size
    angles = np.radians([0, -90, 180, 90])
    iris_x = np.concatenate([[cx], cx + radius * np.cos(angles)])
    iris_y = np.concatenate([[cy], cy + radius * np.sin(angles)])
    return lids, _on_surface(identity, iris_x, iris_y, lift=0.01)


def _brow(identity: Identity, expression: Expression, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper brow edges, 5 points each from the outer end to the inner end."""
    t = np.linspace(0, 1, 5)
    eye_x = 0.5 + side * 0.225 * identity.eye_spacing
    x = eye_x + side * (0.085 - t * 0.2)
    base = (
        0.2
        + identity.eye_height
        - 0.11
        - 0.035 * identity.brow_arch * np.sin(np.pi * (0.3 + 0.6 * t))
        - identity.brow_tilt * (1 - t)
        - 0.045 * expression.brow_raise
    )
    half = 0.016 * identity.brow_thickness * (0.6 + 0.4 * t)
    return _on_surface(identity, x, base + half, lift=0.005), _on_surface(
        identity, x, base - half, lift=0.005
    )


def _nose(identity: Identity) -> dict[int, np.ndarray]:
    points = {i: (0.0, y, z) for i, (y, z) in _NOSE_MIDLINE.items()}
    for right, (left, dx, y, z) in _NOSE_SIDE.items():
        points[right], points[left] = (dx, y, z), (-dx, y, z)
    top = _NOSE_MIDLINE[168][0]
    return {
        i: np.array([0.5 + dx * identity.nose_width, top + (y - top) * identity.nose_length, z])
        for i, (dx, y, z) in points.items()
    }


def _lips(identity: Identity, expression: Expression) -> tuple[np.ndarray, np.ndarray]:
    """Outer and inner lip rings, 20 points each clockwise from the top centre (corners at 5 and 15)."""
    theta = -np.pi / 2 + np.arange(20) * np.pi / 10
    cos, sin = np.cos(theta), np.sin(theta)
    centre_y = 0.66 + 0.03 * (identity.nose_length - 1)
    width = 0.2 * identity.mouth_width * (1 + 0.15 * expression.smile)
    lift = 0.05 * expression.smile * cos**2 - 0.01 * expression.smile
    opening = 0.1 * expression.mouth_open
    bow = 0.006 * np.cos(3 * theta)  # cupid's bow of the upper lip
    inner_y = centre_y + np.where(sin > 0, opening * sin, -0.004 * np.abs(sin)) - lift
    outer_y = (
        centre_y
        + np.where(
            sin > 0,
            opening * sin + 0.045 * identity.lip_thickness * sin,
            -(0.032 * identity.lip_thickness + bow) * -sin,
        )
        - lift
    )
    outer = _on_surface(identity, 0.5 + width * cos, outer_y)
    inner = _on_surface(identity, 0.5 + 0.88 * width * cos, inner_y)
    return outer, inner


def _ellipsoid_outline(center: np.ndarray, axes: np.ndarray, rotation: np.ndarray, n: int = 48) -> np.ndarray:
    """The ``(n, 2)`` silhouette of an ellipsoid (frontal ``center``, semi-``axes``) after rotation."""
    center = (center - HEAD_CENTER) @ rotation.T + HEAD_CENTER
    quadric = rotation @ np.diag(1 / axes**2) @ rotation.T
    outline = quadric[:2, :2] - np.outer(quadric[:2, 2], quadric[2, :2]) / quadric[2, 2]
    values, vectors = np.linalg.eigh(outline)
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1) / np.sqrt(values)
    return center[:2] + circle @ vectors.T


def _hair(identity: Identity, rotation: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    style, volume = identity.hair_style, identity.hair_volume
    width = 0.5 * identity.face_width
    if style == "bald":
        return None, None
    if style == "mohawk":
        crest = _ellipsoid_outline(np.array([0.5, 0.05, 0.3]), np.array([0.07, 0.45 * volume, 0.5]), rotation)
        return None, crest
    if style == "curly":
        outline = _ellipsoid_outline(
            HEAD_CENTER + [0, -0.07, 0], np.array([width + 0.12, 0.58, 0.6]) * volume, rotation
        )
        centre = outline.mean(axis=0)
        bumps = 1 + 0.05 * np.sin(np.arange(len(outline)) * 2 * np.pi * 11 / len(outline))
        return centre + (outline - centre) * bumps[:, None], None
    if style == "long":
        return _ellipsoid_outline(
            HEAD_CENTER + [0, -0.05, 0.05], np.array([width + 0.06, 0.6, 0.6]) * volume, rotation
        ), None
    hair = _ellipsoid_outline(
        HEAD_CENTER + [0, -0.12, 0.03], np.array([width + 0.04, 0.47, 0.55]) * volume, rotation
    )
    if style == "bun":
        return hair, _ellipsoid_outline(
            np.array([0.5, -0.3, 0.45]), np.array([0.17, 0.15, 0.15]) * volume, rotation
        )
    return hair, None


def _ear(identity: Identity, rotation: np.ndarray, side: int) -> np.ndarray:
    """An ear: an ellipse in a plane turned 60 degrees from the side of the head."""
    t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    size = identity.ear_size
    centre = np.array([0.5 + side * 0.5 * identity.face_width, 0.3, HEAD_CENTER[2] - 0.05])
    along = np.array([side * 0.5, 0, 0.87]) * 0.07 * size
    points = centre + np.outer(np.cos(t), along) + np.outer(np.sin(t), [0, 0.11 * size, 0])
    return _project(points, rotation)


def _glasses(identity: Identity, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two lens rings, right then left, 20 points each."""
    t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    lenses = []
    for side in (-1, 1):
        cx, cy = 0.5 + side * 0.225 * identity.eye_spacing, 0.21 + identity.eye_height
        x, y = cx + 0.115 * np.cos(t), cy + 0.085 * np.sin(t)
        lenses.append(_project(_on_surface(identity, x, y, lift=0.07), rotation))
    return lenses[0], lenses[1]


def _beard(identity: Identity, oval: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """The jaw from cheek to cheek along the oval, closed over the upper lip."""
    upper = _on_surface(
        identity, np.array([0.15, 0.32, 0.5, 0.68, 0.85]), np.array([0.52, 0.58, 0.56, 0.58, 0.52])
    )
    return _project(np.concatenate([oval[12:25], upper]), rotation)


_PAINT_RECTANGLES = (
    (0.0, -0.25, 1.0, 0.12),
    (0.0, 0.3, 0.36, 0.8),
    (0.64, 0.3, 1.0, 0.8),
    (0.2, 0.8, 0.8, 1.1),
)
"""``(x0, y0, x1, y1)`` of each of the :data:`~realisid_toy.world.traits.PAINT_REGIONS` on a frontal face
(forehead above the brows, each cheek beside the nose, chin below the mouth); they reach past the oval."""
TILED_AREA = (0.14, 0.02, 0.86, 0.78)
"""``(x0, y0, x1, y1)`` of the tile grid on a frontal face: brows to mouth, from a little outside one
eye's outer corner to the other's."""
_XS = np.linspace(TILED_AREA[0], TILED_AREA[2], TILE_GRID + 1)
_YS = np.linspace(TILED_AREA[1], TILED_AREA[3], TILE_GRID + 1)
_OUTLINED = {
    "none": (),
    "regions": _PAINT_RECTANGLES,
    "tiles": tuple(
        (_XS[j], _YS[i], _XS[j + 1], _YS[i + 1]) for i in range(TILE_GRID) for j in range(TILE_GRID)
    ),
}
"""The rectangles each kind of paint outlines, in the order of an identity's paint colours (tiles row by
row from the top, each row from the image's left)."""


def _face_paint(identity: Identity, rotation: np.ndarray) -> tuple[np.ndarray, ...]:
    """The identity's paint regions or tiles as outlines of 40 points each, laid on the face surface
    and posed (none without paint)."""
    t = np.linspace(0, 1, 10, endpoint=False)
    outlines = []
    for x0, y0, x1, y1 in _OUTLINED[identity.paint]:
        x = np.concatenate([x0 + (x1 - x0) * t, np.full(10, x1), x1 - (x1 - x0) * t, np.full(10, x0)])
        y = np.concatenate([np.full(10, y0), y0 + (y1 - y0) * t, np.full(10, y1), y1 - (y1 - y0) * t])
        outlines.append(_project(_on_surface(identity, x, y), rotation))
    return tuple(outlines)


def _project(points: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    return ((points - HEAD_CENTER) @ rotation.T + HEAD_CENTER)[..., :2]


def build_head(identity: Identity, pose: Pose, expression: Expression) -> HeadGeometry:
    """The posed head of ``identity`` with ``expression``, in box units."""
    rotation = rotation_matrix(pose.yaw, pose.pitch, pose.roll)
    frontal = np.full((478, 3), np.nan)
    oval = _face_oval(identity, expression)
    frontal[PARTS["face_oval"][0][:-1]] = oval
    for side, eye, iris, brow in (
        (-1, "right_eye", "right_iris", "right_eyebrow"),
        (1, "left_eye", "left_iris", "left_eyebrow"),
    ):
        lids, iris_points = _eye(identity, expression, side)
        frontal[PARTS[eye][0][:-1]] = lids
        centre = RIGHT_IRIS_CENTER if side < 0 else LEFT_IRIS_CENTER
        frontal[[centre, *PARTS[iris][0][:-1]]] = iris_points
        lower, upper = _brow(identity, expression, side)
        frontal[PARTS[brow][0]], frontal[PARTS[brow][1]] = lower, upper
    for index, point in _nose(identity).items():
        frontal[index] = point
    outer, inner = _lips(identity, expression)
    frontal[PARTS["lips"][0][:-1]], frontal[PARTS["lips"][1][:-1]] = outer, inner
    landmarks = (complete_mesh(frontal) - HEAD_CENTER) @ rotation.T + HEAD_CENTER
    # Keep the face centred in its box as a detector's box would be: re-centre the posed face oval.
    shift = _oval_centre(frontal) - _oval_centre(landmarks)
    landmarks[:, :2] += shift

    def moved(outline: np.ndarray | None) -> np.ndarray | None:
        return None if outline is None else outline + shift

    hair, hair_extra = _hair(identity, rotation)
    skull = _ellipsoid_outline(
        HEAD_CENTER + [0, -0.1, 0], np.array([0.5 * identity.face_width, 0.45, 0.5]), rotation
    )
    glasses = _glasses(identity, rotation) if identity.glasses else None
    return HeadGeometry(
        landmarks=landmarks.astype(np.float32),
        hair=moved(hair),
        hair_extra=moved(hair_extra),
        skull=skull + shift,
        ears=(_ear(identity, rotation, -1) + shift, _ear(identity, rotation, 1) + shift),
        glasses=None if glasses is None else (glasses[0] + shift, glasses[1] + shift),
        beard=moved(_beard(identity, oval, rotation)) if identity.beard else None,
        paint=tuple(o + shift for o in _face_paint(identity, rotation)),
        yaw=pose.yaw,
    )


def _oval_centre(points: np.ndarray) -> np.ndarray:
    oval = points[FACE_OVAL, :2]
    return (oval.min(axis=0) + oval.max(axis=0)) / 2
