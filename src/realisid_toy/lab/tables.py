"""The toy reproduction's tables: ``realisid evaluate`` runs at several seeds → mean ± std over seeds.

Per seed, every image's identity score comes from the evaluation's ``scores.jsonl``; the two
proxies of :mod:`realisid_toy.lab.proxies` are added per image. Each table cell is the mean over
seeds of the per-seed mean, with the standard deviation over seeds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from realisid.boxes import Box
from realisid.evaluation import EvaluationConfig, plan
from realisid.evaluation.scoring import SCORES_FILE, read_scores
from realisid.faces.photo import load_photo

from .proxies import DenoisingLoss, attribute_agreement

PROXIES_FILE = "proxies.jsonl"
LABELS = {"identity": "identity ↑", "attributes": "attribute agreement ↑", "harmony": "base denoising loss ↓",
          "miss": "face missed"}


def scored_records(config: EvaluationConfig, harmony: DenoisingLoss) -> list[dict]:
    """Every image's evaluation record plus ``attributes`` and ``harmony``; cached in ``proxies.jsonl``."""
    path = config.output_dir / PROXIES_FILE
    if path.is_file():
        return [json.loads(line) for line in path.read_text().splitlines()]
    scores = read_scores(config.output_dir / SCORES_FILE)
    records = []
    for job in plan(config):
        image = load_photo(config.output_dir / job.relpath)
        box = Box.from_relative(*job.request.box, job.request.width, job.request.height)
        record = dict(scores[job.relpath.as_posix()])
        record["attributes"] = attribute_agreement(image, box, job.prompt)
        record["harmony"] = harmony(image, job.prompt)
        record["miss"] = float(not record["detected"])
        records.append(record)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def spread(runs: Sequence[list[dict]], metric: str) -> dict[tuple[str, str], tuple[float, float]]:
    """``{(method, scenario): (mean, std)}`` over runs of the per-run mean of ``metric``."""
    per_run: dict[tuple[str, str], list[float]] = {}
    for records in runs:
        groups: dict[tuple[str, str], list[float]] = {}
        for r in records:
            if r.get(metric) is not None:
                groups.setdefault((r["method"], r["scenario"]), []).append(r[metric])
        for key, values in groups.items():
            per_run.setdefault(key, []).append(float(np.mean(values)))
    return {
        key: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else math.nan)
        for key, v in per_run.items()
    }


def _cell(stats: dict, key: tuple[str, str]) -> str:
    if key not in stats:
        return "-"
    mean, std = stats[key]
    return f"{mean:.3f} ± {std:.3f}"


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def write_tables(configs: Sequence[EvaluationConfig], runs: Sequence[list[dict]], out: Path) -> str:
    """Table 3 (identity by size) and Table 2 (ablation at small faces) as Markdown, JSON and a plot."""
    config = configs[0]
    stats = {m: spread(runs, m) for m in LABELS}
    sizes, small = config.sizes, config.ablation_scenarios[0]
    methods = [(s.name, s.label) for s in config.methods]
    table3 = _markdown(
        ["Method"] + [f"ID at {s.label}" for s in sizes],
        [[label] + [_cell(stats["identity"], (name, s.name)) for s in sizes] for name, label in methods],
    )
    ablations = [(s.name, s.label) for s in config.ablations]
    table2 = _markdown(
        ["Method"] + [LABELS[m] for m in LABELS],
        [[label] + [_cell(stats[m], (name, small.name)) for m in LABELS] for name, label in ablations],
    )
    seeds = ", ".join(str(c.seed) for c in configs)
    per_cell = sum(1 for r in runs[0] if r["method"] == methods[0][0] and r["scenario"] == sizes[0].name)
    text = (
        f"Mean ± std over evaluation seeds {seeds} (each seed: its own noise and boxes; "
        f"{per_cell} images per method and size per seed).\n\n"
        f"### Identity similarity by relative face size (Table 3 analogue)\n\n{table3}\n"
        f"### Small faces {small.size_range[0]:.3f}–{small.size_range[1]:.3f} (Table 2 analogue)\n\n{table2}"
    )
    (out / "tables.md").write_text(text)
    (out / "tables.json").write_text(json.dumps(
        {m: {f"{k[0]}/{k[1]}": v for k, v in s.items()} for m, s in stats.items()}, indent=1) + "\n")
    _plot(stats["identity"], methods, sizes, out / "identity_vs_size.png")
    return text


def write_sample_sheet(config: EvaluationConfig, path: Path, identities: int = 3) -> None:
    """Reference, then one output per method, for the first ``identities`` at each size of the
    sweep (first prompt, first sample): one row per (identity, size)."""
    from PIL import Image

    jobs = {(j.request.method, j.identity, j.scenario.name): j for j in plan(config) if j.prompt_index == 0
            and j.sample == 0}
    names = sorted({j.identity for j in jobs.values()})[:identities]
    methods = [s.name for s in config.methods]
    rows = [(name, size) for name in names for size in config.sizes]
    side = config.width
    sheet = Image.new("RGB", (side * (len(methods) + 1), side * len(rows)), "white")
    for r, (name, size) in enumerate(rows):
        reference = next(j.request.reference for j in jobs.values() if j.identity == name)
        sheet.paste(load_photo(reference).resize((side, side)), (0, r * side))
        for c, method in enumerate(methods, start=1):
            job = jobs.get((method, name, size.name))
            if job is not None:
                sheet.paste(load_photo(config.output_dir / job.relpath), (c * side, r * side))
    sheet.save(path)


def _plot(stats: dict, methods: list[tuple[str, str]], sizes, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    xs = [s.size_range[0] for s in sizes]
    for name, label in methods:
        values = [stats.get((name, s.name), (math.nan, math.nan)) for s in sizes]
        ax.errorbar(xs, [v[0] for v in values], yerr=[v[1] for v in values], marker="o", capsize=3, label=label)
    ax.set_xticks(xs, [s.label for s in sizes])
    ax.set_xlabel("relative face size")
    ax.set_ylabel("identity similarity (synthetic metric)")
    ax.set_title("Toy world: identity by face size (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
