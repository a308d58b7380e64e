"""One training step of RealisID as functions of the models and a batch (no I/O, no accelerate)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from torch import Tensor, nn

from ..errors import RealisIDError
from ..models import IdentityAdapter, Residuals, face_features, location_mask
from ..models.config import VAE_SCALE
from ..pipeline import RealisIDPipeline
from .dataset import Batch
from .dropout import apply_dropout, sample_dropout
from .loss import diffusion_target, realisid_loss
from .timesteps import sample_timesteps


class AdapterTrainingModule(nn.Module):
    """The trained part (projection + the ``branches``) behind one ``forward``, so DDP, FSDP and
    DeepSpeed see every trained parameter used in the call they wrap. A branch not in ``branches``
    is frozen and skipped (scale 0); ``branches`` names at least one the adapter has (the
    InstantID-style baseline has one, ``global``)."""

    def __init__(self, adapter: IdentityAdapter, branches: Sequence[str] = ("local", "global")):
        super().__init__()
        if not set(branches) & adapter.branches.keys():
            raise RealisIDError(
                f"branches {list(branches)} train nothing: this adapter's branches are {list(adapter.branches)}"
            )
        self.adapter = adapter
        self.scales = {f"{name}_scale": float(name in branches) for name in ("local", "global")}
        for name, branch in adapter.branches.items():
            if name not in branches:
                branch.requires_grad_(False)

    def forward(
        self,
        latents: Tensor,
        timesteps: Tensor,
        features: Tensor,
        landmark_images: Tensor,
        boxes: Tensor,
        added_cond_kwargs: dict[str, Tensor],
    ) -> Residuals:
        """One person per image: ``features (B, T, D)``, ``landmark_images (B, 3, 8L, 8L)``, ``boxes (B, 3)``.
        Images and features are cast to the trained weights' dtype (DeepSpeed keeps them in bf16/fp16)."""
        dtype = self.adapter.dtype
        id_tokens = self.adapter.project(features.to(dtype))
        return self.adapter(
            latents,
            timesteps,
            id_tokens[:, None],
            landmark_images[:, None].to(dtype),
            boxes[:, None],
            added_cond_kwargs,
            **self.scales,
        )


@dataclass
class StepSettings:
    lam: float = 1.0
    drop_id: float = 0.05
    drop_text: float = 0.05
    drop_both: float = 0.05
    timestep_sampling: str = "uniform"


@dataclass
class Inputs:
    """What the trained module and the U-Net see in one step (all on the device)."""

    noisy: Tensor
    target: Tensor
    """What the U-Net regresses: ``ε``, or ``v`` for a v-prediction base (:func:`diffusion_target`)."""
    timesteps: Tensor
    features: Tensor
    text: Tensor
    added_cond_kwargs: dict[str, Tensor]


@torch.no_grad()
def frozen_inputs(
    pipe: RealisIDPipeline,
    scheduler: DDPMScheduler,
    batch: Batch,
    generator: torch.Generator,
    settings: StepSettings,
) -> Inputs:
    """Everything the frozen models give, with noise, timesteps and condition dropout drawn from
    ``generator`` (CPU), so a step depends only on its seed and its batch."""
    device, dtype = pipe.unet.device, pipe.unet.dtype
    latents = _latents(pipe.vae, batch, generator)
    noise = torch.randn(latents.shape, generator=generator).to(device)
    timesteps = sample_timesteps(
        len(batch), scheduler.config.num_train_timesteps, generator, settings.timestep_sampling
    ).to(device)
    if "prompt" in batch.frozen:
        text, pooled = batch.frozen["prompt"].to(device), batch.frozen["pooled"].to(device)
    else:
        text, _, pooled, _ = pipe.encode_prompt(
            batch.captions, device=device, num_images_per_prompt=1, do_classifier_free_guidance=False
        )
    if "clip" in batch.frozen:
        features = batch.frozen["clip"].to(device)
    else:
        features = face_features(pipe.image_encoder, batch.faces.to(device))
    keep_id, keep_text = sample_dropout(
        len(batch), generator, settings.drop_id, settings.drop_text, settings.drop_both
    )
    features, text, pooled = apply_dropout(features, text, pooled, keep_id, keep_text)
    added = {"text_embeds": pooled.to(dtype), "time_ids": batch.time_ids.to(device, dtype)}
    noisy = scheduler.add_noise(latents, noise, timesteps)
    target = diffusion_target(scheduler, latents, noise, timesteps)
    return Inputs(noisy.to(dtype), target, timesteps, features.float(), text.to(dtype), added)


def _latents(vae: AutoencoderKL, batch: Batch, generator: torch.Generator) -> Tensor:
    """A sample of the VAE posterior of each image, scaled: ``(B, 4, R/8, R/8)`` float32."""
    if "latent" in batch.frozen:
        mean, std = batch.frozen["latent"].float().unbind(1)
    else:
        posterior = vae.encode(batch.pixels.to(vae.device, vae.dtype)).latent_dist
        mean, std = posterior.mean.float().cpu(), posterior.std.float().cpu()
    sample = mean + std * torch.randn(mean.shape, generator=generator)
    return (sample * vae.config.scaling_factor).to(vae.device)


def denoiser_prediction(
    model: nn.Module | None, unet: UNet2DConditionModel, inputs: Inputs, batch: Batch
) -> Tensor:
    """The frozen U-Net's ``ε̂`` (or ``v̂``) ``(B, C, h, w)`` with the branches' residuals for
    ``batch``'s landmarks and boxes and ``inputs.features``; ``model`` ``None``: the base alone."""
    device = inputs.noisy.device
    residuals = None
    if model is not None:
        residuals = model(
            inputs.noisy,
            inputs.timesteps,
            inputs.features,
            batch.landmark_images.to(device, inputs.features.dtype),
            batch.boxes.to(device),
            inputs.added_cond_kwargs,
        ).map(lambda r: r.to(unet.dtype))
    return unet(
        inputs.noisy,
        inputs.timesteps,
        encoder_hidden_states=inputs.text,
        added_cond_kwargs=inputs.added_cond_kwargs,
        return_dict=False,
        **(residuals.unet_kwargs() if residuals is not None else {}),
    )[0]


def training_loss(
    model: nn.Module, unet: UNet2DConditionModel, inputs: Inputs, batch: Batch, lam: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Eq. 7 for one batch: branches → frozen U-Net → ``(loss, diffusion_term, face_term)``."""
    pred = denoiser_prediction(model, unet, inputs, batch)
    return realisid_loss(pred, inputs.target, latent_location_mask(batch.boxes, pred), lam)


def latent_location_mask(boxes: Tensor, latents: Tensor) -> Tensor:
    """``c_loc`` of ``boxes (B, 3)`` (image pixels) at the resolution of ``latents (B, C, h, w)``: ``(B, 1, h, w)``."""
    grid = tuple(latents.shape[-2:])
    return location_mask(boxes.to(latents.device), (grid[0] * VAE_SCALE, grid[1] * VAE_SCALE), grid)
