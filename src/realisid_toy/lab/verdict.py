"""The small-face study's measurement and verdict, fixed before any arm was trained.

A picture scores its *paired margin*: the identity metric's similarity of its face to the person's
reference minus to the next held-out person's; a picture whose face the metric misses scores 0
(never dropped). A cell (arm, face size, with or without the ID) holds ``(training seeds, pictures)``
margins; its interval is a 95 % two-level bootstrap: training seeds resampled, then pictures within
each. Two arms are compared picture by picture (same person, same sampling seed, same seed index).

The verdict (:func:`verdict`), in that order:

* **invalid** — RealisID or the baseline is not clearly above its own no-ID floor at 1/4
  (ID − no ID: mean ≥ :data:`CLEAR_MARGIN` with its interval above 0): the world cannot tell.
* **reproduced** — Δ(1/7) = RealisID − baseline at 1/7 has its interval above 0, is larger than
  Δ(1/4), and the no-crop arm ties the baseline at 1/7 (the interval of their difference holds 0).
* **gain, not the crop's** — as reproduced, but the no-crop arm does not tie the baseline.
* **refuted** — Δ(1/7)'s interval lies below :data:`SMALLEST_GAIN`: no gain worth having.
* **inconclusive** — anything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from realisid.sampling import SamplingOptions

CLEAR_MARGIN = 0.05
"""How far above its no-ID floor an arm must be at 1/4 for the world to count (margin units)."""
SMALLEST_GAIN = 0.03
"""A small-face gain below this is no gain worth the second branch (margin units)."""
CONDITIONS = ("ID", "no ID")
"""What every comparison draws: with the ID, and with ``id_scale`` 0 (the same landmarks and box, nobody
in particular)."""


def id_conditions(sampling: SamplingOptions) -> dict[str, SamplingOptions]:
    """``sampling`` under each of :data:`CONDITIONS`."""
    return dict(zip(CONDITIONS, (sampling, sampling.replace(id_scale=0.0))))


def size_label(size: float) -> str:
    """``0.25`` → ``"1/4"``."""
    return str(Fraction(size).limit_denominator(16))


def picture_margins(pairs: list[tuple[float, float] | None]) -> np.ndarray:
    """``(P,)`` paired margins from each picture's (to the person, to the other) similarities; a missed face is 0."""
    return np.array([0.0 if p is None else p[0] - p[1] for p in pairs])


@dataclass(frozen=True)
class Margin:
    """Mean paired margin over pictures (a face the metric does not find scoring 0), with its standard error."""

    mean: float
    se: float
    missed: int
    """Pictures in which the metric found no face."""
    count: int

    @classmethod
    def from_pairs(cls, pairs: list[tuple[float, float] | None]) -> Margin:
        """From each picture's (to the person, to the other) similarities, ``None`` where no face was found."""
        margins = picture_margins(pairs)
        se = margins.std(ddof=1) / np.sqrt(len(margins)) if len(margins) > 1 else np.nan
        return cls(float(margins.mean()), float(se), sum(p is None for p in pairs), len(pairs))

    def __str__(self) -> str:
        missed = f" ({self.missed}/{self.count} missed)" if self.missed else ""
        return f"{self.mean:+.3f} ± {self.se:.3f}{missed}"


def interval(margins: np.ndarray, draws: int = 4000, seed: int = 0) -> tuple[float, float]:
    """95 % two-level bootstrap interval of the mean of ``margins (S, P)``: seeds, then pictures."""
    rng = np.random.default_rng(seed)
    seeds, pictures = margins.shape
    chosen_seeds = rng.integers(0, seeds, (draws, seeds))
    chosen_pictures = rng.integers(0, pictures, (draws, seeds, pictures))
    means = margins[chosen_seeds[..., None], chosen_pictures].mean(axis=(1, 2))
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


@dataclass(frozen=True)
class Estimate:
    """A cell's (or a paired difference's) mean, interval and per-seed means."""

    mean: float
    low: float
    high: float
    per_seed: tuple[float, ...]

    @classmethod
    def of(cls, margins: np.ndarray) -> Estimate:
        return cls(float(margins.mean()), *interval(margins), tuple(float(m) for m in margins.mean(axis=1)))

    def __str__(self) -> str:
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


@dataclass
class Measured:
    """One arm's picture margins: ``(condition, face size) → (training seeds, pictures)``, and faces missed."""

    margins: dict[tuple[str, float], np.ndarray]
    missed: dict[tuple[str, float], int]

    @classmethod
    def from_pairs(cls, pairs: dict[tuple[float, str], list[tuple[float, float] | None]]) -> Measured:
        """One training seed's :func:`~.face_keeping.adapter_pairs`."""
        margins = {(name, size): picture_margins(found)[None] for (size, name), found in pairs.items()}
        missed = {(name, size): sum(p is None for p in found) for (size, name), found in pairs.items()}
        return cls(margins, missed)

    @classmethod
    def stacked(cls, seeds: list[Measured]) -> Measured:
        """Several training seeds' measurements as one arm."""
        keys = seeds[0].margins
        return cls({k: np.concatenate([m.margins[k] for m in seeds]) for k in keys},
                   {k: sum(m.missed[k] for m in seeds) for k in keys})

    def estimate(self, condition: str, size: float) -> Estimate:
        return Estimate.of(self.margins[condition, size])

    def arrays(self) -> dict[str, np.ndarray]:
        """For ``np.savez``: ``"ID@0.25"`` → margins, ``"missed:ID@0.25"`` → count."""
        out = {f"{c}@{s!r}": m for (c, s), m in self.margins.items()}
        return {**out, **{f"missed:{c}@{s!r}": np.array(n) for (c, s), n in self.missed.items()}}

    @classmethod
    def load(cls, paths: list[Path]) -> Measured:
        seeds = []
        for path in paths:
            with np.load(path) as data:
                margins = {_key(k): data[k] for k in data.files if not k.startswith("missed:")}
                missed = {_key(k[len("missed:"):]): int(data[k]) for k in data.files if k.startswith("missed:")}
            seeds.append(cls(margins, missed))
        return cls.stacked(seeds)

    def summary(self) -> dict[str, str]:
        return {f"{c} at {size_label(s)}": f"{self.estimate(c, s)} (missed {self.missed[c, s]})"
                for c, s in sorted(self.margins, key=lambda k: (k[0], -k[1]))}


def _key(text: str) -> tuple[str, float]:
    condition, size = text.rsplit("@", 1)
    return condition, float(size)


def difference(a: Measured, b: Measured, size: float, condition: str = "ID") -> Estimate:
    """``a − b`` at ``size``, picture by picture (the seeds both have)."""
    x, y = a.margins[condition, size], b.margins[condition, size]
    seeds = min(len(x), len(y))
    return Estimate.of(x[:seeds] - y[:seeds])


def above_floor(arm: Measured, size: float) -> Estimate:
    """ID − no ID at ``size``, picture by picture: what the arm's ID adds."""
    return Estimate.of(arm.margins["ID", size] - arm.margins["no ID", size])


VERDICT_ARMS = ("realisid", "instantid", "no-crop")
"""The arms :func:`verdict` compares; a study without them (the painted fallback) reports no verdict."""


def verdict(arms: dict[str, Measured]) -> dict[str, object]:
    """The outcome by the rules fixed in the module docstring, with the numbers it rests on."""
    floors = {name: above_floor(arms[name], 1 / 4) for name in ("realisid", "instantid")}
    gain_7, gain_4 = (difference(arms["realisid"], arms["instantid"], s) for s in (1 / 7, 1 / 4))
    no_crop = difference(arms["no-crop"], arms["instantid"], 1 / 7)
    valid = all(f.mean >= CLEAR_MARGIN and f.low > 0 for f in floors.values())
    gain = gain_7.low > 0 and gain_7.mean > gain_4.mean
    if not valid:
        outcome = "invalid"
    elif gain:
        outcome = "reproduced" if no_crop.low <= 0 <= no_crop.high else "gain, not the crop's"
    elif gain_7.high < SMALLEST_GAIN:
        outcome = "refuted"
    else:
        outcome = "inconclusive"
    return {
        "outcome": outcome,
        **{f"{name}: ID over no ID at 1/4": str(f) for name, f in floors.items()},
        "RealisID − baseline at 1/7": str(gain_7),
        "RealisID − baseline at 1/4": str(gain_4),
        "no crop − baseline at 1/7": str(no_crop),
    }


def blending_estimate(pairs_per_seed: list[list[tuple[float, float] | None]]) -> Estimate:
    """Each face's similarity to its own person minus to the other person of the picture (missed: 0)."""
    return Estimate.of(np.stack([picture_margins(pairs) for pairs in pairs_per_seed]))


def markdown(arms: dict[str, Measured], sizes: tuple[float, ...]) -> str:
    """One row per arm: with the ID (and without) at each size, mean [95 % interval] (faces missed)."""
    lines = ["| arm | " + " | ".join(f"{size_label(s)}: ID · no ID" for s in sizes) + " |",
             "|---" * (len(sizes) + 1) + "|"]
    for name, arm in arms.items():
        cells = [f"{arm.estimate('ID', s)} ({arm.missed['ID', s]}) · {arm.estimate('no ID', s).mean:+.3f}"
                 for s in sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_table(arms: dict[str, Measured], pairs: dict[str, str], sizes: tuple[float, ...]) -> str:
    """One row per ``arm − against`` of ``pairs`` (both measured), picture by picture at each size."""
    lines = ["| difference | " + " | ".join(size_label(s) for s in sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    for arm, against in pairs.items():
        if arm in arms and against in arms:
            cells = [str(difference(arms[arm], arms[against], s)) for s in sizes]
            lines.append(f"| {arm} − {against} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(arms: dict[str, Measured], blending: dict[str, Estimate], comparisons: dict[str, str],
                 sizes: tuple[float, ...], folder: Path) -> dict[str, object]:
    """``folder/results.md`` (the arms' table, the verdict, the other comparisons, the blending table)
    and ``folder/verdict.json``; returns the verdict."""
    missing = [name for name in VERDICT_ARMS if name not in arms]
    decided = verdict(arms) if not missing else {"outcome": "none", "why": f"no {', '.join(missing)} arm measured"}
    blend = "\n".join(["| arm | own person − the other person, at own box (1/4) |", "|---|---|"]
                      + [f"| {name} | {estimate} |" for name, estimate in blending.items()])
    verdict_lines = "\n".join(f"- {key}: {value}" for key, value in decided.items())
    sections = (markdown(arms, sizes), verdict_lines, comparison_table(arms, comparisons, sizes), blend)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.md").write_text("\n\n".join(sections) + "\n")
    (folder / "verdict.json").write_text(json.dumps(decided, indent=2) + "\n")
    return decided
