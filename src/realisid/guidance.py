"""Eq. 8: classifier-free guidance with separate text and identity scales (pure tensor functions)."""

from __future__ import annotations

from torch import Tensor


def realisid_guidance(
    eps_none: Tensor, eps_text: Tensor, eps_text_id: Tensor | None, text_scale: float, id_scale: float
) -> Tensor:
    """``ε_prd = ε_none + λ_t (ε_t − ε_none) + λ_i (ε_t&i − ε_t)``.

    ``eps_text_id`` is ``None`` while the ID is delayed (or ``λ_i = 0``): the identity term vanishes
    and this is plain text guidance. All tensors are ``(B, C, h, w)``: the U-Net's outputs, ε or v
    (guidance is linear, so Eq. 8 holds for either).
    """
    eps = eps_none + text_scale * (eps_text - eps_none)
    if eps_text_id is not None:
        eps = eps + id_scale * (eps_text_id - eps_text)
    return eps


def delayed_steps(num_steps: int, id_start: float) -> int:
    """How many of the first steps run without the ID (delayed subject conditioning)."""
    if not 0.0 <= id_start <= 1.0:
        raise ValueError(f"id_start must be a fraction of the steps in [0, 1], got {id_start}")
    return min(num_steps, round(id_start * num_steps))


def id_steps(num_steps: int, id_start: float, id_stop: float = 1.0) -> range:
    """The steps that run Eq. 8's ID row: after the delayed start, before ``id_stop`` (a limited interval)."""
    return range(delayed_steps(num_steps, id_start), delayed_steps(num_steps, id_stop))
