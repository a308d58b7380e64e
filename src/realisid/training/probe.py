"""Does a trained adapter read its conditions? Eq. 7's terms with each sample's own conditions and another's.

The training loss cannot tell a condition-blind correction of the frozen base (which lowers it
too) from a learned condition, and sampling shows the ID and the layout only once they are learned
well. This probe tells them apart early: on batches of the training shards, with fresh noise and
no condition dropout, it takes the frozen U-Net's error with no adapter, with the adapter on each
sample's own conditions, and with another sample's ID, landmarks and box, or all three (the batch
rolled by one). What the adapter reads from a condition is how much its error grows given another's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from torch import Tensor
from tqdm.auto import tqdm

from ..errors import RealisIDError
from ..models import load_adapter
from ..pipeline import RealisIDPipeline
from .config import TrainConfig
from .dataset import Batch, Batches, ShardStream, list_shards
from .loss import realisid_loss
from .step import (
    AdapterTrainingModule,
    Inputs,
    StepSettings,
    denoiser_prediction,
    frozen_inputs,
    latent_location_mask,
)

PROBES = (
    "base alone",
    "own conditions",
    "another's ID",
    "another's landmarks and box",
    "another's ID, landmarks and box",
)
"""The rows of :func:`condition_errors`, in order."""


@dataclass
class Errors:
    """Eq. 7's two terms, averaged over the probed batches."""

    diffusion: float
    face: float


def _another(x: Tensor) -> Tensor:
    """Each sample's tensor replaced by the previous one's (the first by the last): ``(B, ...)`` rolled along ``B``."""
    return x.roll(1, dims=0)


@torch.no_grad()
def condition_errors(
    model: AdapterTrainingModule, unet: UNet2DConditionModel, inputs: Inputs, batch: Batch
) -> dict[str, tuple[float, float]]:
    """``(diffusion term, face term)`` of Eq. 7 for each of :data:`PROBES` on one batch of ``B ≥ 2``."""
    if len(batch) < 2:
        raise RealisIDError("the condition probe needs batches of at least 2 samples (it swaps their conditions)")
    their_id = replace(inputs, features=_another(inputs.features))
    their_layout = replace(batch, landmark_images=_another(batch.landmark_images), boxes=_another(batch.boxes))
    runs = {
        "base alone": (None, inputs, batch),
        "own conditions": (model, inputs, batch),
        "another's ID": (model, their_id, batch),
        "another's landmarks and box": (model, inputs, their_layout),
        "another's ID, landmarks and box": (model, their_id, their_layout),
    }
    errors = {}
    for name, (probed, probe_inputs, probe_batch) in runs.items():
        pred = denoiser_prediction(probed, unet, probe_inputs, probe_batch)
        # The face term is taken in each sample's own box, where its face really is.
        _, diffusion, face = realisid_loss(pred, inputs.target, latent_location_mask(batch.boxes, pred))
        errors[name] = (diffusion.item(), face.item())
    return errors


def probe(
    config: TrainConfig, adapter_dir: str | Path, batches: int = 8, device: str | torch.device = "cpu"
) -> dict[str, Errors]:
    """:func:`condition_errors` of the adapter ``adapter_dir`` on ``batches`` batches of the shards
    ``config`` trains on (its precomputed ones when there are), averaged per probe; fp32 on ``device``."""
    from .loop import frozen_stack

    if batches < 1:
        raise RealisIDError(f"the probe needs at least 1 batch, got {batches}")
    if config.data is None:
        raise RealisIDError("no training data: give the config's data (shards written by `realisid prepare`)")
    stack = frozen_stack(config)
    for module in (stack.unet, stack.text_encoder, stack.text_encoder_2, stack.image_encoder, stack.vae):
        module.requires_grad_(False).eval().to(device, torch.float32)
    adapter = load_adapter(adapter_dir, unet=stack.unet).eval().to(device, torch.float32)  # stored fp16 or not
    pipe = RealisIDPipeline(**vars(stack), adapter=adapter)
    scheduler = DDPMScheduler.from_config(stack.scheduler.config)
    precomputed = config.output / "precomputed"
    folder = precomputed if config.precompute and precomputed.is_dir() else config.data
    stream = Batches(
        ShardStream(list_shards(folder, config.resolution), config.seed + 1, buffer=config.shuffle_buffer),
        config.batch_size,
        adapter.config.landmark_size,
        resolution=config.resolution,
    )
    model = AdapterTrainingModule(adapter)
    no_dropout = StepSettings(drop_id=0, drop_text=0, drop_both=0)
    totals = {name: [0.0, 0.0] for name in PROBES}
    for index in tqdm(range(batches), desc="probe"):
        batch = next(stream)
        inputs = frozen_inputs(pipe, scheduler, batch, torch.Generator().manual_seed(index), no_dropout)
        for name, terms in condition_errors(model, stack.unet, inputs, batch).items():
            totals[name] = [total + term / batches for total, term in zip(totals[name], terms)]
    return {name: Errors(*terms) for name, terms in totals.items()}


def markdown_table(errors: dict[str, Errors]) -> str:
    """The probe as a Markdown table; the last column is the error each condition's loss costs."""
    own = errors["own conditions"]
    lines = [
        "| conditions | diffusion term | face term | face term − own |",
        "|---|---:|---:|---:|",
    ]
    for name, e in errors.items():
        lines.append(f"| {name} | {e.diffusion:.4f} | {e.face:.4f} | {e.face - own.face:+.4f} |")
    return "\n".join(lines)
