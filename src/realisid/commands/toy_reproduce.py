"""``realisid toy-reproduce``: the toy reproduction, end to end (see ``realisid.synthetic.recipe``).

data → identity metric → VAE → base U-Net and text encoders → RealisID, each branch alone and the InstantID-style baseline → tables
(``realisid evaluate`` at three seeds) → the shipped weights. Resumable: finished stages are kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

STAGES = ("data", "metric", "vae", "base", "adapter", "local_only", "global_only", "instantid", "evaluate", "ship")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "toy-reproduce",
        help="train the toy world end to end and write the tables and the shipped weights",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (resumable)")
    parser.add_argument("--preset", choices=("cpu", "gpu", "smoke"), default="cpu",
                        help="stage sizes: cpu (default, under 3 h on 2 cores), gpu (the shipped weights: "
                             "a longer VAE run), smoke (tiny step counts: checks the recipe runs)")
    parser.add_argument("--smoke", action="store_true", help="same as --preset smoke")
    parser.add_argument("--face-paint", action="store_true",
                        help="a world where every person wears face paint: identities that differ in large "
                             "blocks of colour (keep it the same when resuming a run)")
    parser.add_argument("--face-sizes", type=_face_sizes, default=None, metavar="MIN,MAX",
                        help="range of the face's side over the image's in the training scenes "
                             "(default 0.12,0.5; 0.5,0.9 are the portraits of docs/toy-reproduction.md; "
                             "keep it the same when resuming a run)")
    parser.add_argument("--image-size", type=image_size, default=None, metavar="PX",
                        help="side of every image, a multiple of 32 (default 128; 256 gives a 1/7 face "
                             "twice the latent cells; keep it the same when resuming a run)")
    parser.add_argument("--base-from", type=_base_folder, default=None, metavar="BASE",
                        help="fine-tune this trained base folder in the base stage instead of training one "
                             "from scratch (portraits first, then scenes: docs/toy-reproduction.md)")
    parser.add_argument("--base-steps", type=int, default=None, help="U-Net steps of the base stage")
    parser.add_argument("--base-lr", type=float, default=None, help="peak learning rate of the base stage")
    parser.add_argument("--stages", help="comma-separated subset of: " + ",".join(STAGES))
    parser.add_argument("--ship-to", type=Path, default=None,
                        help="where the ship stage writes the weights (default: the package's weights "
                             "folder, or OUT/weights with the smoke preset, --face-paint, --face-sizes, "
                             "--image-size or --base-from)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default=None, help="torch device of every training and sampling stage "
                        "(default: cuda when there is one, else cpu)")


def _face_sizes(text: str) -> tuple[float, float]:
    """``MIN,MAX`` with ``0 < MIN <= MAX <= 1``."""
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"face sizes are MIN,MAX (two numbers), got {text!r}") from None
    if not 0 < low <= high <= 1:
        raise argparse.ArgumentTypeError(f"face sizes need 0 < MIN <= MAX <= 1, got {text!r}")
    return low, high


def image_size(text: str) -> int:
    """A positive multiple of 32: the toy VAE's 8× and the U-Net's 4× down-sampling divide it."""
    if not text.isdigit() or int(text) == 0 or int(text) % 32:
        raise argparse.ArgumentTypeError(f"the image size is a positive multiple of 32 (pixels), got {text!r}")
    return int(text)


def _base_folder(text: str) -> Path:
    """A trained base: a folder holding a diffusers ``model_index.json``."""
    if not (Path(text) / "model_index.json").is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not a trained base folder (no model_index.json in it)")
    return Path(text)


def run(args: argparse.Namespace) -> int:
    from ..synthetic.recipe import run_recipe

    return run_recipe(args)
