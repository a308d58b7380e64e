"""realisid prepare SOURCE --out SHARDS: a captioned photo collection → training shards."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..errors import RealisIDError, whole_number


def register(subparsers: argparse._SubParsersAction) -> None:
    # Defaults (None) come from PrepareSettings at run time: importing the training package here would
    # load diffusers for every realisid command.
    parser = subparsers.add_parser(
        "prepare",
        help="turn captioned photos into training shards (face box, landmarks, mask, c_p&e, c_loc)",
        description=__doc__,
    )
    parser.add_argument(
        "source", type=Path, help="folder of photos with sidecar .txt captions, or a .jsonl/.csv"
    )
    parser.add_argument("--out", type=Path, required=True, metavar="SHARDS", help="output folder")
    settings = parser.add_argument_group("sample settings (defaults: realisid.training.PrepareSettings)")
    settings.add_argument("--resolution", type=int, help="training image side (px)")
    settings.add_argument("--crop-size", type=int, help="masked face crop side (px)")
    settings.add_argument("--landmark-size", type=int, help="c_p&e side (px, 8L)")
    settings.add_argument(
        "--min-face", type=float, help="smallest face kept (box side / training image side)"
    )
    settings.add_argument(
        "--dominance",
        type=float,
        help="with several faces keep the largest only if its side is this many times the next one's",
    )
    parser.add_argument("--shard-size", type=int, default=1000, help="photos per shard")
    parser.add_argument(
        "--shards", type=_shard_range, metavar="START:STOP", help="only these shards (split machines)"
    )
    parser.add_argument("--workers", type=int, help="local worker processes (default: all cores)")
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: worker processes on this machine; ray: one task per shard on a Ray cluster "
        "(pip install 'realisid[cluster]'; --out and the photos on a folder every node mounts)",
    )
    parser.add_argument(
        "--ray-address", metavar="ADDR", help="Ray cluster to join (default: RAY_ADDRESS, else a local one)"
    )
    parser.set_defaults(run=run)


def _shard_range(text: str) -> range:
    start, sep, stop = text.partition(":")
    try:
        return range(int(start), int(stop)) if sep else range(int(start), int(start) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:STOP, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from ..training.data import prepare
    from ..training.samples import PrepareSettings

    given = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(PrepareSettings)
        if getattr(args, field.name) is not None
    }
    settings = PrepareSettings(**given)
    whole_number("--shard-size", args.shard_size, 1)
    if args.workers is not None:
        whole_number("--workers", args.workers, 1)
    manifest = prepare(
        args.source, args.out, settings, args.shard_size, args.shards, args.workers, runner=_runner(args)
    )
    done = len(manifest["shards"])
    print(
        f"{args.out}: {manifest['samples']} samples from {manifest['photos']} photos in {done} of "
        f"{manifest['total_shards']} shards"
    )
    for reason, count in manifest["skipped"].items():
        print(f"  skipped {count:>6}  {reason}")
    return 0


def _runner(args: argparse.Namespace):
    """The shard runner of ``--engine`` (``None``: local worker processes)."""
    if args.engine == "local":
        if args.ray_address is not None:
            raise RealisIDError("--ray-address needs --engine ray")
        return None
    if args.workers is not None:
        raise RealisIDError("--workers is for --engine local; Ray runs a shard on each CPU of its cluster")
    from ..training.cluster import ray_runner

    return ray_runner(args.ray_address)
