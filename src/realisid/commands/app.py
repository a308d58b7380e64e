"""``realisid app``: the web UI, on the shipped toy weights, real weights or the random tiny stack.

Serves on 127.0.0.1 unless ``--host`` says otherwise. By default it serves RealisID on the toy
weights that ship with the package (128 px, rendered people), offering held-out rendered people as
example references; ``--base``/``--adapter`` serve SDXL and RealisID weights; ``--tiny`` (or an
``--adapter`` without ``--base``) the offline tiny stack, whose models are random, so its images are
noise (the page says so).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from .demo import TOY_PROMPT
from .generate import add_generation_arguments, names_no_model


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "app", help="the web UI: compose a multi-person scene in the browser", description=__doc__
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
    serve(build_demo(pipe, sampling, notice, **page), args.host, args.port)
    return 0


def app_models(args: argparse.Namespace):
    """``(pipeline, sampling defaults, notice, page extras)`` the command line asks for: the shipped
    toy weights with example people unless a model is named, real weights from ``--base``, else the
    random tiny stack."""
    import torch

    from ..app import RANDOM_WEIGHTS_NOTICE, TOY_WEIGHTS_NOTICE, Sampling
    from ..presets import load_pipeline

    page = {}
    if names_no_model(args):
        from ..synthetic.weights import toy_pipeline

        pipe = toy_pipeline().to(device=args.device, dtype=torch.float16 if args.fp16 else None)
        side, notice = 128, TOY_WEIGHTS_NOTICE
        page = {"examples": example_people(Path(tempfile.mkdtemp(prefix="realisid-app-"))), "prompt": TOY_PROMPT}
    else:
        tiny = args.tiny or args.base is None
        side = 256 if tiny else 1024
        notice = RANDOM_WEIGHTS_NOTICE if tiny else None
        pipe = load_pipeline(
            None if tiny else args.base,
            args.adapter,
            args.image_encoder,
            args.device,
            torch.float16 if args.fp16 else None,
            seed=args.seed,
        )
    sampling = Sampling(
        width=args.width or side,
        height=args.height or side,
        steps=args.steps,
        text_scale=args.text_scale,
        id_scale=args.id_scale,
        id_start=args.id_start,
        local_scale=args.local_scale,
        global_scale=args.global_scale,
        seed=args.seed,
        num_images=args.num_images,
    )
    return pipe, sampling, notice, page


def example_people(folder: Path, count: int = 6, size: int = 256) -> list[Path]:
    """Renderings of held-out toy-world people (frontal, neutral) saved in ``folder`` as references;
    identities from ``REFERENCE_SEED + 100`` on, apart from those the evaluation and demo use."""
    from ..synthetic.toy_eval import REFERENCE_SEED, write_references

    return write_references(folder, count, first=REFERENCE_SEED + 100, size=size)
