"""The toy base model: an SDXL-layout text-to-image model trained from scratch on rendered scenes.

Same classes and block layout as SDXL (:func:`realisid.loading.tiny_stack`), with three changes a
toy world this small needs:

* the 8x VAE has 16 latent channels (as SD3's) instead of 4 and is wider (:data:`TOY_VAE`): with
  SDXL's 4 channels a toy VAE trainable on a CPU turns a 1/7-size face into a featureless disc;
* the noise schedule ends at zero SNR and the U-Net predicts ``v`` (:data:`TOY_SCHEDULER`, Lin et
  al. 2024): on 16×16 latents SDXL's schedule leaves so much of the image in its last step that a
  U-Net trained on it learns to read the layout from that leak, and sampling from pure noise gives
  colour soup;
* the two text encoders are trained with the U-Net (a random text encoder's outputs barely change
  with the caption), and the U-Net is sampled from an exponential moving average of its weights.

For 256-px scenes, :data:`TOY_UNET_ATTENTION_AT_EVERY_LEVEL` also cross-attends at the U-Net's first
level (SDXL's does not), so ID tokens reach the full-resolution latent, where a small face lives; and
:func:`fine_tune_vae` teaches a trained VAE to decode rescaled latents as the rescaled image, which
the local branch's up-sampled crop of a small face relies on.

The VAE is trained first (:func:`train_vae`), then the U-Net and the text encoders (captions dropped
to the empty prompt for classifier-free guidance). The CLIP vision encoder is *not* trained: a random
image encoder was never taught identity, like CLIP in the paper. The result is written as a diffusers
``StableDiffusionXLPipeline`` folder plus ``image_encoder/``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DDPMScheduler,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from diffusers.training_utils import EMAModel
from torch import Tensor, nn

from realisid.loading import Stack, tiny_stack
from realisid.models.config import VAE_SCALE
from realisid.models.geometry import crop
from realisid.presets import IMAGE_ENCODER_FOLDER, SDXL_SCHEDULER, TINY_UNET, TINY_VAE
from realisid.training.loss import diffusion_target

TOY_VAE = dict(TINY_VAE, block_out_channels=(16, 32, 64, 64), latent_channels=16)
"""The toy world's VAE: 8x down-sampling as SDXL's, 16 latent channels (as SD3's)."""
TOY_UNET = dict(TINY_UNET, in_channels=TOY_VAE["latent_channels"], out_channels=TOY_VAE["latent_channels"])
"""The tiny SDXL U-Net on the toy VAE's latents."""
TOY_UNET_ATTENTION_AT_EVERY_LEVEL = dict(
    TOY_UNET,
    sample_size=32,
    down_block_types=("CrossAttnDownBlock2D",) * 3,
    up_block_types=("CrossAttnUpBlock2D",) * 3,
)
"""The toy U-Net for 256-px scenes (32×32 latents), cross-attending at every level: unlike SDXL's
first level, its first one reads the text and ID tokens too, so a branch's ID reaches the
full-resolution latent (a 1/7 face covers 4.6² cells there, against 2.3² and 1.1² below)."""
TOY_SCHEDULER = dict(
    SDXL_SCHEDULER, prediction_type="v_prediction", rescale_betas_zero_snr=True, timestep_spacing="trailing"
)
"""SDXL's betas rescaled to zero terminal SNR, v-prediction, trailing timesteps (Lin et al. 2024)."""


def toy_stack(seed: int = 0, unet: dict = TOY_UNET) -> Stack:
    """:func:`~realisid.loading.tiny_stack` with the toy world's VAE, schedule and the U-Net of config
    ``unet`` (:data:`TOY_UNET` or :data:`TOY_UNET_ATTENTION_AT_EVERY_LEVEL`), seeded and untrained."""
    stack = tiny_stack(seed)
    torch.manual_seed(seed)
    return dataclasses.replace(
        stack,
        vae=AutoencoderKL(**TOY_VAE),
        unet=UNet2DConditionModel(**unet),
        scheduler=DDIMScheduler(**TOY_SCHEDULER),
    )


@dataclass(frozen=True)
class BaseTraining:
    """Steps and optimisation of the VAE and the U-Net."""

    vae_steps: int = 2000
    vae_batch: int = 16
    vae_crop: int = 64
    """Side of the random crops the VAE trains on (a quarter of the pixels of a whole image)."""
    vae_lr: float = 5e-4
    vae_face_weight: float = 10.0
    """Extra weight of the face region's pixels in the VAE's reconstruction loss (identity lives
    in a few pixels: unweighted, an 8x VAE blurs a small face to a disc)."""
    kl_weight: float = 1e-6
    initial_logvar: float = -10.0
    vae_rescale_weight: float = 0.0
    """Weight of the rescale-consistency term (:func:`rescale_loss`); 0 leaves it out."""
    vae_rescales: tuple[float, float] = (0.5, 2.0)
    """Range of the term's latent rescaling factor, drawn log-uniformly (shrinking by ½ as likely as
    growing by 2)."""
    vae_zooms: tuple[float, float] | None = None
    """Range of up-sampling factors of the zoom term (:func:`zoom_loss`, every other step instead of the
    rescale term; ``None``: never): a box of the crop's latents up-sampled to :data:`ZOOM_CELLS` cells,
    as the local branch up-samples a small face (1/7 of a 256-px image: 7x)."""
    unet_steps: int = 4000
    unet_batch: int = 32
    unet_lr: float = 1e-3
    ema_decay: float = 0.999
    caption_dropout: float = 0.1
    seed: int = 0


VAE_RESCALE_FINE_TUNE = BaseTraining(vae_steps=1500, vae_lr=3e-4, vae_rescale_weight=2.0, vae_zooms=(2.0, 8.0))
"""A :func:`fine_tune_vae` of a trained toy VAE to decode rescaled latents: ½ to 2x of whole crops, and
boxes up-sampled 2x to 8x, as the local branch up-samples faces of 1/2 to 1/8 at ``L`` = 32."""
VAE_FINE_TUNES = (VAE_RESCALE_FINE_TUNE, dataclasses.replace(VAE_RESCALE_FINE_TUNE, seed=1))
"""The study's VAE recipe: the fine-tune twice, the second a warm restart of its cosine schedule on other
crops (one kept too little of an up-sampled 1/7 face: ``docs/notes/tiled-world.md``)."""


def images_tensor(images: np.ndarray) -> Tensor:
    """``(N, H, W, 3)`` uint8 → ``(N, 3, H, W)`` float in ``[-1, 1]``."""
    # torch.tensor copies: ``images`` may be a read-only memory map, which from_numpy warns about.
    return torch.tensor(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def _cosine(step: int, steps: int, warmup: int = 50) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def random_crops(pixels: Tensor, size: int, generator: torch.Generator, step: int = 8) -> Tensor:
    """One ``size×size`` crop of each image of ``pixels (N, C, H, W)``, at a multiple of ``step``
    (the VAE's down-sampling), so a crop's latents are a window of the whole image's."""
    if size >= pixels.shape[-1]:
        return pixels
    starts = torch.randint(0, (pixels.shape[-1] - size) // step + 1, (len(pixels), 2), generator=generator) * step
    return torch.stack([image[:, y : y + size, x : x + size] for image, (y, x) in zip(pixels, starts.tolist())])


def reconstruction_loss(reconstruction: Tensor, pixels: Tensor, weights: Tensor) -> Tensor:
    """L1 + MSE of ``reconstruction`` against ``pixels (N, 3, H, W)``, each pixel weighted by
    ``weights (N, 1, H, W)`` and normalised by their mean (uniform weights: plain L1 + MSE)."""
    error = (reconstruction - pixels).abs()
    return (weights * (error + error**2)).mean() / weights.mean()


def resize_latents(latents: Tensor, cells: int) -> Tensor:
    """``(N, c, h, h)`` latents resampled to ``cells×cells`` as the local branch resamples its crop
    (:func:`realisid.models.geometry.crop` of the whole grid: bilinear, no anti-aliasing)."""
    side = latents.shape[-1]
    whole = torch.tensor([[0.0, 0.0, side]], device=latents.device).expand(len(latents), -1)
    return crop(latents, whole, (side, side), cells)


def resize_images(pixels: Tensor, size: int) -> Tensor:
    """``(N, C, H, H)`` images resized to ``size×size`` (bilinear, anti-aliased when shrinking)."""
    return F.interpolate(pixels, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


ZOOM_CELLS = 16
"""Side, in latent cells, that :func:`zoom_loss` up-samples its boxes to (a 128-px decode)."""


def random_zoom_boxes(count: int, side: int, zooms: tuple[float, float], generator: torch.Generator) -> Tensor:
    """``(count, 3)`` square boxes ``(x0, y0, size)`` in cells of a ``side``-cell grid, each of side
    ``ZOOM_CELLS / factor`` for a factor drawn log-uniformly in ``zooms`` (at most the grid), placed uniformly."""
    low, high = (math.log(z) for z in zooms)
    factors = torch.exp(low + (high - low) * torch.rand(count, generator=generator))
    sizes = (ZOOM_CELLS / factors).clamp(max=side)
    corners = torch.rand(count, 2, generator=generator) * (side - sizes[:, None])
    return torch.cat([corners, sizes[:, None]], 1)


def rescale_loss(vae: AutoencoderKL, latents: Tensor, pixels: Tensor, weights: Tensor, cells: int) -> Tensor:
    """:func:`reconstruction_loss` of ``latents (N, c, h, h)`` resized to ``cells×cells`` and decoded,
    against ``pixels (N, 3, 8h, 8h)`` and ``weights (N, 1, 8h, 8h)`` resized by the same factor."""
    size = cells * VAE_SCALE
    decoded = vae.decode(resize_latents(latents, cells)).sample
    return reconstruction_loss(decoded, resize_images(pixels, size), resize_images(weights, size))


def zoom_loss(vae: AutoencoderKL, latents: Tensor, pixels: Tensor, weights: Tensor, boxes: Tensor, cells: int) -> Tensor:
    """:func:`reconstruction_loss` of the ``boxes (N, 3)`` (in latent cells) of ``latents (N, c, h, h)``
    up-sampled to ``cells×cells`` as the local branch up-samples a face (Eq. 5) and decoded, against the
    same boxes of ``pixels`` and ``weights`` up-sampled to ``8·cells`` pixels."""
    side, size = latents.shape[-1], cells * VAE_SCALE
    decoded = vae.decode(crop(latents, boxes, (side, side), cells)).sample
    pixel_boxes, image = boxes * VAE_SCALE, (side * VAE_SCALE, side * VAE_SCALE)
    return reconstruction_loss(decoded, crop(pixels, pixel_boxes, image, size), crop(weights, pixel_boxes, image, size))


def train_vae(
    vae: AutoencoderKL,
    images: np.ndarray,
    config: BaseTraining,
    log=print,
    face_masks: np.ndarray | None = None,
    device: str | torch.device = "cpu",
) -> AutoencoderKL:
    """Trains a fresh ``vae`` by :func:`fine_tune_vae`, its posterior's log-variance starting at
    ``config.initial_logvar`` (bias of ``quant_conv``), so the decoder is not first fed latents
    drowned in unit-variance posterior noise."""
    with torch.no_grad():
        vae.quant_conv.bias[vae.config.latent_channels :].fill_(config.initial_logvar)
    return fine_tune_vae(vae, images, config, log, face_masks, device)


def fine_tune_vae(
    vae: AutoencoderKL | str | Path,
    images: np.ndarray,
    config: BaseTraining,
    log=print,
    face_masks: np.ndarray | None = None,
    device: str | torch.device = "cpu",
) -> AutoencoderKL:
    """Trains ``vae`` (a module, or a VAE folder to start from) on ``device`` to reconstruct random crops
    of ``images (N, H, W, 3)`` (L1 + MSE, weighted ``1 + config.vae_face_weight`` inside ``face_masks
    (N, H, W)`` in ``[0, 255]`` if given, + a small KL), and, with ``config.vae_rescale_weight``, to
    decode the crops' latents rescaled by a random factor as the crops rescaled so
    (:func:`rescale_loss`); sets its ``scaling_factor`` to one over the standard deviation of the
    posterior means, as SDXL's is chosen."""
    if not isinstance(vae, AutoencoderKL):
        vae = AutoencoderKL.from_pretrained(vae, torch_dtype=torch.float32)
    generator = torch.Generator().manual_seed(config.seed)
    if face_masks is None:
        face_masks = np.zeros(images.shape[:3], np.uint8)
    vae.to(device).requires_grad_(True)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.vae_lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _cosine(s, config.vae_steps))
    smallest, largest = (math.log(s) for s in config.vae_rescales)
    vae.train()
    for step in range(config.vae_steps):
        index = torch.randint(0, len(images), (config.vae_batch,), generator=generator).numpy()
        weights = 1 + config.vae_face_weight * torch.from_numpy(face_masks[index])[:, None].float() / 255
        stacked = torch.cat([images_tensor(images[index]), weights], 1)
        pixels, weights = random_crops(stacked, config.vae_crop, generator).to(device).split([3, 1], 1)
        posterior = vae.encode(pixels).latent_dist
        noise = torch.randn(posterior.mean.shape, generator=generator).to(device)
        latents = posterior.mean + posterior.std * noise
        reconstruction = vae.decode(latents).sample
        loss = reconstruction_loss(reconstruction, pixels, weights) + config.kl_weight * posterior.kl().mean()
        if config.vae_rescale_weight and config.vae_zooms and step % 2:
            boxes = random_zoom_boxes(len(latents), latents.shape[-1], config.vae_zooms, generator)
            term = zoom_loss(vae, latents, pixels, weights, boxes.to(device), ZOOM_CELLS)
            loss = loss + config.vae_rescale_weight * term
        elif config.vae_rescale_weight:
            scale = math.exp(smallest + (largest - smallest) * torch.rand((), generator=generator).item())
            rescaled = max(1, round(latents.shape[-1] * scale))
            loss = loss + config.vae_rescale_weight * rescale_loss(vae, latents, pixels, weights, rescaled)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == config.vae_steps - 1:
            log(f"vae step {step}: loss {loss.item():.4f}")
    vae.eval().requires_grad_(False)
    means, _ = encode_images(vae, images[: min(len(images), 512)])
    vae.register_to_config(scaling_factor=float(1 / means.std()))
    return vae.cpu()


@torch.no_grad()
def encode_images(vae: AutoencoderKL, images: np.ndarray, batch: int = 64) -> tuple[Tensor, Tensor]:
    """Posterior means and standard deviations ``(N, c, h, w)`` (unscaled, on the VAE's device)."""
    means, stds = [], []
    for start in range(0, len(images), batch):
        posterior = vae.encode(images_tensor(images[start : start + batch]).to(vae.device)).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
    return torch.cat(means), torch.cat(stds)


def train_unet(
    pipe: StableDiffusionXLPipeline,
    images: np.ndarray,
    captions: list[str],
    config: BaseTraining,
    log=print,
    device: str | torch.device = "cpu",
    checkpoint: str | Path | None = None,
) -> None:
    """Trains ``pipe``'s U-Net and two text encoders together on ``device``, on the VAE latents of
    ``images`` with their ``captions``, towards the target of its scheduler's ``prediction_type``;
    leaves the exponential moving average of the weights in the modules (moved back to the CPU).
    With ``checkpoint`` (a file), the run is saved there every :data:`CHECKPOINT_EVERY` steps and a run cut
    off resumes from it, ending as an uninterrupted one would."""
    pipe.to(device)
    vae, unet = pipe.vae, pipe.unet.to(memory_format=torch.channels_last)  # faster convolutions
    trained = nn.ModuleList([unet, pipe.text_encoder, pipe.text_encoder_2])
    means, stds = encode_images(vae, images)
    size = images.shape[1]
    time_ids = torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32, device=device)
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    generator = torch.Generator().manual_seed(config.seed + 1)
    optimizer = torch.optim.AdamW(trained.parameters(), lr=config.unet_lr, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _cosine(s, config.unet_steps))
    ema = EMAModel(trained.parameters(), decay=config.ema_decay)
    state = {"modules": trained, "optimizer": optimizer, "schedule": schedule, "ema": ema}
    start = _resume(checkpoint, config, state, generator, log) if checkpoint else 0
    trained.train().requires_grad_(True)
    for step in range(start, config.unet_steps):
        index = torch.randint(0, len(images), (config.unet_batch,), generator=generator)
        sample = torch.randn(means[index].shape, generator=generator).to(device)
        latents = (means[index] + stds[index] * sample) * vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=generator).to(device)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (len(index),), generator=generator).to(device)
        keep = (torch.rand(len(index), generator=generator) >= config.caption_dropout).float().to(device)
        text, _, pooled, _ = pipe.encode_prompt(
            [captions[i] for i in index.tolist()], device=device, do_classifier_free_guidance=False
        )
        added = {"text_embeds": pooled * keep[:, None], "time_ids": time_ids.expand(len(index), -1)}
        pred = unet(
            scheduler.add_noise(latents, noise, timesteps),
            timesteps,
            encoder_hidden_states=text * keep[:, None, None],
            added_cond_kwargs=added,
        ).sample
        target = diffusion_target(scheduler, latents, noise, timesteps)
        loss = F.mse_loss(pred, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        ema.step(trained.parameters())
        if step % 100 == 0 or step == config.unet_steps - 1:
            log(f"unet step {step}: loss {loss.item():.4f}")
        if checkpoint and (step + 1) % CHECKPOINT_EVERY == 0 and step + 1 < config.unet_steps:
            _save_checkpoint(checkpoint, step + 1, config, state, generator, log)
    ema.copy_to(trained.parameters())
    trained.eval().requires_grad_(False)
    unet.to(memory_format=torch.contiguous_format)
    pipe.to("cpu")


CHECKPOINT_EVERY = 100
"""Steps between the saves of :func:`train_unet`'s checkpoint (about 4 min of the study's base on 2 cores)."""


def _save_checkpoint(
    path: str | Path, step: int, config: BaseTraining, state: dict, generator: torch.Generator, log
) -> None:
    """Everything the run's next steps depend on, written whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = {name: part.state_dict() for name, part in state.items()}
    saved.update(step=step, config=json.dumps(dataclasses.asdict(config)), generator=generator.get_state())
    torch.save(saved, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    log(f"unet step {step}: checkpoint saved to {path}")


def _resume(path: str | Path, config: BaseTraining, state: dict, generator: torch.Generator, log) -> int:
    """The step to start from: 0, or the step of the checkpoint at ``path`` (loaded into ``state`` and
    ``generator``) when one was saved by a run of the same ``config``."""
    path = Path(path)
    if not path.is_file():
        return 0
    saved = torch.load(path, weights_only=True)
    if saved["config"] != json.dumps(dataclasses.asdict(config)):
        log(f"{path} was saved by another configuration: starting from step 0")
        return 0
    for name, part in state.items():
        part.load_state_dict(saved[name])
    generator.set_state(saved["generator"])
    log(f"unet step {saved['step']}: resumed from {path}")
    return saved["step"]


def sdxl_pipeline(stack: Stack) -> StableDiffusionXLPipeline:
    """The stack's text-to-image part as a diffusers SDXL pipeline (no image encoder)."""
    return StableDiffusionXLPipeline(
        vae=stack.vae,
        text_encoder=stack.text_encoder,
        text_encoder_2=stack.text_encoder_2,
        tokenizer=stack.tokenizer,
        tokenizer_2=stack.tokenizer_2,
        unet=stack.unet,
        scheduler=stack.scheduler,
    )


def load_unet(base: str | Path) -> UNet2DConditionModel:
    """The U-Net of a base folder written by :func:`train_base_model`, in fp32 whatever it was saved in."""
    return UNet2DConditionModel.from_pretrained(Path(base) / "unet", torch_dtype=torch.float32)


def train_base_model(
    images: np.ndarray,
    captions: list[str],
    vae: str | Path,
    output: str | Path,
    config: BaseTraining | None = None,
    log=print,
    device: str | torch.device = "cpu",
    init: str | Path | None = None,
    unet: dict = TOY_UNET,
    image_encoder: str | Path | None = None,
    save_dtype: torch.dtype = torch.float32,
    checkpoint: str | Path | None = None,
) -> Path:
    """U-Net (of config ``unet``) and text encoders from the toy stack's seeded random init, or from the
    base folder ``init`` (a curriculum: portraits first, then scenes), trained on ``device`` on the
    trained ``vae`` folder (:func:`train_vae`); saves the SDXL folder at ``output`` in ``save_dtype``,
    with the ID image encoder folder ``image_encoder`` (default: the untrained, seeded one) in
    ``output/image_encoder``. Folders saved in fp16 are read back in fp32. ``checkpoint``: see
    :func:`train_unet`; left for the caller to remove once it has recorded the run, so a cut before that resumes."""
    config = config or BaseTraining()
    vae_model = AutoencoderKL.from_pretrained(vae, torch_dtype=torch.float32)
    stack = dataclasses.replace(toy_stack(config.seed, unet), vae=vae_model)
    if init is not None:
        encoders = ("text_encoder", "text_encoder_2")
        trained = {name: type(getattr(stack, name)).from_pretrained(Path(init) / name, dtype=torch.float32)
                   for name in encoders}
        stack = dataclasses.replace(stack, unet=load_unet(init), **trained)
    if image_encoder is not None:
        stack = dataclasses.replace(stack, image_encoder=type(stack.image_encoder).from_pretrained(image_encoder))
    stack.vae.eval().requires_grad_(False)
    stack.image_encoder.eval().requires_grad_(False)
    pipe = sdxl_pipeline(stack)
    train_unet(pipe, images, captions, config, log, device, checkpoint)
    output = Path(output)
    pipe.to(save_dtype).save_pretrained(output, safe_serialization=True)
    stack.image_encoder.to(save_dtype).save_pretrained(output / IMAGE_ENCODER_FOLDER, safe_serialization=True)
    return output
