"""``realisid app``: the web UI, on the offline tiny stack (random weights) or on real weights.

Serves on 127.0.0.1 unless ``--host`` says otherwise. Without ``--base`` every model is random and
the images are noise; the page says so.
"""

from __future__ import annotations

import argparse
import os

from .generate import add_generation_arguments


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
    import torch

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from ..app import Sampling, build_demo, serve
    from ..presets import load_pipeline

    tiny = args.tiny or args.base is None
    side = 256 if tiny else 1024
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
        seed=args.seed,
        num_images=args.num_images,
    )
    serve(build_demo(pipe, sampling, random_weights=tiny), args.host, args.port)
    return 0
