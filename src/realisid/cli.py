"""The ``realisid`` command. Each subcommand lives in ``realisid.commands.<name>``."""

from __future__ import annotations

import argparse
import importlib
import sys

from .commands.console import filter_native_notices, quiet_model_loading
from .errors import RealisIDError

COMMANDS = (
    "demo", "generate", "conditions", "evaluate", "prepare", "train", "probe", "app", "toy_reproduce", "toy_check",
    "toy_study",
)
WITHOUT_MODELS = ("conditions", "prepare")
"""Commands that load no diffusion model (and so skip importing diffusers to quiet its loading bars)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realisid", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"realisid.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None, console: bool = False) -> int:
    """Runs a command; ``console``: as the executable, with third-party notices and loading bars
    kept off the terminal (:mod:`realisid.commands.console`)."""
    args = build_parser().parse_args(argv)
    if console:
        filter_native_notices()
        if args.command not in WITHOUT_MODELS:
            quiet_model_loading()
    try:
        return args.run(args) or 0
    except RealisIDError as error:
        print(f"realisid {args.command}: error: {error}", file=sys.stderr)
        return 2


def console() -> int:
    """The ``realisid`` executable; its lines reach a log file as they are printed, as on a terminal."""
    sys.stdout.reconfigure(line_buffering=True)
    return main(console=True)


if __name__ == "__main__":
    sys.exit(console())
