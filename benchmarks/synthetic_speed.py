"""Throughput of the synthetic renderer: random scenes per minute on one core.

python benchmarks/synthetic_speed.py [--size 128] [--count 300] [--supersample 3]
"""

from __future__ import annotations

import argparse
import time

from realisid_toy.world import sample_rendering


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--supersample", type=int, default=3)
    args = parser.parse_args()
    sample_rendering(0, size=args.size, supersample=args.supersample)  # warm-up: mesh interpolation cache
    start = time.perf_counter()
    for seed in range(args.count):
        sample_rendering(seed, size=args.size, supersample=args.supersample)
    seconds = time.perf_counter() - start
    print(
        f"{args.count} scenes at {args.size}px (supersample {args.supersample}): {seconds:.2f} s, "
        f"{args.count / seconds * 60:.0f} images/minute"
    )


if __name__ == "__main__":
    main()
