"""Steps per second of ``realisid.training.train`` with the nets in channels-last and in contiguous
memory format, and peak memory; on the tiny stack, or on an existing run's config.

    python benchmarks/train_speed.py [--steps 20] [--resolution 64] [--batch 2]
    python benchmarks/train_speed.py --config experiments/small-faces/arm-realisid-s0/train.yaml \\
        --data experiments/small-faces/arm-realisid-s0/run/precomputed --steps 6

The tiny stack trains on the test photo collection (built from photos shipped in packages and
prepared first); ``--config`` trains its base on ``--data``, without precompute and from its
``init_adapter``. Each row is the difference of a run of ``steps + 1`` and a run of 1 step, which
leaves out imports, model loading and the final save; peak memory is the process's maximum RSS.
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
    parser.add_argument("--resolution", type=int, default=64, help="tiny stack only")
    parser.add_argument("--batch", type=int, default=2, help="tiny stack only")
    parser.add_argument("--config", type=Path, help="an existing training config instead of the tiny stack")
    parser.add_argument("--data", type=Path, help="with --config: its shards (precomputed ones train fastest)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.config:
            overrides = {"data": str(args.data), "precompute": False}
            label = f"{args.config}, batch {load_config(args.config).batch_size}"
        else:
            started = time.perf_counter()
            manifest = prepare(
                photo_folder(root / "photos"), root / "shards",
                PrepareSettings(resolution=args.resolution, landmark_size=128), shard_size=4, workers=1, progress=False,
            )
            prepare_s = time.perf_counter() - started
            print(f"prepare: {manifest['photos']} photos in {prepare_s:.2f} s = "
                  f"{manifest['photos'] / prepare_s:.1f} photos/s (1 worker, {args.resolution} px)")
            overrides = {"tiny": True, "data": str(root / "shards"), "resolution": args.resolution,
                         "batch_size": args.batch}
            label = f"tiny, {args.resolution} px, batch {args.batch}"
        overrides |= {"checkpoint_every": 10**6, "log_every": 10**6, "validation_every": 0, "resume": None}
        print(f"\ntrain ({label}, {args.threads} threads, {args.steps} steps)\n")
        print("| memory format | s/step | steps/s |\n|---|---|---|")
        for channels_last in (False, True):
            seconds = {}
            for steps in (1, args.steps + 1):
                run = root / f"run-{channels_last}-{steps}"
                config = load_config(args.config, overrides={
                    **overrides, "output_dir": str(run), "max_steps": steps, "channels_last": channels_last,
                })
                started = time.perf_counter()
                train(config)
                seconds[steps] = time.perf_counter() - started
            per_step = (seconds[args.steps + 1] - seconds[1]) / args.steps
            print(f"| {'channels-last' if channels_last else 'contiguous'} | {per_step:.3f} | {1 / per_step:.2f} |")
    print(f"\npeak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
