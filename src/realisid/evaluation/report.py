"""Report: per-(method, scenario) means, the paper's three tables (Markdown + CSV) and PNG plots.

Identity and CLIP-I means are over images whose face was found; the miss rate is reported beside
them. CLIP-T and ASP are means over all images.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .protocol import Scenario

METRICS = ("asp", "clip_t", "identity", "clip_i")
DIGITS = {"asp": 2, "miss_rate": 2}


@dataclass(frozen=True)
class Row:
    """A table row: the method's folder name and its display label."""

    name: str
    label: str


def summarize(records: Iterable[dict]) -> dict[tuple[str, str], dict]:
    """``{(method, scenario): {"n", "miss_rate", "asp", "clip_t", "identity", "clip_i"}}``."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for record in records:
        groups.setdefault((record["method"], record["scenario"]), []).append(record)
    summary = {}
    for key, group in groups.items():
        stats = {"n": len(group), "miss_rate": sum(not r["detected"] for r in group) / len(group)}
        for metric in METRICS:
            values = [r[metric] for r in group if r[metric] is not None]
            stats[metric] = sum(values) / len(values) if values else None
        summary[key] = stats
    return summary


def metric_labels(identity_label: str) -> dict[str, str]:
    return {
        "asp": "ASP",
        "clip_t": "CLIP-T",
        "identity": identity_label,
        "clip_i": "CLIP-I",
        "miss_rate": "Miss",
    }


def wide_table(
    summary: dict[tuple[str, str], dict],
    rows: Sequence[Row],
    scenarios: Sequence[Scenario],
    metrics: Sequence[str],
    labels: dict[str, str],
) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows: one row per method, one column per (scenario, metric)."""
    single = len(metrics) == 1
    header = ["Method"] + [
        s.label if single else f"{s.label} {labels[m]}" for s in scenarios for m in metrics
    ]
    body = [
        [row.label]
        + [_format(summary.get((row.name, s.name), {}).get(m), m) for s in scenarios for m in metrics]
        for row in rows
    ]
    return header, body


def _format(value: float | None, metric: str) -> str:
    return "-" if value is None else f"{value:.{DIGITS.get(metric, 3)}f}"


def markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def write_csv(path: Path, header: list[str], body: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([header, *body])


def plot_identity_vs_size(
    summary: dict[tuple[str, str], dict],
    rows: Sequence[Row],
    sizes: Sequence[Scenario],
    label: str,
    path: Path,
) -> None:
    """Mean identity similarity against relative face size, one line per method."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    xs = [s.size_range[0] for s in sizes]
    for row in rows:
        ys = [summary.get((row.name, s.name), {}).get("identity") for s in sizes]
        ax.plot(xs, [math.nan if y is None else y for y in ys], marker="o", label=row.label)
    ax.set_xticks(xs, [s.label for s in sizes])
    ax.set_xlabel("relative face size")
    ax.set_ylabel(f"{label} similarity")
    ax.set_title("Identity fidelity by face size")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_metric_bars(
    summary: dict[tuple[str, str], dict],
    rows: Sequence[Row],
    scenario: Scenario,
    labels: dict[str, str],
    path: Path,
) -> None:
    """One panel per metric (and the miss rate), one bar per method, for one scenario."""
    panels = (*METRICS, "miss_rate")
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.2))
    names = [row.label for row in rows]
    colors = [f"C{i}" for i in range(len(rows))]
    for ax, metric in zip(axes, panels):
        values = [summary.get((row.name, scenario.name), {}).get(metric) for row in rows]
        bars = ax.bar(range(len(rows)), [0 if v is None else v for v in values], color=colors)
        ax.bar_label(bars, labels=[_format(v, metric) for v in values], fontsize=8)
        ax.margins(y=0.15)
        ax.set_xticks(range(len(rows)), names, rotation=30, ha="right")
        ax.set_title(labels[metric])
        if metric == "miss_rate":
            ax.set_ylim(0, 1.05)
    fig.suptitle(f"Scenario: {scenario.label}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(
    summary: dict[tuple[str, str], dict],
    output_dir: str | Path,
    *,
    methods: Sequence[Row],
    scenarios: Sequence[Scenario],
    sizes: Sequence[Scenario],
    ablations: Sequence[Row] = (),
    ablation_scenarios: Sequence[Scenario] = (),
    identity_label: str = "ID",
) -> Path:
    """Write ``report.md``, ``table{1,2,3}.csv``, ``summary.csv`` and the plots; return the report path."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    labels = metric_labels(identity_label)
    table_metrics = (*METRICS, "miss_rate")
    tables = [
        (
            "table1",
            f"Table 1: {', '.join(labels[m] for m in table_metrics)} per scenario",
            methods,
            scenarios,
            table_metrics,
        ),
        ("table2", "Table 2: ablations", ablations, ablation_scenarios, table_metrics),
        (
            "table3",
            f"Table 3: identity fidelity ({identity_label}) by relative face size",
            methods,
            sizes,
            ("identity",),
        ),
    ]
    sections = ["# Evaluation report", ""]
    for name, title, rows, columns, metrics in tables:
        if not rows or not columns:
            continue
        header, body = wide_table(summary, rows, columns, metrics, labels)
        write_csv(output_dir / f"{name}.csv", header, body)
        sections += [f"## {title}", "", markdown(header, body), ""]
    fields = ["method", "scenario", "n", "miss_rate", *METRICS]
    with (output_dir / "summary.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for (method, scenario), stats in sorted(summary.items()):
            writer.writerow({"method": method, "scenario": scenario, **stats})
    plots = []
    if sizes:
        plot_identity_vs_size(summary, methods, sizes, identity_label, output_dir / "identity_vs_size.png")
        plots.append("identity_vs_size.png")
    for scenario in scenarios:
        plot_metric_bars(summary, methods, scenario, labels, output_dir / f"metrics_{scenario.name}.png")
        plots.append(f"metrics_{scenario.name}.png")
    sections += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    report = output_dir / "report.md"
    report.write_text("\n".join(sections), encoding="utf-8")
    return report
