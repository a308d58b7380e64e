"""Face recall by relative size: every face photo the installed packages ship, pasted small.

Run: ``python benchmarks/faces_small.py [--quick] [--canvas 1024] [--passes ...]``. Faces: the three
portraits of ``realisid.faces.samples`` and the first LFW crops whose face is found (the true box of
each is the detection on its original, mapped by the paste). Each face is pasted whole at each
relative size on each backdrop (flat, noise, scene), at a position cycling through
``samples.POSITIONS`` (centre and near the borders). A face is found when a face kept by
:func:`detect_faces` overlaps its true box with IoU ≥ 0.5. Per size it prints recall, the box side's
error (|found / true − 1|: median, 90th percentile, largest), the centre's error over the true side,
other faces kept (false positives), and the mean detection time per photo; then the faces found on
face-free photos (backdrops, scikit-image scenes and a cat (not its coins: they bear
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

SIZES = (4, 6, 8, 10, 12, 16, 20, 24)
BACKDROPS = ("flat", "noise", "scene")
LFW_FACES = 24


def faces(lfw_count: int) -> list[tuple[str, Image.Image, object]]:
    """``(name, photo, true box)`` of the portraits and of the first ``lfw_count`` LFW faces found."""
    reference = MediaPipeDetector(tiles=(1.0,), full_range=True)
    portraits = {
        "astronaut": samples.astronaut(),
        "hopper": samples.grace_hopper(),
        "camera": samples.cameraman(),
    }
    found = [(name, photo, samples.reference_box(photo, reference)) for name, photo in portraits.items()]
    for index, crop in enumerate(samples.lfw_faces()):
        if sum(name.startswith("lfw") for name, *_ in found) == lfw_count:
            break
        box = samples.reference_box(crop, reference, margin=0.5)
        if box is not None:
            found.append((f"lfw{index}", crop, box))
    reference.close()
    return found


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 portraits and 3 LFW faces, about a minute")
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
    parser.add_argument("--misses", action="store_true", help="list the faces not found")
    args = parser.parse_args()
    detector = MediaPipeDetector(tiles=tuple(args.tiles), full_range=args.full_range)
    start = time.perf_counter()
    people = faces(3 if args.quick else LFW_FACES)
    print(
        f"{len(people)} faces ({', '.join(name for name, *_ in people)}), canvas {args.canvas}², "
        f"tiles {detector.tiles}{' + full range' if args.full_range else ''}\n"
    )

    positions = itertools.cycle(samples.POSITIONS)
    columns = [
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
    ]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    misses = []
    for denominator in SIZES:
        side_errors, centre_errors, seconds, found, extra, total = [], [], [], 0, 0, 0
        for (name, photo, box), kind in itertools.product(people, BACKDROPS):
            position = next(positions)
            canvas, truth = samples.composed(photo, box, 1 / denominator, kind, position, (args.canvas,) * 2)
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
            f"| 1/{denominator} | {args.canvas / denominator:.0f} | {total} | {100 * found / total:.1f} % | "
            f"{np.median(errors):.3f} | {np.percentile(errors, 90):.3f} | {errors.max():.3f} | "
            f"{np.median(centre_errors) if centre_errors else np.nan:.3f} | {extra} | "
            f"{1000 * statistics.mean(seconds):.0f} |",
            flush=True,
        )

    print("\n| face-free photo | size | faces found | ms |")
    print("|---|---|---|---|")
    for name, photo in face_free(args.canvas).items():
        kept, elapsed = timed_faces(photo, detector)
        print(f"| {name} | {photo.width}×{photo.height} | {len(kept)} | {1000 * elapsed:.0f} |")
    if args.misses:
        print("\nnot found: " + "; ".join(misses))
    print(f"\nbenchmark time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
