"""The training objective of RealisID (paper Eq. 7) as a pure function."""

from __future__ import annotations

from torch import Tensor


def realisid_loss(
    pred: Tensor, target: Tensor, mask: Tensor, lam: float = 1.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Eq. 7: the diffusion loss plus ``λ`` times the same loss restricted to the face box.

    The paper writes ``‖ε̂ − ε‖₂ + λ‖(ε̂ − ε) ⊙ c_loc‖₂``; as in Stable Diffusion's own training
    (and every diffusers training script) each norm is taken as the mean squared error over all
    elements, so the two terms share one scale::

        loss = mean((ε̂ − ε)²) + λ · mean(((ε̂ − ε) · m)²)

    The face term is averaged over the whole latent, not over the box, so a small face weighs less
    than a large one, exactly as the masked norm of Eq. 7 does.

    Args:
        pred: ``(B, C, h, w)`` predicted noise ``ε̂``.
        target: ``(B, C, h, w)`` true noise ``ε``.
        mask: ``(B, 1, h, w)`` location mask ``c_loc`` at latent resolution (broadcast over ``C``).
        lam: ``λ`` (paper: 1.0).

    Returns:
        ``(loss, diffusion_term, face_term)``, each a scalar.
    """
    error = pred.float() - target.float()
    diffusion = error.pow(2).mean()
    face = (error * mask.to(error.dtype)).pow(2).mean()
    return diffusion + lam * face, diffusion, face
