"""Which diffusion timesteps a training step draws.

The paper is silent, so ``uniform`` (DDPM's ``t ~ U{0, …, T−1}``) is the default. ``cubic`` is
T2I-Adapter's non-uniform sampling, ``t = (1 − u³)·T`` with ``u ~ U(0, 1)``: four in five of the
steps have ``t > T/2``, the noisy end where the picture's layout and the face are still undecided
and only the conditions (ID, landmarks, box) can tell the denoiser what to draw.
"""

from __future__ import annotations

import torch
from torch import Tensor

TIMESTEP_SAMPLING = ("uniform", "cubic")


def sample_timesteps(
    batch: int, num_train_timesteps: int, generator: torch.Generator, sampling: str = "uniform"
) -> Tensor:
    """``(batch,)`` int64 timesteps in ``[0, num_train_timesteps)`` (CPU), drawn by ``sampling``."""
    if sampling == "uniform":
        return torch.randint(0, num_train_timesteps, (batch,), generator=generator)
    if sampling == "cubic":
        u = torch.rand(batch, generator=generator)
        return ((1 - u**3) * num_train_timesteps).long().clamp(max=num_train_timesteps - 1)
    raise ValueError(f"timestep sampling must be one of {', '.join(TIMESTEP_SAMPLING)}, got {sampling!r}")
