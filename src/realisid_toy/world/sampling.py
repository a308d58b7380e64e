"""Random scenes for data sets: a random (or given) identity at a random box, pose and expression."""

from __future__ import annotations

import numpy as np

from realisid.boxes import Box

from .render import Rendering, render_scene
from .traits import Identity, Paint, sample_expression, sample_identity, sample_pose


def random_box(rng: np.random.Generator, size: int, rel_size: tuple[float, float]) -> Box:
    """A square face box of relative size in ``rel_size``, inside the image with room for the body below."""
    side = rng.uniform(*rel_size) * size
    x0 = rng.uniform(0, size - side)
    y0 = rng.uniform(0.1 * side, max(0.1 * side, size - 1.3 * side))
    return Box(float(x0), float(y0), float(side))


def sample_rendering(
    seed: int,
    identity: Identity | None = None,
    size: int = 128,
    rel_size: tuple[float, float] = (0.15, 0.6),
    max_yaw: float = 30.0,
    supersample: int = 3,
    paint: Paint = "none",
) -> Rendering:
    """The random scene of ``seed``: ``identity`` (a random one wearing ``paint`` if ``None``) at a
    random box, pose, expression, background and clothing."""
    rng = np.random.default_rng([seed, 0x5A])
    identity = identity if identity is not None else sample_identity(rng, paint)
    return render_scene(
        identity,
        random_box(rng, size, rel_size),
        sample_pose(rng, max_yaw),
        sample_expression(rng),
        scene=int(rng.integers(2**31)),
        size=size,
        supersample=supersample,
    )
