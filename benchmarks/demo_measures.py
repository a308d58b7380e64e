"""How well the toy demo's readings work on renderings of known box and pose: the metric's face side,
and MediaPipe's head turn and mouth opening (``realisid_toy.lab.demo_measures``), per face size, in the
world of the shipped toy weights (its face paint and image side).

    python benchmarks/demo_measures.py [--count 36]
"""

from __future__ import annotations

import argparse

import torch

from realisid_toy.lab.demo_measures import reading_errors
from realisid_toy.shipped import toy_metric, toy_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=36, help="renderings per face size")
    args = parser.parse_args()
    torch.set_num_threads(1)
    metric, world = toy_metric(), toy_world()
    print("| face size | found | face side error | read by the mesh | yaw error | mouth error (exact range) |")
    print("|---|---|---|---|---|---|")
    for label, relative_size in (("1/4", 1 / 4), ("1/7", 1 / 7)):
        e = reading_errors(metric, relative_size, args.count, world.size, paint=world.paint)
        low, high = e.mouth_range
        print(f"| {label} of {world.size} px | {e.found}/{e.count} | {100 * e.side:.1f} % | {e.read}/{e.count} "
              f"| {e.yaw:.1f}° | {e.mouth:.3f} ({low:.3f}–{high:.3f}) |")


if __name__ == "__main__":
    main()
