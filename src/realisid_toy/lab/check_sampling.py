"""What the toy checks draw and how they sample, apart from the checks so the CLI reads it without torch."""

from __future__ import annotations

from realisid.sampling import SamplingOptions

CHECK_SAMPLING = SamplingOptions(num_inference_steps=20)
"""The checks sample with the paper's settings in 20 steps."""

CHECK_PROMPT = "a person, wearing a red sweater, in front of a blue wall"
"""The checks' scene; the demo and the web UI draw it too, so their margins are the checks'."""
