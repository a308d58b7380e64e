"""``train``: the accelerate training loop of RealisID (one CPU, one or many GPUs, DeepSpeed/FSDP).

SDXL (U-Net, VAE, both text encoders) and the CLIP ID encoder are frozen; the projection and both
branches train with AdamW on Eq. 7. Every random draw of a step (VAE sample, noise, timestep,
dropout) comes from a generator seeded by (seed, process, micro-step), and the data stream is
resumed at each process's saved position, so a resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration
from diffusers import DDIMScheduler, DDPMScheduler
from tqdm.auto import tqdm

from ..errors import RealisIDError
from ..models import IdentityAdapter, RealisIDAdapter, load_adapter
from ..persons import Person
from ..pipeline import RealisIDPipeline
from ..loading import Stack, tiny_adapter_config, tiny_stack
from .checkpoints import load_checkpoint, resolve_checkpoint, save_checkpoint
from .config import TrainConfig
from .dataset import Batches, ShardStream, list_shards, validation_reference
from .precompute import precompute_shards
from .step import AdapterTrainingModule, StepSettings, frozen_inputs, training_loss

logger = logging.getLogger(__name__)
_DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class TrainResult:
    adapter_dir: Path
    adapter: IdentityAdapter
    stack: Stack
    step: int
    losses: list[float]
    """This process's loss at each optimizer step of this run."""
    skipped: dict[str, int]
    main_process: bool


def load_stack(config: TrainConfig) -> Stack:
    """The frozen models: the tiny stack, or SDXL from ``config.base`` plus the CLIP ID encoder."""
    if config.tiny:
        return tiny_stack(config.seed)
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPVisionModelWithProjection

    from ..presets import CLIP_VIT_H

    try:
        sdxl = StableDiffusionXLPipeline.from_pretrained(config.base)
        subfolder = "models/image_encoder" if config.image_encoder == CLIP_VIT_H else ""
        encoder = CLIPVisionModelWithProjection.from_pretrained(config.image_encoder, subfolder=subfolder)
    except (OSError, ValueError) as error:
        raise RealisIDError(f"cannot load the base models: {str(error).splitlines()[0]}") from None
    parts = {k: v for k, v in sdxl.components.items() if k in {f.name for f in dataclasses.fields(Stack)}}
    # Validation samples as the paper does (DDIM), not with the base folder's own scheduler (SDXL: Euler).
    scheduler = DDIMScheduler.from_config(sdxl.scheduler.config)
    return Stack(**{**parts, "scheduler": scheduler, "image_encoder": encoder})


def initial_adapter(config: TrainConfig, stack: Stack) -> IdentityAdapter:
    """``config.init_adapter`` (a RealisID or InstantID-style folder), or fresh branches from the U-Net."""
    if config.init_adapter:
        return load_adapter(config.init_adapter, unet=stack.unet)
    adapter_config = tiny_adapter_config() if config.tiny else None
    return RealisIDAdapter.from_unet(stack.unet, adapter_config, image_encoder=stack.image_encoder)


def train(config: TrainConfig, stack: Stack | None = None) -> TrainResult:
    """Runs ``config``; writes checkpoints, logs and the final ``OUTPUT_DIR/adapter/``."""
    out = config.output
    accelerator = Accelerator(
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        mixed_precision=config.mixed_precision,
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
    )
    per_process = config.batch_size // (accelerator.num_processes * config.gradient_accumulation_steps)
    if per_process * accelerator.num_processes * config.gradient_accumulation_steps != config.batch_size:
        raise RealisIDError(
            f"batch_size {config.batch_size} is not divisible by {accelerator.num_processes} processes × "
            f"{config.gradient_accumulation_steps} accumulation steps"
        )
    if config.data is None:
        raise RealisIDError("no training data: give --data SHARDS (written by `realisid prepare`)")
    shards = list_shards(config.data, config.resolution)

    stack = stack or load_stack(config)
    adapter = initial_adapter(config, stack)
    weight_dtype = _DTYPES[config.mixed_precision]
    for module in (stack.unet, stack.text_encoder, stack.text_encoder_2, stack.image_encoder, stack.vae):
        module.requires_grad_(False).eval().to(accelerator.device)
        if module is not stack.vae and weight_dtype != torch.float32:  # SDXL's VAE overflows in fp16
            module.to(dtype=weight_dtype)
    if config.gradient_checkpointing:
        for net in (stack.unet, *(branch.net for branch in adapter.branches.values())):
            net.enable_gradient_checkpointing()
    adapter.train()
    model = AdapterTrainingModule(adapter, config.branches)
    optimizer = torch.optim.AdamW(
        [parameter for parameter in model.parameters() if parameter.requires_grad],
        lr=config.learning_rate,
        betas=config.adam_betas,
        eps=config.adam_epsilon,
        weight_decay=config.weight_decay,
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    pipe = RealisIDPipeline(**vars(stack), adapter=adapter)
    pipe.set_progress_bar_config(disable=True)
    scheduler = DDPMScheduler.from_config(stack.scheduler.config)
    settings = StepSettings(
        config.lam, config.drop_id, config.drop_text, config.drop_both, config.timestep_sampling
    )

    checkpoints = out / "checkpoints"
    step, position = 0, 0
    if config.resume:
        found = resolve_checkpoint(checkpoints, config.resume)
        if found is None:
            logger.warning("no checkpoint in %s: starting a new run", checkpoints)
        else:
            step, position = load_checkpoint(accelerator, found)
            accelerator.print(f"resumed from {found} at step {step}")
    if config.precompute:
        rank, world = accelerator.process_index, accelerator.num_processes
        precompute_shards(pipe, shards, out / "precomputed", adapter.config.landmark_size, rank, world)
        accelerator.wait_for_everyone()
        shards = list_shards(out / "precomputed", config.resolution)
    stream = ShardStream(
        shards, config.seed, accelerator.process_index, accelerator.num_processes, config.shuffle_buffer
    )
    batches = Batches(stream, per_process, adapter.config.landmark_size, position)
    save_adapter = lambda path: export_adapter(accelerator, model, path)
    if accelerator.is_main_process:
        accelerator.init_trackers("realisid", config=_hparams(config))

    losses: list[float] = []
    micro_step = step * config.gradient_accumulation_steps
    bar = tqdm(
        initial=step, total=config.max_steps, disable=not accelerator.is_local_main_process, desc="train"
    )
    while step < config.max_steps:
        batch = next(batches)
        generator = torch.Generator().manual_seed(
            _step_seed(config.seed, accelerator.process_index, micro_step)
        )
        micro_step += 1
        with accelerator.accumulate(model):
            inputs = frozen_inputs(pipe, scheduler, batch, generator, settings)
            with accelerator.autocast():
                loss, diffusion, face = training_loss(model, stack.unet, inputs, batch, config.lam)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if not accelerator.sync_gradients:
            continue
        step += 1
        losses.append(loss.item())
        bar.update()
        if step % config.log_every == 0 or step == config.max_steps:
            terms = accelerator.reduce(torch.stack([loss, diffusion, face]).detach(), "mean").tolist()
            logs = dict(zip(("loss", "loss/diffusion", "loss/face"), terms))
            logs.update({f"skipped/{reason}": n for reason, n in batches.skipped.items()})
            accelerator.log(logs, step=step)
            bar.set_postfix(loss=f"{terms[0]:.4f}")
        if step % config.checkpoint_every == 0:
            save_checkpoint(
                accelerator, checkpoints, step, batches.position, save_adapter, config.keep_checkpoints
            )
        if config.validation_every and step % config.validation_every == 0 and accelerator.is_main_process:
            validate(pipe, accelerator, config, shards[0], step)
    bar.close()

    final = out / "adapter"
    save_adapter(out / ".tmp-adapter")
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        (out / ".tmp-adapter").rename(final)
        if batches.skipped:
            accelerator.print(f"skipped: {dict(batches.skipped)}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return TrainResult(
        final, adapter, stack, step, losses, dict(batches.skipped), accelerator.is_main_process
    )


def export_adapter(accelerator: Accelerator, model: torch.nn.Module, path: Path) -> None:
    """Writes the trained adapter as an adapter folder. Every process calls it: the full weights are
    gathered (FSDP and DeepSpeed shard them) and the main process writes them."""
    state = accelerator.get_state_dict(model)
    if not accelerator.is_main_process:
        return
    copy = accelerator.unwrap_model(model).adapter.skeleton()
    weights = {key.removeprefix("adapter."): value for key, value in state.items()}
    copy.load_state_dict(weights, strict=True, assign=True)
    copy.save_pretrained(path)


@torch.no_grad()
def validate(
    pipe: RealisIDPipeline, accelerator: Accelerator, config: TrainConfig, shard: Path, step: int
) -> None:
    """Generates one image per validation prompt of the first sample's person; saves and logs them."""
    import numpy as np

    reference = validation_reference(shard)
    folder = config.output / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for index, prompt in enumerate(config.validation_prompts):
        with accelerator.autocast():
            image = pipe(
                prompt,
                persons=[Person(reference)],
                height=config.resolution,
                width=config.resolution,
                num_inference_steps=config.validation_steps,
                generator=torch.Generator().manual_seed(config.seed),
            ).images[0]
        image.save(folder / f"step-{step:08d}-{index}.png")
        images.append(np.asarray(image))
    accelerator.get_tracker("tensorboard").log_images(
        {"validation": np.stack(images)}, step=step, dataformats="NHWC"
    )


def _step_seed(seed: int, process: int, micro_step: int) -> int:
    return ((seed * 1_000_003 + process) * 1_000_000_007 + micro_step) % 2**63


def _hparams(config: TrainConfig) -> dict:
    """The config as TensorBoard hyper-parameters (scalars and strings only)."""
    values = dataclasses.asdict(config)
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in values.items()}
