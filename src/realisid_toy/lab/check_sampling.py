"""How the toy checks sample, apart from the checks themselves so the CLI reads it without torch."""

from __future__ import annotations

from realisid.sampling import SamplingOptions

CHECK_SAMPLING = SamplingOptions(num_inference_steps=20)
"""The checks sample with the paper's settings in 20 steps."""
