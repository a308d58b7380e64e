"""The GPU table of ``docs/performance.md``: per 1024² image in fp16, and one training step in bf16.

    bash benchmarks/gpu.sh                 # one GPU (about 6 minutes on an H100); splices the table in
    bash benchmarks/gpu.sh --dry-run       # tiny stack on the CPU: every case end to end, in seconds

Inference: SDXL, the InstantID-style baseline, RealisID as in the paper and RealisID's efficient
mode, for 1 and 2 persons, resident on the device and with ``enable_model_cpu_offload()``: seconds
per denoising step with the ID (median of the step intervals), per image (the whole call) and peak
allocated device memory. Training: one optimizer step of ``realisid train`` at batch 2, bf16, with
gradient checkpointing. Every network is the real configuration with random weights (speed and
memory do not depend on weight values); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import diffusers
import torch
from diffusers import StableDiffusionXLPipeline
from speed import adapter_config, random_stack, timed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from realisid.faces import extract_conditions
from realisid.faces.samples import astronaut, grace_hopper
from realisid.guidance import delayed_steps
from realisid.loading import Stack
from realisid.models import IdentityAdapter, InstantIDStyleAdapter, RealisIDAdapter, RealisIDConfig
from realisid.persons import Person
from realisid.pipeline import RealisIDPipeline
from realisid.presets import EFFICIENT_ADAPTER, EFFICIENT_SAMPLING
from realisid.sampling import SamplingOptions
from realisid.training import PrepareSettings, load_config, prepare
from realisid.training.loop import _batches, _micro_step, _set_up
from tests._training_support import photo_folder

BEGIN, END = "<!-- gpu-table:begin -->", "<!-- gpu-table:end -->"
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


@dataclass(frozen=True)
class Model:
    """A compared model: its adapter class (``None``: SDXL alone) and its overrides of the adapter
    config and of the sampling options, so a mode is data."""

    name: str
    adapter: type[IdentityAdapter] | None = None
    config: dict = field(default_factory=dict)
    sampling: dict = field(default_factory=dict)


def models(config: RealisIDConfig) -> list[Model]:
    """SDXL, the InstantID-style baseline, RealisID as in the paper, and its efficient mode
    (:data:`realisid.presets.EFFICIENT_ADAPTER` and :data:`~realisid.presets.EFFICIENT_SAMPLING`)."""
    return [
        Model("SDXL"),
        Model("InstantID-style", InstantIDStyleAdapter),
        Model("RealisID, paper-exact", RealisIDAdapter),
        Model("RealisID, efficient", RealisIDAdapter, EFFICIENT_ADAPTER, EFFICIENT_SAMPLING),
    ]


@dataclass
class Measured:
    step_s: float
    image_s: float
    peak_gib: float


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def generate(pipe, model: Model, persons: list[Person], size: int, steps: int, device: str) -> Measured:
    """One timed call: seconds per step with the ID (median of the intervals), per image, peak memory."""
    stamps: list[float] = []

    def stamp(pipe, step, timestep, tensors) -> dict:
        synchronize(device)
        stamps.append(time.perf_counter())
        return {}

    common = {"height": size, "width": size, "callback_on_step_end": stamp}
    sampling = SamplingOptions(num_inference_steps=steps).replace(**model.sampling)
    if model.adapter is None:
        call = lambda: pipe("a photo of a person", num_inference_steps=steps, guidance_scale=7.5, **common)
        with_id_from = 0
    else:
        call = lambda: pipe("a photo of a person", persons, sampling=sampling, **common)
        with_id_from = delayed_steps(steps, sampling.id_start)
    seconds, peak = timed(call, device)
    intervals = [stamps[i] - stamps[i - 1] for i in range(max(1, with_id_from + 1), len(stamps))]
    return Measured(statistics.median(intervals) if intervals else seconds / steps, seconds, peak)


def people(counts: list[int]) -> dict[int, list[Person]]:
    """For each count, that many persons side by side (two reference photos, faces 1/6 of the side)."""
    references = [extract_conditions(astronaut()), extract_conditions(grace_hopper())]
    return {
        n: [Person(references[p % 2], box=(0.25 + 0.5 * (p % 2), 0.3, 1 / 6)) for p in range(n)]
        for n in counts
    }


def pipeline(stack: Stack, adapter: IdentityAdapter | None):
    """SDXL's own pipeline over ``stack`` (``adapter`` ``None``: no image encoder), else RealisID's."""
    if adapter is None:
        parts = {k: v for k, v in vars(stack).items() if k != "image_encoder"}
        pipe = StableDiffusionXLPipeline(**parts, add_watermarker=False)
    else:
        pipe = RealisIDPipeline(**vars(stack), adapter=adapter)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def inference(stack: Stack, config: RealisIDConfig, args: argparse.Namespace) -> list[tuple]:
    """Rows ``(model, persons, offload, Measured)``: every model resident on the device, then offloaded."""
    dtype = DTYPES[args.dtype]
    adapters: dict[str, IdentityAdapter | None] = {}
    cases = [(m, p) for m in models(config) for p in ([0] if m.adapter is None else args.persons)]
    rows, persons_of = [], people([0, *args.persons])
    for model, persons in cases:  # resident: only this case's modules on the device
        if model.name not in adapters:
            adapters[model.name] = None
            if model.adapter is not None:
                with torch.device(args.device):
                    built = model.adapter.from_unet(stack.unet, dataclasses.replace(config, **model.config))
                adapters[model.name] = built.to(dtype)
        pipe = pipeline(stack, adapters[model.name]).to(args.device, dtype)
        if model.adapter is None:
            stack.image_encoder.to("cpu")
        generate(pipe, model, persons_of[persons], args.size, 1, args.device)  # warm-up
        runs = [
            generate(pipe, model, persons_of[persons], args.size, args.steps, args.device)
            for _ in range(args.rounds)
        ]
        step_s, image_s = (
            statistics.median(getattr(run, key) for run in runs) for key in ("step_s", "image_s")
        )
        rows.append((model.name, persons, "no", Measured(step_s, image_s, max(run.peak_gib for run in runs))))
        if adapters[model.name] is not None:
            adapters[model.name].to("cpu")
        del pipe
        free(args.device)
    for module in vars(stack).values():
        if isinstance(module, torch.nn.Module):
            module.to("cpu")
    for model, persons in cases:  # offloaded: model CPU offload as diffusers does it
        pipe = pipeline(stack, adapters[model.name])
        pipe.enable_model_cpu_offload(device=args.device)
        rows.append(
            (
                model.name,
                persons,
                "yes",
                generate(pipe, model, persons_of[persons], args.size, args.steps, args.device),
            )
        )
        pipe.remove_all_hooks()
        del pipe
        free(args.device)
    return rows


def training(stack: Stack, config: RealisIDConfig, args: argparse.Namespace, root: Path) -> Measured:
    """One optimizer step of ``realisid train`` (batch 2, bf16, gradient checkpointing), after one warm-up
    step that allocates the optimizer states: seconds and peak memory of the median step."""
    prepare(
        photo_folder(root / "photos"),
        root / "shards",
        PrepareSettings(resolution=args.size, landmark_size=config.landmark_size),
        shard_size=4,
        workers=1,
        progress=False,
    )
    overrides = {
        "tiny": args.dry_run,
        "data": str(root / "shards"),
        "output_dir": str(root / "run"),
        "resolution": args.size,
        "batch_size": 2,
        "mixed_precision": "bf16",
        "gradient_checkpointing": True,
        "optimizer": args.optimizer,
        "log_every": 10**6,
        "checkpoint_every": 10**6,
    }
    with torch.device(args.device):  # the adapter is made where it trains
        run = _set_up(load_config(overrides=overrides), stack)
    batches = _batches(run)
    _micro_step(run, next(batches), 0)
    runs = []
    for micro_step in range(1, args.rounds + 1):
        batch = next(batches)
        runs.append(timed(lambda batch=batch, i=micro_step: _micro_step(run, batch, i), args.device))
    seconds, peak = sorted(runs)[len(runs) // 2]
    return Measured(seconds, seconds, peak)


def free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def table(rows: list[tuple], train: Measured, args: argparse.Namespace) -> str:
    card = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU (dry run: tiny stack)"
    sdxl = {offload: m.image_s for name, _, offload, m in rows if name == "SDXL"}
    lines = [
        (
            f"**{card}** · torch {torch.__version__} · diffusers {diffusers.__version__} · {args.dtype} · "
            f"{args.size}² · {args.steps} DDIM steps · median of {args.rounds} calls (offloaded: one) · {date.today()}"
        ),
        "",
        "| model | persons | offload | s / step (with ID) | s / image | × SDXL (image) | peak GiB |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for name, persons, offload, m in rows:
        lines.append(
            f"| {name} | {persons or '–'} | {offload} | {m.step_s:.3f} | {m.image_s:.2f} | "
            f"{m.image_s / sdxl[offload]:.2f} | {m.peak_gib:.1f} |"
        )
    lines += [
        "",
        "| training step (`realisid train`) | s / step | peak GiB |",
        "|---|---:|---:|",
        (
            f"| batch 2, {args.size}², bf16, gradient checkpointing, {args.optimizer} | {train.step_s:.2f} | "
            f"{train.peak_gib:.1f} |"
        ),
    ]
    return "\n".join(lines)


def splice(path: Path, text: str) -> None:
    """Replaces what stands between the markers in ``path`` with ``text``."""
    document = path.read_text()
    head, begin, rest = document.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not (begin and end):
        raise SystemExit(f"{path} has no {BEGIN} … {END} markers")
    path.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny stack, fp32, 64², 2 steps, on the CPU")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="fp16", help="inference precision")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument(
        "--rounds", type=int, default=2, help="timed calls per resident case and training steps"
    )
    parser.add_argument("--persons", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--optimizer", choices=("adamw", "adamw8bit"), default="adamw")
    parser.add_argument(
        "--splice", type=Path, help="write the table between the markers of this Markdown file"
    )
    args = parser.parse_args()
    if args.dry_run:
        args.device, args.dtype, args.size, args.steps, args.rounds = "cpu", "fp32", 64, 2, 1
    elif not torch.cuda.is_available():
        raise SystemExit("no GPU: run with --dry-run for the tiny stack on the CPU")
    stack_name = "tiny" if args.dry_run else "sdxl"
    stack, config = random_stack(stack_name, args.device), adapter_config(stack_name)
    rows = inference(stack, config, args)
    with tempfile.TemporaryDirectory() as tmp:
        train = training(stack, config, args, Path(tmp))
    text = table(rows, train, args)
    print(text)
    if args.splice:
        splice(args.splice, text)


if __name__ == "__main__":
    main()
