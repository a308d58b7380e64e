"""The tiled-paint world: tiles drawn and posed with the head, the regions world unchanged, captions."""

from __future__ import annotations

import hashlib

import numpy as np

from realisid_toy.world import sample_rendering

RECORDED = {
    ("regions", 0): "180853347507a154",
    ("regions", 1): "7a73e899fa764755",
    ("regions", 2): "809aa5a9cd688557",
    ("regions", 3): "cdd81bb517f1e0c7",
    ("none", 0): "826ef0fe4f15702a",
    ("none", 1): "4a71fef3eed94907",
}
"""Pixel-and-caption hashes of random scenes of the plain and the painted-regions worlds, recorded
before the three-way paint setting replaced the face-paint flag: both must draw exactly as they did."""


def test_plain_and_regions_worlds_draw_exactly_as_before():
    for (paint, seed), expected in RECORDED.items():
        rendering = sample_rendering(seed, size=96, face_paint=paint == "regions")
        pixels = np.asarray(rendering.image).tobytes() + rendering.caption.encode()
        assert hashlib.sha256(pixels).hexdigest()[:16] == expected, (paint, seed)
