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
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, ProjectConfiguration
from diffusers import DDPMScheduler
from tqdm.auto import tqdm

from ..errors import RealisIDError
from ..loading import Stack, load_stack, tiny_adapter_config, tiny_stack
from ..models import IdentityAdapter, RealisIDAdapter, load_adapter
from ..persons import Person
from ..pipeline import RealisIDPipeline
from .checkpoints import restore_checkpoint, save_checkpoint, writing
from .config import TrainConfig
from .dataset import Batch, Batches, ShardStream, list_shards, validation_reference
from .loss import prediction_type
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
    """This process's loss at each optimizer step, a resumed run's earlier ones included."""
    skipped: dict[str, int]
    main_process: bool


@dataclass
class TrainingRun:
    """What the steps of :func:`train` share: the accelerator, the models, the data and the current step."""

    config: TrainConfig
    accelerator: Accelerator
    stack: Stack
    adapter: RealisIDAdapter
    model: torch.nn.Module
    """The :class:`AdapterTrainingModule`, as accelerate wrapped it (DDP, FSDP, DeepSpeed)."""
    optimizer: torch.optim.Optimizer
    pipe: RealisIDPipeline
    shards: list[Path]
    per_process: int
    """Samples per process and micro-step."""
    step: int = 0
    position: int = 0
    """Where this process's data stream starts: raw samples read before the resumed checkpoint."""
    losses: list[float] = field(default_factory=list)
    """This process's loss at each step so far (restored with a checkpoint)."""

    @property
    def process(self) -> int:
        return self.accelerator.process_index

    @property
    def checkpoints(self) -> Path:
        return self.config.output / "checkpoints"

    @cached_property
    def noise_scheduler(self) -> DDPMScheduler:
        """The noise added in training: DDPM with the base scheduler's configuration."""
        return DDPMScheduler.from_config(self.stack.scheduler.config)

    @cached_property
    def settings(self) -> StepSettings:
        """Eq. 7's λ, the condition dropout and the timestep sampling of every step."""
        config = self.config
        return StepSettings(
            config.lam, config.drop_id, config.drop_text, config.drop_both, config.timestep_sampling
        )

    def save_adapter(self, path: Path) -> None:
        """Writes the adapter being trained to ``path``; every process calls it (:func:`export_adapter`)."""
        export_adapter(self.accelerator, self.model, path)


def frozen_stack(config: TrainConfig) -> Stack:
    """The frozen models: the tiny stack, or the base model of ``config.base`` with its ID encoder."""
    return tiny_stack(config.seed) if config.tiny else load_stack(config.base, config.image_encoder)


def initial_adapter(config: TrainConfig, stack: Stack) -> IdentityAdapter:
    """``config.init_adapter`` (a RealisID or InstantID-style folder), or fresh branches from the U-Net."""
    if config.init_adapter:  # trained in fp32 (mixed precision autocasts), whatever it was stored in
        return load_adapter(config.init_adapter, unet=stack.unet).float()
    adapter_config = tiny_adapter_config() if config.tiny else None
    return RealisIDAdapter.from_unet(stack.unet, adapter_config, image_encoder=stack.image_encoder)


def train(config: TrainConfig, stack: Stack | None = None) -> TrainResult:
    """Runs ``config``; writes checkpoints, logs and the final ``OUTPUT_DIR/adapter/``."""
    if config.cpu_threads:
        torch.set_num_threads(config.cpu_threads)
    run = _set_up(config, stack)
    _resume(run)
    _precompute(run)
    batches = _batches(run)
    _train_steps(run, batches)
    return _export(run, batches)


def _set_up(config: TrainConfig, stack: Stack | None) -> TrainingRun:
    """The accelerator, the shards, the frozen models on the accelerator's device and the adapter with
    its optimizer; bad batch sizes and missing data fail before any model loads."""
    accelerator, per_process = _accelerator(config)
    if config.data is None:
        raise RealisIDError("no training data: give --data SHARDS (written by `realisid prepare`)")
    shards = list_shards(config.data, config.resolution)

    stack = stack or frozen_stack(config)
    prediction_type(stack.scheduler)
    adapter = initial_adapter(config, stack)
    _freeze(stack, accelerator.device, _DTYPES[config.mixed_precision])
    # DeepSpeed and FSDP keep the trained weights in flat buffers, which take only contiguous ones
    flat = accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)
    for net in (stack.unet, *(branch.net for branch in adapter.branches.values())):
        if config.gradient_checkpointing:
            net.enable_gradient_checkpointing()
        if config.channels_last and not flat:
            net.to(memory_format=torch.channels_last)
    adapter.train()
    model = AdapterTrainingModule(adapter, config.branches)
    model, optimizer = accelerator.prepare(model, _optimizer(config, model))
    pipe = RealisIDPipeline(**vars(stack), adapter=adapter)
    pipe.set_progress_bar_config(disable=True)
    return TrainingRun(config, accelerator, stack, adapter, model, optimizer, pipe, shards, per_process)


def _accelerator(config: TrainConfig) -> tuple[Accelerator, int]:
    """The accelerator, logging to ``OUTPUT_DIR/logs``, and the samples per process and micro-step."""
    accelerator = Accelerator(
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        mixed_precision=config.mixed_precision,
        log_with="tensorboard",
        project_config=ProjectConfiguration(
            project_dir=str(config.output), logging_dir=str(config.output / "logs")
        ),
    )
    per_process = config.batch_size // (accelerator.num_processes * config.gradient_accumulation_steps)
    if per_process * accelerator.num_processes * config.gradient_accumulation_steps != config.batch_size:
        raise RealisIDError(
            f"batch_size {config.batch_size} is not divisible by {accelerator.num_processes} processes × "
            f"{config.gradient_accumulation_steps} accumulation steps"
        )
    if accelerator.state.deepspeed_plugin is not None:  # DeepSpeed asks; the loop reads its own batches
        accelerator.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = per_process
    return accelerator, per_process


def _freeze(stack: Stack, device: torch.device, dtype: torch.dtype) -> None:
    """Moves SDXL and the ID encoder to ``device``, frozen, in ``dtype`` whatever dtype they were stored
    in (the VAE in fp32: SDXL's overflows in fp16)."""
    for module in (stack.unet, stack.text_encoder, stack.text_encoder_2, stack.image_encoder, stack.vae):
        module.requires_grad_(False).eval().to(device, torch.float32 if module is stack.vae else dtype)


def _optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """AdamW over ``model``'s trainable parameters: PyTorch's, or bitsandbytes' with 8-bit states."""
    adamw = torch.optim.AdamW
    if config.optimizer == "adamw8bit":
        try:
            from bitsandbytes.optim import AdamW8bit as adamw
        except ImportError:
            raise RealisIDError("optimizer adamw8bit needs bitsandbytes: pip install 'realisid[scale]'") from None
    return adamw(
        [parameter for parameter in model.parameters() if parameter.requires_grad],
        lr=config.learning_rate,
        betas=config.adam_betas,
        eps=config.adam_epsilon,
        weight_decay=config.weight_decay,
    )


def _resume(run: TrainingRun) -> None:
    """With ``config.resume``, restores the checkpoint it names: weights, optimizer, RNG states, step
    and data position."""
    if not run.config.resume:
        return
    restored = restore_checkpoint(run.accelerator, run.checkpoints, run.config.resume)
    if restored is None:
        logger.warning("no checkpoint in %s: starting a new run", run.checkpoints)
        return
    found, run.step, run.position, run.losses = restored
    run.accelerator.print(f"resumed from {found} at step {run.step}")


def _precompute(run: TrainingRun) -> None:
    """With ``config.precompute``, encodes the frozen outputs once into ``OUTPUT_DIR/precomputed/`` and
    trains on those shards."""
    if not run.config.precompute:
        return
    folder, world = run.config.output / "precomputed", run.accelerator.num_processes
    precompute_shards(
        run.pipe, run.shards, folder, run.adapter.config.landmark_size, run.config.resolution, run.process, world
    )
    run.accelerator.wait_for_everyone()
    run.shards = list_shards(folder, run.config.resolution)


def _batches(run: TrainingRun) -> Batches:
    """This process's batches, from its saved position in the data stream on."""
    config = run.config
    stream = ShardStream(
        run.shards, config.seed, run.process, run.accelerator.num_processes, config.shuffle_buffer
    )
    return Batches(stream, run.per_process, run.adapter.config.landmark_size, run.position, config.resolution)


def _train_steps(run: TrainingRun, batches: Batches) -> None:
    """Trains from ``run.step`` to ``config.max_steps``, adding each step's loss to ``run.losses``."""
    config, accelerator = run.config, run.accelerator
    if accelerator.is_main_process:
        accelerator.init_trackers("realisid", config=_hparams(config))
    micro_step = run.step * config.gradient_accumulation_steps
    bar = tqdm(
        initial=run.step, total=config.max_steps, disable=not accelerator.is_local_main_process, desc="train"
    )
    while run.step < config.max_steps:
        terms = _micro_step(run, next(batches), micro_step)
        micro_step += 1
        if accelerator.sync_gradients:
            run.step += 1
            run.losses.append(terms[0].item())
            bar.update()
            _after_step(run, batches, terms, bar)
    bar.close()


def _micro_step(run: TrainingRun, batch: Batch, micro_step: int) -> tuple[torch.Tensor, ...]:
    """Forward and backward of one micro-batch, its random draws seeded by (seed, process, micro-step);
    the optimizer steps once gradients sync. Returns ``(loss, diffusion_term, face_term)``."""
    config, accelerator = run.config, run.accelerator
    generator = torch.Generator().manual_seed(_step_seed(config.seed, run.process, micro_step))
    with accelerator.accumulate(run.model):
        inputs = frozen_inputs(run.pipe, run.noise_scheduler, batch, generator, run.settings)
        with accelerator.autocast():
            terms = training_loss(run.model, run.stack.unet, inputs, batch, config.lam)
        accelerator.backward(terms[0])
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(run.model.parameters(), config.max_grad_norm)
        run.optimizer.step()
        run.optimizer.zero_grad(set_to_none=True)
    return terms


def _after_step(run: TrainingRun, batches: Batches, terms: tuple[torch.Tensor, ...], bar: tqdm) -> None:
    """Logs the loss terms (averaged over processes) and skipped samples, writes a checkpoint and
    validation images, each at the steps ``config`` asks for."""
    config, accelerator, step = run.config, run.accelerator, run.step
    if step % config.log_every == 0 or step == config.max_steps:
        means = accelerator.reduce(torch.stack(terms).detach(), "mean").tolist()
        logs = dict(zip(("loss", "loss/diffusion", "loss/face"), means))
        logs.update({f"skipped/{reason}": n for reason, n in batches.skipped.items()})
        accelerator.log(logs, step=step)
        bar.set_postfix(loss=f"{means[0]:.4f}")
    if step % config.checkpoint_every == 0:
        keep = config.keep_checkpoints
        position = batches.position
        save_checkpoint(accelerator, run.checkpoints, step, position, run.save_adapter, keep, run.losses)
    if config.validation_every and step % config.validation_every == 0 and accelerator.is_main_process:
        validate(run.pipe, accelerator, config, run.shards[0], step)


def _export(run: TrainingRun, batches: Batches) -> TrainResult:
    """Writes the final adapter to ``OUTPUT_DIR/adapter/``, replacing an older one, and ends the run."""
    out, accelerator = run.config.output, run.accelerator
    final = out / "adapter"
    with writing(accelerator, out / ".tmp-adapter", f"the adapter {final}"):
        run.save_adapter(out / ".tmp-adapter")
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        (out / ".tmp-adapter").rename(final)
        if batches.skipped:
            accelerator.print(f"skipped: {dict(batches.skipped)}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return TrainResult(
        final, run.adapter, run.stack, run.step, run.losses, dict(batches.skipped), accelerator.is_main_process
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
