"""realisid prepare SOURCE --out SHARDS: a captioned photo collection → training shards."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import RealisIDError


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..training.samples import PrepareSettings

    defaults = PrepareSettings()
    parser = subparsers.add_parser(
        "prepare",
        help="turn captioned photos into training shards (face box, landmarks, mask, c_p&e, c_loc)",
        description=__doc__,
    )
    parser.add_argument(
        "source", type=Path, help="folder of photos with sidecar .txt captions, or a .jsonl/.csv"
    )
    parser.add_argument("--out", type=Path, required=True, metavar="SHARDS", help="output folder")
    parser.add_argument(
        "--resolution", type=int, default=defaults.resolution, help="training image side (px)"
    )
    parser.add_argument(
        "--crop-size", type=int, default=defaults.crop_size, help="masked face crop side (px)"
    )
    parser.add_argument(
        "--landmark-size", type=int, default=defaults.landmark_size, help="c_p&e side (px, 8L)"
    )
    parser.add_argument(
        "--min-face", type=float, default=defaults.min_face, help="smallest face kept (box side / image side)"
    )
    parser.add_argument(
        "--dominance",
        type=float,
        default=defaults.dominance,
        help="with several faces keep the largest only if its side is this many times the next one's",
    )
    parser.add_argument("--shard-size", type=int, default=1000, help="photos per shard")
    parser.add_argument(
        "--shards", type=_shard_range, metavar="START:STOP", help="only these shards (split machines)"
    )
    parser.add_argument("--workers", type=int, help="worker processes (default: all cores)")
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

    if args.shard_size < 1 or args.resolution < 8 or args.resolution % 8:
        raise RealisIDError("--shard-size must be positive and --resolution a positive multiple of 8")
    settings = PrepareSettings(
        args.resolution, args.crop_size, args.landmark_size, args.min_face, args.dominance
    )
    manifest = prepare(args.source, args.out, settings, args.shard_size, args.shards, args.workers)
    done = len(manifest["shards"])
    print(
        f"{args.out}: {manifest['samples']} samples from {manifest['photos']} photos in {done} of "
        f"{manifest['total_shards']} shards"
    )
    for reason, count in manifest["skipped"].items():
        print(f"  skipped {count:>6}  {reason}")
    return 0
