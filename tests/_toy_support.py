"""A trained toy world kept as a test fixture, apart from the weights the package ships to the demo."""

from __future__ import annotations

from pathlib import Path

PLAIN_WORLD = Path(__file__).parent / "fixtures" / "plain-world"
"""The plain world's toy weights (128 px, no face paint; docs/notes/painted-worlds.md C8): base, adapter,
metric and world.json, laid out as the package's shipped weights."""
