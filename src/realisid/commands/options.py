"""What the generating commands (``demo``, ``generate``, ``app``) share: which models run, how they
sample, and where they write. The rule for the models is written once, in :func:`load_models`."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import RealisIDError
from ..sampling import SamplingOptions

MODELS_RULE = (
    "Models: with no --base, the toy weights that ship with realisid (a toy SDXL and RealisID trained from "
    "scratch on rendered people; --adapter swaps in another adapter trained on that base); --tiny, the "
    "offline tiny stack with random weights (shapes only: its images are noise); --base SDXL --adapter "
    "ADAPTER, real weights."
)
"""The rule, as printed at the end of each generating command's --help."""


def torch_device(name: str) -> str:
    """``--device``'s type: ``name`` when this machine has that torch device, else argparse's one-line error."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{name!r} is not a torch device (cpu, cuda, cuda:1, mps)") from None
    count = {"cpu": 1, "cuda": torch.cuda.device_count(), "mps": int(torch.backends.mps.is_available())}
    if count.get(device.type, 1) <= (device.index or 0):
        raise argparse.ArgumentTypeError(f"{name!r}: this machine has no such device")
    return name


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model", MODELS_RULE)
    group.add_argument("--base", help="SDXL base model: hub id or folder (needs --adapter)")
    group.add_argument("--adapter", help="trained RealisID adapter folder")
    group.add_argument("--image-encoder", help="CLIP ViT-H/14 vision model folder or hub id (with --base)")
    group.add_argument("--tiny", action="store_true", help="the offline tiny stack (random weights)")
    group.add_argument("--device", default="cpu", type=torch_device, help="torch device (default: cpu)")
    group.add_argument("--fp16", action="store_true", help="half precision (GPU)")


def add_sampling_arguments(parser: argparse.ArgumentParser, defaults: SamplingOptions | None = None) -> None:
    """The fields of :class:`SamplingOptions`, with ``defaults`` (default: the paper's) as their defaults."""
    defaults = defaults or SamplingOptions()
    group = parser.add_argument_group("sampling")
    group.add_argument("--steps", type=int, default=defaults.num_inference_steps,
                       help=f"DDIM steps (default: {defaults.num_inference_steps})")
    group.add_argument("--text-scale", type=float, default=defaults.text_scale,
                       help=f"λ_t of Eq. 8 (default: {defaults.text_scale})")
    group.add_argument("--id-scale", type=float, default=defaults.id_scale,
                       help=f"λ_i of Eq. 8 (default: {defaults.id_scale})")
    group.add_argument("--id-start", type=float, default=defaults.id_start,
                       help=f"fraction of the steps before the ID joins (default: {defaults.id_start})")
    group.add_argument("--local-scale", type=float, default=defaults.local_scale,
                       help=f"local branch weight, 0 = off (default: {defaults.local_scale})")
    group.add_argument("--global-scale", type=float, default=defaults.global_scale,
                       help=f"global branch weight, 0 = off (default: {defaults.global_scale})")
    group.add_argument("--id-stop", type=float, default=defaults.id_stop,
                       help=f"fraction of the steps after which the ID guidance row stops "
                            f"(0.8: the efficient mode; default: {defaults.id_stop})")


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("image")
    group.add_argument("--height", type=int, default=None, help="pixels, a multiple of 8 (default: the models' size)")
    group.add_argument("--width", type=int, default=None, help="pixels, a multiple of 8 (default: the models' size)")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--num-images", type=int, default=1)


def sampling_options(args: argparse.Namespace) -> SamplingOptions:
    """The sampling the command line asks for (a one-line error for a bad value)."""
    named = {name: getattr(args, name) for name in SamplingOptions.names() if name != "num_inference_steps"}
    return SamplingOptions(num_inference_steps=args.steps, **named)


@dataclass
class Models:
    """The pipeline the command line asks for, which kind it is and its native image side."""

    pipe: object
    kind: Literal["toy", "tiny", "sdxl"]
    side: int


SIDES = {"tiny": 256, "sdxl": 1024}
"""The image side the tiny stack and SDXL draw by default (the toy weights: the side they were trained at)."""


def native_side(kind: Literal["toy", "tiny", "sdxl"]) -> int:
    """The image side ``kind`` of models draws by default."""
    if kind == "toy":
        from realisid_toy.shipped import toy_world

        return toy_world().size
    return SIDES[kind]


def model_kind(args: argparse.Namespace) -> Literal["toy", "tiny", "sdxl"]:
    """Which models :data:`MODELS_RULE` picks for these arguments."""
    if args.base is not None and args.tiny:
        raise RealisIDError("--base and --tiny exclude each other: --tiny is the random tiny stack")
    if args.image_encoder is not None and args.base is None:
        raise RealisIDError("--image-encoder needs --base: the toy weights and the tiny stack bring their own")
    if args.base is not None:
        if args.adapter is None:
            raise RealisIDError("--base needs --adapter: the folder of a trained RealisID adapter")
        return "sdxl"
    return "tiny" if args.tiny else "toy"


def load_models(args: argparse.Namespace) -> Models:
    """Loads the models :data:`MODELS_RULE` picks, on ``--device`` (fp16 with ``--fp16``)."""
    import torch

    from ..pipeline import RealisIDPipeline, tiny_pipeline

    kind = model_kind(args)
    dtype = torch.float16 if args.fp16 else None
    if kind == "sdxl":
        pipe = RealisIDPipeline.from_pretrained(args.base, args.adapter, args.image_encoder, dtype)
    elif kind == "tiny":
        pipe = tiny_pipeline(args.seed, args.adapter).to(dtype=dtype)
    else:
        from realisid_toy.shipped import toy_pipeline

        pipe = toy_pipeline(adapter=args.adapter).to(dtype=dtype)
    pipe.set_progress_bar_config(disable=None)  # the denoising bar, on a terminal
    return Models(pipe.to(args.device), kind, native_side(kind))


def check_output_folder(out: Path, option: str = "--out") -> None:
    """A one-line error, before any work, for an ``option`` folder that cannot become a folder of results."""
    existing = next(path for path in (out, *out.parents) if path.exists())
    if not existing.is_dir():
        raise RealisIDError(f"{option} {out}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise RealisIDError(f"{option} {out}: {existing} is not writable")
