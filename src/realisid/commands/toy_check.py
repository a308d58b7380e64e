"""realisid toy-check: the toy world's checks of a trained base model or adapter.

face-keeping     does the base keep a rendered face through img2img at each strength?
caption-drawing  does the base, from noise, draw the person its caption describes?
adapter-keeping  does an adapter's ID draw the person, against the same adapter without it?
face-placement   does an adapter put the face at the box it is asked for?
blending         do two people in one picture keep their own faces, not each other's?

Each prints a Markdown table (identity margins: to the person minus to the next person) and can
save a sheet of the pictures (--sheet). The base, metric, face paint and picture side default to
those of --world, the shipped toy weights unless named.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import add_sampling_arguments, check_output_folder, sampling_options, torch_device
from .toy_arguments import add_paint_arguments, image_size, positive_int, relative_sizes, sheet_path


def register(subparsers: argparse._SubParsersAction) -> None:
    from realisid_toy.lab.check_sampling import CHECK_SAMPLING

    parser = subparsers.add_parser(
        "toy-check", help="check a toy base model or adapter (identity kept, face placed)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    checks = parser.add_subparsers(dest="check", required=True, metavar="CHECK")
    keeping = _check(checks, "face-keeping", "img2img keeping of a rendered face by a base model")
    keeping.add_argument("--strengths", default="0,0.3,0.5,0.7", help="img2img strengths (0: VAE round trip)")
    captions = _check(checks, "caption-drawing", "drawing of the person a caption describes, from noise")
    for parser_ in (keeping, captions):
        parser_.add_argument("--text-scale", type=float, default=CHECK_SAMPLING.text_scale, help="λ_t")
        parser_.add_argument("--steps", type=positive_int, default=CHECK_SAMPLING.num_inference_steps)
    adapter = _check(checks, "adapter-keeping", "identity drawn by an adapter, with and without its ID")
    adapter.add_argument("--adapter", type=Path, required=True, help="trained adapter folder")
    placement = _check(checks, "face-placement", "the face drawn at the asked box, not at the mirrored one",
                       sizes=False)
    placement.add_argument("adapter", type=Path, help="trained adapter folder")
    placement.add_argument("--size", type=relative_sizes, default=(1 / 2,), help="relative face size")
    placement.add_argument("--offset", type=float, default=0.2, help="shift of the box from the centre, of the width")
    blending = _check(checks, "blending", "two people in one picture: each face's own identity against the "
                      "other person's, with and without the ID", sizes=False)
    blending.add_argument("adapter", type=Path, help="trained adapter folder")
    blending.add_argument("--size", type=relative_sizes, default=(1 / 4,), help="relative face size of both")
    for parser_ in (adapter, placement, blending):
        add_sampling_arguments(parser_, CHECK_SAMPLING)


def _check(checks: argparse._SubParsersAction, name: str, help: str, sizes: bool = True) -> argparse.ArgumentParser:
    """A check's parser with the options every check has."""
    from realisid_toy.shipped import WEIGHTS

    parser = checks.add_parser(name, help=help, description=help)
    parser.add_argument("base", type=Path, nargs="?", help="toy SDXL folder (default: the world's base/)")
    parser.add_argument("--world", type=Path, default=WEIGHTS,
                        help="toy weights with a world.json, whose base, metric, face paint and picture side "
                             "are the defaults (default: the shipped ones)")
    parser.add_argument("--metric", type=Path, help="folder holding metric/ (default: the world's)")
    if sizes:
        parser.add_argument("--sizes", type=relative_sizes, default=(1 / 4, 1 / 7), help="relative face sizes")
    parser.add_argument("--image-size", type=image_size, metavar="PX",
                        help="side of the pictures, a multiple of 32 (default: the world's)")
    parser.add_argument("--people", type=positive_int, default=8)
    parser.add_argument("--seeds", type=positive_int, default=2)
    parser.add_argument("--device", type=torch_device, default="cpu")
    parser.add_argument("--sheet", type=sheet_path, help="save the pictures here (PNG, JPEG or WebP)")
    add_paint_arguments(parser, " (default: the world's)", default=None)
    parser.set_defaults(run=run)
    return parser


def resolve_world(args: argparse.Namespace) -> None:
    """Fills the base, metric, face paint and picture side left unset from ``--world``."""
    from realisid_toy.shipped import toy_world

    world = toy_world(args.world)
    args.base = args.base or args.world / "base"
    args.metric = args.metric or args.world
    args.paint = args.paint or world.paint
    args.image_size = args.image_size or world.size


def run(args: argparse.Namespace) -> int:
    from realisid_toy.lab.face_keeping import save_sheet
    from realisid_toy.shipped import toy_metric

    run_check = {"face-keeping": _face_keeping, "caption-drawing": _caption_drawing,
                 "adapter-keeping": _adapter_keeping, "face-placement": _face_placement,
                 "blending": _blending}[args.check]
    resolve_world(args)
    if args.sheet is not None:
        check_output_folder(args.sheet.parent, "--sheet")
    table, sheet = run_check(args, toy_metric(args.metric))
    print(table)
    if args.sheet is not None:
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        save_sheet(sheet, args.sheet)
        print(f"wrote {args.sheet}")
    return 0


def _common(args: argparse.Namespace) -> dict:
    """The options every check takes."""
    return {"people": args.people, "seeds": tuple(range(args.seeds)), "device": args.device,
            "paint": args.paint}


def _scenes(args: argparse.Namespace) -> dict:
    """The face sizes and picture side of the checks that take them."""
    return {"relative_sizes": args.sizes, "image_size": args.image_size}


def _face_keeping(args: argparse.Namespace, metric) -> tuple[str, list]:
    from realisid_toy.lab.face_keeping import face_keeping, markdown_table

    from ..errors import RealisIDError

    try:
        strengths = tuple(float(s) for s in args.strengths.split(","))
    except ValueError:
        raise RealisIDError(f"--strengths are numbers in [0, 1), got {args.strengths!r}") from None
    kept, sheet = face_keeping(args.base, metric, strengths=strengths, text_scale=args.text_scale,
                               steps=args.steps, **_scenes(args), **_common(args))
    return markdown_table(kept), sheet


def _caption_drawing(args: argparse.Namespace, metric) -> tuple[str, list]:
    from realisid_toy.lab.face_keeping import caption_drawing, caption_table

    drawn, sheet = caption_drawing(args.base, metric, text_scale=args.text_scale, steps=args.steps,
                                   image_size=args.image_size, **_common(args))
    return caption_table(drawn), sheet


def _adapter_keeping(args: argparse.Namespace, metric) -> tuple[str, list]:
    from realisid_toy.lab.face_keeping import adapter_keeping, markdown_table

    kept, sheet = adapter_keeping(args.base, args.adapter, metric, sampling=sampling_options(args),
                                  **_scenes(args), **_common(args))
    return markdown_table(kept), sheet


def _face_placement(args: argparse.Namespace, metric) -> tuple[str, list]:
    from realisid_toy.lab.face_placement import face_placement, markdown_table

    placed, sheet = face_placement(args.base, args.adapter, metric, args.size[0], args.offset,
                                   sampling=sampling_options(args), image_size=args.image_size, **_common(args))
    return markdown_table(placed), sheet


def _blending(args: argparse.Namespace, metric) -> tuple[str, list]:
    from realisid_toy.lab.face_keeping import blending_pairs, blending_table
    from realisid_toy.lab.verdict import id_conditions

    found, sheets = {}, []
    for name, options in id_conditions(sampling_options(args)).items():
        found[name], sheet = blending_pairs(args.base, args.adapter, metric, sampling=options,
                                            image_size=args.image_size, relative_size=args.size[0], **_common(args))
        sheets.append(sheet)
    # per pair: both references, then the picture with the ID and without it
    return blending_table(found), [with_id + without[-1:] for with_id, without in zip(*sheets)]
