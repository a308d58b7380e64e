"""``realisid demo``: two real people placed by boxes, offline; or the shipped toy weights.

By default two real people from public-domain photos that ship inside installed packages
(scikit-image's astronaut, matplotlib's Grace Hopper) are placed by boxes and generated on the
offline tiny stack. Until trained SDXL weights are given (``--base``/``--adapter``) those models
are random: the output shows the conditions and the pipeline working, not the method's quality.

``--toy``: a synthetic person the models never saw, generated at 1/4 and at 1/7 relative face size
with the toy weights shipped in ``realisid/synthetic/weights`` (a toy SDXL trained from scratch on
rendered people, and RealisID trained on it; ``realisid toy-reproduce`` rebuilds them), and the toy
world's identity metric comparing each output with the reference. These toy weights do not yet
transfer identity (docs/toy-reproduction.md): the default stays on real photos.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .generate import add_generation_arguments, generate

PROMPT = "two people standing in a sunny park, photo, detailed faces"
TOY_PROMPT = "a person, wearing a red sweater, in front of a blue wall"
TOY_SIZES = (("1-4", 1 / 4), ("1-7", 1 / 7))
TOY_IDENTITY = 2_000_007
"""A held-out identity (unseen by the base model, RealisID and the metric)."""

TOY_NOTE = """\
realisid demo on the shipped toy weights: a toy SDXL (same classes and layout, 128 px, trained from
scratch on rendered people) and RealisID trained on it with `realisid train`. The reference person
(reference.png) is a held-out identity; image_1-4.png and image_1-7.png place it at 1/4 and 1/7
relative face size. The ID encoder is a random, frozen CLIP vision model (never taught identity).
Identity similarity is the toy world's metric (an embedding network trained on renderings).
See docs/toy-reproduction.md for what these models can and cannot show.
"""

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
    parser = subparsers.add_parser("demo", help="two persons from real photos, placed by boxes, offline",
                                   description=__doc__)
    add_generation_arguments(parser)
    parser.add_argument("--toy", action="store_true",
                        help="a held-out synthetic person at 1/4 and 1/7 on the shipped toy weights, identity printed")
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder")
    parser.set_defaults(run=run, steps=None)


def run(args: argparse.Namespace) -> int:
    return run_toy(args) if args.toy else run_photos(args)


def run_toy(args: argparse.Namespace) -> int:
    """One held-out synthetic person at 1/4 and 1/7 relative size; identity similarity printed."""
    import torch

    from ..evaluation import face_similarity
    from ..persons import Person
    from ..synthetic.shards import rendering_conditions
    from ..synthetic.toy_eval import reference_rendering
    from ..synthetic.weights import toy_metric, toy_pipeline

    args.out.mkdir(parents=True, exist_ok=True)
    pipe, metric = toy_pipeline(), toy_metric()
    reference = reference_rendering(TOY_IDENTITY)
    reference.image.save(args.out / "reference.png")
    size = args.height or args.width or 128
    print(TOY_NOTE)
    for label, rel_size in TOY_SIZES:
        output = pipe(
            TOY_PROMPT, [Person(rendering_conditions(reference), box=(0.5, 0.4, rel_size))], height=size, width=size,
            num_inference_steps=args.steps or 30, text_scale=args.text_scale, id_scale=args.id_scale,
            id_start=args.id_start, local_scale=args.local_scale, global_scale=args.global_scale,
            generator=torch.Generator().manual_seed(args.seed), return_layout=True,
        )
        output.images[0].save(args.out / f"image_{label}.png")
        output.layout.save(args.out / f"layout_{label}.png")
        similarity = face_similarity(reference.image, output.images[0], metric)
        shown = "no face found" if similarity is None else f"{similarity:.3f}"
        print(f"identity similarity to the reference at {label.replace('-', '/')} relative size: {shown}")
    (args.out / "README.txt").write_text(TOY_NOTE)
    return 0


def run_photos(args: argparse.Namespace) -> int:
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
    args.steps, args.height, args.width = args.steps or 20, args.height or 256, args.width or 384
    generate(args, PROMPT, persons, None, scene)
    tiny = args.tiny or args.base is None
    if tiny:
        (args.out / "README.txt").write_text(RANDOM_WEIGHTS_NOTE)
        print(RANDOM_WEIGHTS_NOTE)
    return 0
