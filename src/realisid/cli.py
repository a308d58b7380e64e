"""The ``realisid`` command. Each subcommand lives in ``realisid.commands.<name>``."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import RealisIDError

COMMANDS = (
    "demo", "generate", "conditions", "evaluate", "prepare", "train", "probe", "app", "toy_reproduce", "toy_check"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realisid", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"realisid.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except RealisIDError as error:
        print(f"realisid {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
