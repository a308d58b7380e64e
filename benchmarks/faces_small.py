"""Face recall by relative size: every face photo the installed packages ship, pasted small.

Run: ``python benchmarks/faces_small.py [--quick] [--canvas 1024] [--tiles ...] [--haar] [--misses]``.
Faces: the three portraits of ``realisid.faces.samples`` and the first LFW crops whose face the
reference finds with a score of at least ``CONFIDENT`` (the true box of each is the detection on its
original, mapped by the paste); LFW crops the reference finds only below that score are a separate
"hard" set. Each face is pasted whole at each relative size on each backdrop (flat, noise, scene), at
a position cycling through ``samples.POSITIONS`` (centre and near the borders). A face is found when a
face kept by :func:`detect_faces` overlaps its true box with IoU ≥ 0.5. Per size it prints recall,
the box side's error (|found / true − 1|: median, 90th percentile, largest), the centre's error over
the true side, other faces kept (false positives), and the mean detection time per photo; then the
faces found on face-free photos (backdrops, scikit-image scenes and a cat (not its coins: they bear
sculpted heads), LFW's face-free crops).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy as np
from PIL import Image

from realisid.faces import MediaPipeDetector, detect_faces, samples
from realisid.faces.cascade import HaarCascade

SIZES = (4, 6, 8, 10, 12, 16, 20, 24)
BACKDROPS = ("flat", "noise", "scene")
LFW_FACES = 24
CONFIDENT = 0.7
"""Least reference score of a benchmark face: 96 of the 100 LFW crops score 0.76-0.94, four 0.63-0.68."""


def faces(lfw_count: int) -> tuple[list, list]:
    """``(name, photo, true box)`` of the portraits and of the first ``lfw_count`` LFW faces found with
    a score of at least :data:`CONFIDENT`; and of the first ``lfw_count`` found only below it (hard)."""
    confident = MediaPipeDetector(CONFIDENT, tiles=(1.0,), full_range=True)
    reference = MediaPipeDetector(tiles=(1.0,), full_range=True)
    portraits = {
        "astronaut": samples.astronaut(),
        "hopper": samples.grace_hopper(),
        "camera": samples.cameraman(),
    }
    found = [(name, photo, samples.reference_box(photo, confident)) for name, photo in portraits.items()]
    hard = []
    for index, crop in enumerate(samples.lfw_faces()):
        if (box := samples.reference_box(crop, confident, margin=0.5)) is not None:
            if len(found) < len(portraits) + lfw_count:
                found.append((f"lfw{index}", crop, box))
        elif len(hard) < lfw_count and (box := samples.reference_box(crop, reference, margin=0.5)):
            hard.append((f"lfw{index}", crop, box))
    confident.close()
    reference.close()
    return found, hard


def face_free(side: int) -> dict[str, Image.Image]:
    """Photos without a human face, their long side ``side``."""
    from skimage import data

    scenes = {"cat": data.chelsea(), "coffee": data.coffee(), "hubble": data.hubble_deep_field()}
    scenes |= {"brick": data.brick(), "grass": data.grass(), "rocket": data.rocket()}
    photos = {name: Image.fromarray(array).convert("RGB") for name, array in scenes.items()}
    photos["lfw non-faces"] = samples.lfw_non_faces()
    photos = {
        name: photo.resize(
            (round(photo.width * side / max(photo.size)), round(photo.height * side / max(photo.size))),
            Image.Resampling.BICUBIC,
        )
        for name, photo in photos.items()
    }
    return photos | {kind: samples.backdrop(kind, (side, side)) for kind in BACKDROPS}


def timed_faces(photo: Image.Image, detector) -> tuple[list, float]:
    start = time.perf_counter()
    found = detect_faces(photo, detector)
    return found, time.perf_counter() - start


COLUMNS = (
    "rel. size",
    "face px",
    "photos",
    "recall",
    "side err median",
    "p90",
    "max",
    "centre err median",
    "false pos.",
    "ms/photo",
)


def recall_table(people: list, detector, canvas_side: int) -> list[str]:
    """Print the recall table of ``people`` pasted at every size; return the placements missed."""
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    positions = itertools.cycle(samples.POSITIONS)
    misses = []
    for denominator in SIZES:
        side_errors, centre_errors, seconds, found, extra, total = [], [], [], 0, 0, 0
        for (name, photo, box), kind in itertools.product(people, BACKDROPS):
            position = next(positions)
            canvas, truth = samples.composed(photo, box, 1 / denominator, kind, position, (canvas_side,) * 2)
            kept, elapsed = timed_faces(canvas, detector)
            seconds.append(elapsed)
            total += 1
            match = max(kept, key=lambda face: face.box.iou(truth), default=None)
            if match is not None and match.box.iou(truth) >= 0.5:
                found += 1
                extra += len(kept) - 1
                side_errors.append(abs(match.box.size / truth.size - 1))
                centre_errors.append(np.hypot(*np.subtract(match.box.center, truth.center)) / truth.size)
            else:
                extra += len(kept)
                misses.append(f"1/{denominator} {name} {kind} {position}")
        errors = np.array(side_errors) if side_errors else np.array([np.nan])
        print(
            f"| 1/{denominator} | {canvas_side / denominator:.0f} | {total} | {100 * found / total:.1f} % | "
            f"{np.median(errors):.3f} | {np.percentile(errors, 90):.3f} | {errors.max():.3f} | "
            f"{np.median(centre_errors) if centre_errors else np.nan:.3f} | {extra} | "
            f"{1000 * statistics.mean(seconds):.0f} |",
            flush=True,
        )
    return misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 portraits, 3 LFW faces and 3 hard ones, about a minute"
    )
    parser.add_argument("--canvas", type=int, default=1024, help="canvas side in pixels")
    parser.add_argument(
        "--tiles",
        type=float,
        nargs="+",
        default=MediaPipeDetector.TILES,
        help="tile sides over the long edge",
    )
    parser.add_argument(
        "--full-range", action="store_true", help="add the full-range model on the whole photo"
    )
    parser.add_argument(
        "--haar", action="store_true", help="second looks at the Haar cascade's proposals (slower)"
    )
    parser.add_argument("--misses", action="store_true", help="list the faces not found")
    args = parser.parse_args()
    detector = MediaPipeDetector(
        tiles=tuple(args.tiles), full_range=args.full_range, proposals=HaarCascade() if args.haar else None
    )
    start = time.perf_counter()
    people, hard = faces(3 if args.quick else LFW_FACES)
    passes = " + full range" * args.full_range + " + Haar second looks" * args.haar
    print(
        f"{len(people)} faces ({', '.join(name for name, *_ in people)}), canvas {args.canvas}², "
        f"tiles {detector.tiles}{passes}\n"
    )
    misses = recall_table(people, detector, args.canvas)
    print(
        f"\nhard set: {len(hard)} LFW faces found on their originals below {CONFIDENT} "
        f"({', '.join(name for name, *_ in hard)})\n"
    )
    hard_misses = recall_table(hard, detector, args.canvas)

    print("\n| face-free photo | size | faces found | ms |")
    print("|---|---|---|---|")
    for name, photo in face_free(args.canvas).items():
        kept, elapsed = timed_faces(photo, detector)
        print(f"| {name} | {photo.width}×{photo.height} | {len(kept)} | {1000 * elapsed:.0f} |")
    if args.misses:
        print("\nnot found: " + "; ".join(misses))
        print("\nnot found (hard set): " + "; ".join(hard_misses))
    print(f"\nbenchmark time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
