"""Draws docs/toy/margins.png, the summary figure of docs/notes/painted-worlds.md, from margins.csv.

    python docs/toy/summary_figure.py
"""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).parent
PANELS = (("128-px scenes (1/7 face: 2.3 latent cells)", "128"), ("256-px scenes (1/7 face: 4.6 latent cells)", "256"))
STYLES = {
    "RealisID": {"color": "tab:blue", "marker": "o"},
    "InstantID-style": {"color": "tab:orange", "marker": "s"},
    "RealisID no ID": {"color": "0.5", "marker": "x", "linestyle": ":"},
}


def read_margins(path: Path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


def main() -> None:
    rows = [row for row in read_margins(HERE / "margins.csv") if row["world"] == "scenes"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, (title, pixels) in zip(axes, PANELS):
        for method, style in STYLES.items():
            cells = sorted((row for row in rows if row["image_px"] == pixels and row["method"] == method),
                           key=lambda row: -Fraction(row["rel_size"]))
            x = [1 / Fraction(row["rel_size"]) for row in cells]
            ax.errorbar([float(v) for v in x], [float(row["margin"]) for row in cells],
                        yerr=[float(row["se"]) for row in cells], capsize=3, label=method, **style)
        ax.axhline(0, color="0.8", linewidth=0.8)
        ax.set_xticks([2, 4, 5, 6, 7], ["1/2", "1/4", "1/5", "1/6", "1/7"])
        ax.set_xlabel("relative face size")
        ax.set_title(title, fontsize=10)
    axes[0].set_ylabel("identity margin (to the person − to the next)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "margins.png", dpi=110)


if __name__ == "__main__":
    main()
