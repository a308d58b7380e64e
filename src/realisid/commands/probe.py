"""realisid probe --config FILE --adapter DIR: does a trained adapter read its conditions?

Prints Eq. 7's terms on the training shards with no adapter, with each sample's own ID, landmarks
and box, and with another sample's. FILE is the run's training config; DIR its adapter/ or a
checkpoints/step-N/adapter folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import torch_device


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe", help="how much a trained adapter reads its ID, landmarks and box", description=__doc__
    )
    parser.add_argument("--config", type=Path, metavar="FILE", required=True, help="the run's YAML config")
    parser.add_argument("--adapter", type=Path, metavar="DIR", required=True, help="the adapter folder to probe")
    parser.add_argument("--batches", type=int, default=8, metavar="N", help="batches to average over (default 8)")
    parser.add_argument(
        "--device", default=None, type=torch_device, help="torch device (default: cuda when there is one)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..training import load_config
    from ..training.config import parse_override
    from ..training.probe import markdown_table, probe

    config = load_config(args.config, dict(parse_override(item) for item in args.set))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(markdown_table(probe(config, args.adapter, args.batches, device)))
    return 0
