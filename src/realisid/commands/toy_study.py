"""realisid toy-study: the small-face study, stage by stage, resumable from its committed stages.

world (renderings -> identity metric -> VAE fine-tuned for rescaling -> CLIP-style ID encoder) ->
gates -> toy base (portraits, then 256-px scenes) -> gates -> the arms (RealisID, the InstantID-style
baseline, no crop, trained on large faces only, efficient switches; two training seeds each) ->
the verdict fixed before the runs, the blending table. Each finished stage leaves OUT/<stage>/stage.json
and small fp16 weights meant to be committed; run the same command again to go on. --painted: the
fallback world of face paint in four regions, with its base's first scene phase and four arms (RealisID,
the baseline and the two efficient switches) for the demo, the blending table and the efficient mode.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import RealisIDError
from .options import check_output_folder, torch_device
from .toy_arguments import positive_int, ship_target, stage_names

STUDY = Path("experiments", "small-faces")
PAINTED = Path("experiments", "painted-world")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "toy-study",
        help="the small-face study in a toy world: gates, arms, verdict (resumable)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=None,
                        help=f"the study's folder (default {STUDY}; with --painted {PAINTED})")
    parser.add_argument("--painted", action="store_true",
                        help="the fallback world, whose people wear face paint in four regions instead of tiles "
                             "(docs/toy-reproduction.md)")
    parser.add_argument("--stages", type=stage_names, default=None,
                        help="comma-separated stages to run (default: every stage not done yet, in order)")
    parser.add_argument("--smoke", action="store_true",
                        help="every stage with tiny sizes (checks the study runs); needs --out")
    parser.add_argument("--ship-to", type=ship_target, default=None, metavar="FOLDER|package",
                        help="where the ship stage writes the best RealisID seed's weights (default: "
                             "OUT/weights); 'package': into the toy package, replacing the weights that "
                             "`realisid demo` runs")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    parser.add_argument("--device", type=torch_device, default=None, help="torch device (default: cuda when there is one, else cpu)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from realisid_toy.lab.study import StudyConfig, run_study

    if args.smoke and args.out is None:
        raise RealisIDError("--smoke needs --out: its tiny stages would go into the committed study's folder")
    args.out = args.out or (PAINTED if args.painted else STUDY)
    check_output_folder(args.out, "--out")
    if args.threads:
        torch.set_num_threads(args.threads)
    config = StudyConfig.smoke() if args.smoke else StudyConfig()
    config = config.painted() if args.painted else config
    timings = run_study(args.out, config, args.stages, args.device, args.ship_to)
    print(f"{len(timings)} stages done, {sum(timings.values()) / 3600:.1f} h in all; results in {args.out}")
    return 0
