"""``realisid evaluate --config FILE.yaml``: the paper's evaluation (see realisid.evaluation.config)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="generate, score and report the paper's evaluation from a YAML config",
        description="Generate (resumable), score and report: Table 1-3 as Markdown/CSV and PNG plots.",
    )
    parser.add_argument("--config", required=True, help="evaluation YAML (see realisid.evaluation.config)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import EvaluationConfig, evaluate

    report = evaluate(EvaluationConfig.from_yaml(args.config))
    print(f"report: {report}")
    return 0
