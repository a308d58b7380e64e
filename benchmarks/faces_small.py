"""What is found at each relative face size: a real photo's face pasted into a 1024² canvas.

Run: ``python benchmarks/faces_small.py``. For each relative size (face box over the canvas edge) and
each detector configuration, prints the faces kept after face-mesh verification as
``found/true``: how many boxes were kept and whether one matches the true box (overlap > 0.5),
with its score. The last columns give the full configuration's box-size ratio to the true box and its
landmark count.
"""

from __future__ import annotations

import argparse

from realisid.faces import MediaPipeDetector, detect_faces
from realisid.faces.detection import overlap
from realisid.faces.samples import ASTRONAUT_FACE, astronaut, place_face

SIZES = (4, 6, 8, 12, 16, 24, 32, 40)
CONFIGS = {
    "short": ("short",),
    "full": ("full",),
    "short+full": ("short", "full"),
    "all (default)": MediaPipeDetector.PASSES,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canvas", type=int, default=1024, help="canvas side in pixels")
    args = parser.parse_args()
    detectors = {name: MediaPipeDetector(passes=passes) for name, passes in CONFIGS.items()}
    photo = astronaut()
    columns = ["rel. size", "face px", *CONFIGS, "size ratio", "landmarks"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for denominator in SIZES:
        canvas, truth = place_face(photo, ASTRONAUT_FACE, 1 / denominator, (args.canvas, args.canvas))
        cells, match = [], None
        for detector in detectors.values():  # the default configuration comes last
            faces = detect_faces(canvas, detector)
            match = next((face for face in faces if overlap(face.box, truth) > 0.5), None)
            cells.append(f"{len(faces)} ✓ {match.score:.2f}" if match else f"{len(faces)} ✗")
        ratio = f"{match.box.size / truth.size:.2f}" if match else "-"
        points = str(len(match.landmarks)) if match else "-"
        print(f"| 1/{denominator} | {truth.size:.0f} | " + " | ".join(cells) + f" | {ratio} | {points} |")


if __name__ == "__main__":
    main()
