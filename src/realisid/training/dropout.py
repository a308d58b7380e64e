"""Condition dropout for classifier-free guidance (IP-Adapter style, paper Implementation Details).

Each sample independently loses its ID with probability ``p_id``, its text with ``p_text``, or
both with ``p_both`` (0.05 each in the paper; the three events are disjoint). A dropped ID is the
projection of zeroed CLIP features (the null ID of inference); a dropped text is SDXL's empty
prompt, which ``force_zeros_for_empty_prompt`` makes all zeros (token and pooled embeddings).
"""

from __future__ import annotations

import torch
from torch import Tensor


def sample_dropout(
    batch: int, generator: torch.Generator, p_id: float = 0.05, p_text: float = 0.05, p_both: float = 0.05
) -> tuple[Tensor, Tensor]:
    """Which samples keep their ID and their text: two boolean ``(batch,)`` tensors (CPU)."""
    u = torch.rand(batch, generator=generator)
    drop_id_only = u < p_id
    drop_text_only = (u >= p_id) & (u < p_id + p_text)
    drop_both = (u >= p_id + p_text) & (u < p_id + p_text + p_both)
    return ~(drop_id_only | drop_both), ~(drop_text_only | drop_both)


def apply_dropout(
    features: Tensor, text: Tensor, pooled: Tensor, keep_id: Tensor, keep_text: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Zeroes the dropped conditions.

    Args:
        features: ``(B, T, D)`` CLIP features of the masked face crops (projected after this).
        text: ``(B, 77, C)`` text token embeddings; ``pooled``: ``(B, d)`` pooled text embedding.
        keep_id, keep_text: ``(B,)`` booleans from :func:`sample_dropout`.
    """
    kid = keep_id.to(features.device, features.dtype)[:, None, None]
    ktext = keep_text.to(text.device, text.dtype)
    return features * kid, text * ktext[:, None, None], pooled * ktext[:, None]
