"""Steps per second and peak memory of the tiny training run (CPU), and prepare throughput.

    python benchmarks/train_speed.py [--steps 20] [--resolution 64] [--batch 2]

Builds the test photo collection from photos shipped in packages, prepares it, and trains the tiny
stack through ``realisid.training.train``; peak memory is the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from realisid.training import PrepareSettings, load_config, prepare, train
from tests._training_support import photo_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photos = photo_folder(root / "photos")
        started = time.perf_counter()
        manifest = prepare(
            photos,
            root / "shards",
            PrepareSettings(resolution=args.resolution, landmark_size=128),
            shard_size=4,
            workers=1,
            progress=False,
        )
        prepare_s = time.perf_counter() - started
        overrides = {
            "tiny": True,
            "data": str(root / "shards"),
            "resolution": args.resolution,
            "batch_size": args.batch,
            "checkpoint_every": 10**6,
            "log_every": 10**6,
        }
        seconds = {}
        for steps in (1, args.steps + 1):  # the difference leaves out imports, stack build and the final save
            config = load_config(
                overrides={**overrides, "output_dir": str(root / f"run{steps}"), "max_steps": steps}
            )
            started = time.perf_counter()
            train(config)
            seconds[steps] = time.perf_counter() - started
        train_s = seconds[args.steps + 1] - seconds[1]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"prepare: {manifest['photos']} photos in {prepare_s:.2f} s = {manifest['photos'] / prepare_s:.1f} photos/s "
        f"(1 worker, {args.resolution} px)"
    )
    print(
        f"train (tiny, {args.resolution} px, batch {args.batch}, {args.threads} threads): {args.steps} steps in "
        f"{train_s:.2f} s = {args.steps / train_s:.2f} steps/s"
    )
    print(f"peak memory (max RSS): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
