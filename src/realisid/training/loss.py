"""The training objective of RealisID (paper Eq. 7) and the denoiser's regression target."""

from __future__ import annotations

from diffusers import DDPMScheduler
from torch import Tensor

from ..errors import RealisIDError


def prediction_type(scheduler: DDPMScheduler) -> str:
    """The base model's ``prediction_type``, checked: training regresses ``"epsilon"`` or ``"v_prediction"``."""
    kind = scheduler.config.prediction_type
    if kind not in ("epsilon", "v_prediction"):
        raise RealisIDError(f"the base model predicts {kind!r}; training needs 'epsilon' or 'v_prediction'")
    return kind


def diffusion_target(scheduler: DDPMScheduler, latents: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
    """What the denoiser regresses at ``z_t = √ᾱ_t·z_0 + √(1−ᾱ_t)·ε``, by :func:`prediction_type`:
    ``ε`` (SDXL's and the paper's) or ``v = √ᾱ_t·ε − √(1−ᾱ_t)·z_0`` (needed by a zero-terminal-SNR
    schedule). ``latents, noise (B, C, h, w)``, ``timesteps (B,)``."""
    if prediction_type(scheduler) == "epsilon":
        return noise
    return scheduler.get_velocity(latents, noise, timesteps)


def realisid_loss(
    pred: Tensor, target: Tensor, mask: Tensor, lam: float = 1.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Eq. 7: the diffusion loss plus ``λ`` times the same loss restricted to the face box.

    The paper writes ``‖ε̂ − ε‖₂ + λ‖(ε̂ − ε) ⊙ c_loc‖₂``; a v-prediction base model puts ``v̂ − v`` in
    place of ``ε̂ − ε`` (:func:`diffusion_target`). As in Stable Diffusion's own training
    (and every diffusers training script) each norm is taken as the mean squared error over all
    elements, so the two terms share one scale::

        loss = mean((ε̂ − ε)²) + λ · mean(((ε̂ − ε) · m)²)

    The face term is averaged over the whole latent, not over the box, so a small face weighs less
    than a large one, exactly as the masked norm of Eq. 7 does.

    Args:
        pred: ``(B, C, h, w)`` the denoiser's output ``ε̂`` (or ``v̂``).
        target: ``(B, C, h, w)`` its target ``ε`` (or ``v``).
        mask: ``(B, 1, h, w)`` location mask ``c_loc`` at latent resolution (broadcast over ``C``).
        lam: ``λ`` (paper: 1.0).

    Returns:
        ``(loss, diffusion_term, face_term)``, each a scalar.
    """
    error = pred.float() - target.float()
    diffusion = error.pow(2).mean()
    face = (error * mask.to(error.dtype)).pow(2).mean()
    return diffusion + lam * face, diffusion, face
