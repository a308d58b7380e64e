"""``realisid demo``: two real people placed by boxes, generated on the offline tiny stack.

Conditions come from public-domain photos that ship inside installed packages (scikit-image's
astronaut, matplotlib's Grace Hopper). Until trained weights are given (``--base``/``--adapter``)
the models are random: the output shows the pipeline working, not the method's quality.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .generate import add_generation_arguments, generate

PROMPT = "two people standing in a sunny park, photo, detailed faces"

RANDOM_WEIGHTS_NOTE = """\
realisid demo on the tiny stack: every model here (U-Net, VAE, text encoders, CLIP image
encoder, RealisID branches) has RANDOM weights, built offline in seconds. The image is noise
shaped by the real pipeline; it is not a result of the method.

What is real: the face conditions (MediaPipe detection, landmarks, face mask, c_p&e drawing) in
conditions_*.png, the placement of each person (layout.png), and every step of sampling (Eq. 8
three-way guidance, delayed ID, local branch on the cropped and upsampled latent, relocation,
multi-person sum/mean). Run `realisid generate --base SDXL --adapter ADAPTER ...` with trained
weights for real images.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="two persons from real photos, on the offline tiny stack",
                                   description=__doc__)
    add_generation_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder")
    parser.set_defaults(run=run, steps=20, height=256, width=384)


def run(args: argparse.Namespace) -> int:
    from ..faces import detect_faces, face_conditions
    from ..faces.preview import preview
    from ..faces.samples import astronaut, grace_hopper
    from ..persons import Person

    args.out.mkdir(parents=True, exist_ok=True)
    people = []
    for name, photo in (("astronaut", astronaut()), ("grace_hopper", grace_hopper())):
        faces = detect_faces(photo)
        conditions = face_conditions(photo, faces[0])
        preview(photo, faces[:1], [conditions]).save(args.out / f"conditions_{name}.png")
        people.append(conditions)
    persons = [
        Person(people[0], box=(0.3, 0.38, 0.28)),  # large face, left
        Person(people[1], box=(0.72, 0.45, 0.14), yaw=-20),  # small face, right, turned
    ]
    scene = {"persons": [{"ref": "astronaut", "box": [0.3, 0.38, 0.28]},
                         {"ref": "grace_hopper", "box": [0.72, 0.45, 0.14], "yaw": -20}]}
    generate(args, PROMPT, persons, None, scene)
    tiny = args.tiny or args.base is None
    if tiny:
        (args.out / "README.txt").write_text(RANDOM_WEIGHTS_NOTE)
        print(RANDOM_WEIGHTS_NOTE)
    return 0
