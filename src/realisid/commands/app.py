"""realisid app: the web UI, on the shipped toy weights, real weights or the random tiny stack.

Serves on 127.0.0.1 unless --host says otherwise. On the toy weights it offers held-out rendered
people as example references; on the tiny stack the page says that its images are noise.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from realisid_toy.lab.check_sampling import CHECK_PROMPT

from ..sampling import check_seed
from .generate import add_generation_arguments
from .options import MODELS_RULE, load_models, sampling_options

RANDOM_WEIGHTS_NOTICE = (
    "**Tiny stack with random weights.** Every model here is random, so images are noise shaped by the "
    "real pipeline; face conditions and layout are real. Start `realisid app --base SDXL --adapter "
    "ADAPTER` for real images."
)
"""What the page says of the tiny stack's random weights."""
TOY_WEIGHTS_NOTICE = (
    "**Toy weights.** A toy SDXL trained from scratch on rendered people, and RealisID trained on it: "
    "pick a reference from the example people (never seen in training) and place them by their box. "
    "`realisid demo` prints how much of the person, and of a driving face's pose, these small models "
    "keep at each face size (docs/toy-reproduction.md says how they were trained and measured). "
    "Start `realisid app --base SDXL --adapter ADAPTER` for real images."
)
"""What the page says of the shipped toy weights."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "app", help="the web UI: compose a multi-person scene in the browser", description=__doc__,
        epilog=MODELS_RULE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_generation_arguments(parser)
    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="address to bind (default: local only)")
    server.add_argument("--port", type=int, default=7860)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from ..app import build_demo, serve

    pipe, sampling, notice, page = app_models(args)
    demo = build_demo(pipe, sampling, notice, **page)
    print(f"realisid app on {serve(demo, args.host, args.port, block=False)} (Ctrl+C stops it)")
    demo.block_thread()
    return 0


def app_models(args: argparse.Namespace):
    """``(pipeline, sampling defaults, notice, page extras)`` the command line asks for; on the toy
    weights the page offers example people and the toy prompt."""
    from ..app import Sampling

    options, seed = sampling_options(args), check_seed(args.seed)
    models = load_models(args)
    notice = {"toy": TOY_WEIGHTS_NOTICE, "tiny": RANDOM_WEIGHTS_NOTICE}.get(models.kind)
    page = {}
    if models.kind == "toy":
        page = {"examples": example_people(Path(tempfile.mkdtemp(prefix="realisid-app-"))), "prompt": CHECK_PROMPT}
    sampling = Sampling.from_options(
        options, width=args.width or models.side, height=args.height or models.side, seed=seed,
        num_images=args.num_images,
    )
    return models.pipe, sampling, notice, page


def example_people(folder: Path, count: int = 6, size: int = 256) -> list[Path]:
    """Renderings of held-out people of the shipped toy world (frontal, neutral) saved in ``folder`` as
    references; identities from ``REFERENCE_SEED + 100`` on, apart from those the evaluation and demo use."""
    from realisid_toy.lab.evaluation import REFERENCE_SEED, write_references
    from realisid_toy.shipped import toy_world

    return write_references(folder, count, first=REFERENCE_SEED + 100, size=size, paint=toy_world().paint)
