"""Detection + landmark time per photo (median of repeated runs, CPU), on real sample photos.

Run: ``python benchmarks/faces_speed.py [--repeats N]``. ``detect`` is the detector alone (MediaPipe's
short-range model on a tile pyramid, on the photo downscaled to 1024 px), ``total`` is
:func:`detect_faces`: loading checks, detection, one face-mesh run per candidate box, sorting. Model
loading is timed once apart.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import numpy as np

from realisid.faces import DETECTION_MAX_SIDE, MediaPipeDetector, MeshLandmarker, detect_faces, samples
from realisid.faces.photo import downscale


def photos() -> dict[str, object]:
    small, _ = samples.place_face(samples.astronaut(), samples.ASTRONAUT_FACE, 1 / 12)
    large, _ = samples.place_face(
        samples.astronaut(), samples.ASTRONAUT_FACE, 1 / 8, canvas_size=(6000, 4000)
    )
    return {
        "astronaut 512²": samples.astronaut(),
        "grace hopper 512×600": samples.grace_hopper(),
        "face 1/12 in 1024²": small,
        "group of 4, 1600×1000": samples.group_photo()[0],
        "face 1/8 in 6000×4000": large,
    }


def median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    start = time.perf_counter()
    detector, landmarker = MediaPipeDetector(), MeshLandmarker()
    print(f"model loading: {1000 * (time.perf_counter() - start):.0f} ms (once per process)\n")

    print("| photo | faces | detect ms | total ms | total per face ms |")
    print("|---|---|---|---|---|")
    for name, photo in photos().items():
        array = np.asarray(downscale(photo, DETECTION_MAX_SIDE)[0])
        faces = detect_faces(photo, detector, landmarker)  # warm-up
        detect = median_ms(functools.partial(detector, array), args.repeats)
        total = median_ms(functools.partial(detect_faces, photo, detector, landmarker), args.repeats)
        print(f"| {name} | {len(faces)} | {detect:.1f} | {total:.1f} | {total / max(1, len(faces)):.1f} |")


if __name__ == "__main__":
    main()
