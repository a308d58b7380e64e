"""realisid train --data SHARDS --output-dir DIR: train RealisID's branches and projection.

Runs under `accelerate launch` for several GPUs or machines (DeepSpeed and FSDP through
accelerate's own config). Defaults are the paper's; --config FILE (YAML) and --set key=value
change any key of the training config (realisid.training.TrainConfig; docs/training.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

# Flags that set a config key of the same name: key → (type, help).
_FLAGS = {
    "data": (str, "folder of shards written by `realisid prepare`"),
    "output_dir": (str, "checkpoints, logs, validation images and the final adapter/"),
    "max_steps": (int, "optimizer steps to train for"),
    "checkpoint_every": (int, "steps between checkpoints"),
    "resume": (str, "'latest' or a checkpoint folder"),
    "batch_size": (int, "samples per optimizer step over all processes (paper: 16)"),
    "mixed_precision": (str, "no, fp16 or bf16"),
    "seed": (int, "seed of the data order, noise and dropout"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train the branches and projection on prepared shards (accelerate)", description=__doc__
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="YAML file of config keys")
    for key, (kind, text) in _FLAGS.items():
        parser.add_argument(
            f"--{key.replace('_', '-')}", dest=key, type=kind, metavar=key.split("_")[-1].upper(), help=text
        )
    parser.add_argument(
        "--tiny", action="store_const", const=True,
        help="the offline tiny stack, smoke-sized (small images, batch and step count) unless set",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config key (repeatable), e.g. lam=0.5",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..training import load_config, train
    from ..training.config import parse_override

    overrides = dict(parse_override(item) for item in args.set)
    overrides.update({key: getattr(args, key) for key in (*_FLAGS, "tiny") if getattr(args, key) is not None})
    result = train(load_config(args.config, overrides))
    if result.main_process:
        print(f"trained {result.step} steps; adapter written to {result.adapter_dir}")
    return 0
