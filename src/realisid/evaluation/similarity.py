"""Cosine similarity, the core of CLIP-T, CLIP-I and the FaceNet score."""

from __future__ import annotations

import torch


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine of ``(N, D)`` and ``(N, D)`` (or broadcastable) → ``(N,)``."""
    return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1)
