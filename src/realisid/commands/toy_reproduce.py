"""realisid toy-reproduce: the toy reproduction, end to end, resumable.

data -> identity metric -> VAE -> base U-Net and text encoders -> RealisID, each branch alone and
the InstantID-style baseline -> tables (the evaluation at three seeds) -> the weights, in OUT/weights
(--ship-to package: into the toy package, replacing the weights it ships). Finished stages are
kept: run the same command again to resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import check_output_folder, torch_device
from .toy_arguments import (
    add_paint_arguments,
    base_folder,
    face_sizes,
    image_size,
    positive_float,
    positive_int,
    ship_target,
    stage_names,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "toy-reproduce",
        help="train the toy world end to end and write the tables and the weights",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (resumable)")
    parser.add_argument("--preset", choices=("cpu", "gpu", "smoke"), default="cpu",
                        help="stage sizes: cpu (default, under 3 h on 2 cores), gpu (the shipped weights: "
                             "a longer VAE run), smoke (tiny step counts: checks the recipe runs)")
    parser.add_argument("--smoke", action="store_true", help="same as --preset smoke")
    add_paint_arguments(parser, " (keep it the same when resuming a run)")
    parser.add_argument("--face-sizes", type=face_sizes, default=None, metavar="MIN,MAX",
                        help="range of the face's side over the image's in the training scenes "
                             "(default 0.12,0.5; 0.5,0.9 are portraits; keep it the same when resuming)")
    parser.add_argument("--image-size", type=image_size, default=None, metavar="PX",
                        help="side of every image, a multiple of 32 (default 128; 256 gives a 1/7 face "
                             "twice the latent cells; keep it the same when resuming a run)")
    parser.add_argument("--base-from", type=base_folder, default=None, metavar="BASE",
                        help="fine-tune this trained base folder in the base stage instead of training one "
                             "from scratch (portraits first, then scenes)")
    parser.add_argument("--base-steps", type=positive_int, default=None, help="U-Net steps of the base stage")
    parser.add_argument("--base-lr", type=positive_float, default=None, help="peak learning rate of the base stage")
    parser.add_argument("--stages", type=stage_names, default=None,
                        help="comma-separated subset of: data,metric,vae,base,adapter,local_only,global_only,"
                             "instantid,evaluate,ship")
    parser.add_argument("--ship-to", type=ship_target, default=None, metavar="FOLDER|package",
                        help="where the ship stage writes the weights (default: OUT/weights); 'package': "
                             "into the toy package's weights folder, replacing the weights that `realisid "
                             "demo` runs")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    parser.add_argument("--device", type=torch_device, default=None, help="torch device of every training and sampling stage "
                        "(default: cuda when there is one, else cpu)")
    parser.set_defaults(run=run)


def recipe_config(args: argparse.Namespace):
    """The recipe's config that the arguments ask for."""
    from realisid_toy.lab.recipe import recipe_config

    return recipe_config(
        "smoke" if args.smoke else args.preset, args.paint, args.face_sizes, args.image_size,
        args.base_from, args.base_steps, args.base_lr,
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from realisid_toy.lab.recipe import run_recipe

    check_output_folder(args.out, "--out")
    if args.threads:
        torch.set_num_threads(args.threads)
    timings = run_recipe(args.out, recipe_config(args), args.ship_to, args.stages, args.device)
    print(f"total {sum(timings.values()):.0f} s over {len(timings)} stages")
    return 0
