"""The small-face study's measurement and verdict rules, on made-up margins."""

from __future__ import annotations

import numpy as np
import pytest

from realisid_toy.lab.verdict import Measured, difference, interval, picture_margins, verdict, write_report

SIZES = (1 / 4, 1 / 5, 1 / 7)


def arm(id_means: dict[float, float], no_id: float = 0.0, seeds: int = 2, pictures: int = 64, seed: int = 0):
    """An arm whose pictures' margins scatter (std 0.1) around ``id_means`` with the ID and ``no_id`` without."""
    rng = np.random.default_rng(seed)
    margins = {}
    for size in SIZES:
        margins["ID", size] = id_means.get(size, 0.0) + 0.1 * rng.standard_normal((seeds, pictures))
        margins["no ID", size] = no_id + 0.1 * rng.standard_normal((seeds, pictures))
    return Measured(margins, {key: 0 for key in margins})


def test_a_missed_face_scores_zero_and_is_never_dropped():
    assert picture_margins([(0.8, 0.3), None, (0.2, 0.4)]).tolist() == pytest.approx([0.5, 0.0, -0.2])


def test_the_interval_holds_the_mean_and_widens_with_the_spread_between_training_seeds():
    rng = np.random.default_rng(0)
    pictures = 0.1 * rng.standard_normal((2, 64))
    low, high = interval(pictures + 0.2)
    assert low < 0.2 < high
    apart = pictures + np.array([[0.0], [0.4]])  # same mean, the two training runs disagree
    assert np.diff(interval(apart))[0] > 2 * (high - low)


def test_arms_are_compared_picture_by_picture():
    a, b = arm({1 / 7: 0.3}), arm({1 / 7: 0.3})
    b.margins["ID", 1 / 7] = a.margins["ID", 1 / 7] - 0.1  # every picture exactly 0.1 worse
    estimate = difference(a, b, 1 / 7)
    assert estimate.mean == pytest.approx(0.1) and estimate.high - estimate.low < 1e-9


@pytest.mark.parametrize(
    ("realisid", "instantid", "no_crop", "outcome"),
    [
        ({1 / 4: 0.30, 1 / 7: 0.25}, {1 / 4: 0.30, 1 / 7: 0.05}, {1 / 4: 0.3, 1 / 7: 0.05}, "reproduced"),
        ({1 / 4: 0.30, 1 / 7: 0.25}, {1 / 4: 0.30, 1 / 7: 0.05}, {1 / 4: 0.3, 1 / 7: 0.25}, "gain, not the crop's"),
        ({1 / 4: 0.30, 1 / 7: 0.05}, {1 / 4: 0.30, 1 / 7: 0.15}, {1 / 4: 0.3, 1 / 7: 0.15}, "refuted"),
        ({1 / 4: 0.02, 1 / 7: 0.25}, {1 / 4: 0.30, 1 / 7: 0.05}, {1 / 4: 0.3, 1 / 7: 0.05}, "invalid"),
        ({1 / 4: 0.30, 1 / 7: 0.115}, {1 / 4: 0.30, 1 / 7: 0.10}, {1 / 4: 0.3, 1 / 7: 0.10}, "inconclusive"),
    ],
)
def test_the_verdict_follows_the_rules_fixed_before_the_runs(realisid, instantid, no_crop, outcome):
    arms = {"realisid": arm(realisid, seed=1), "instantid": arm(instantid, seed=2), "no-crop": arm(no_crop, seed=3)}
    assert verdict(arms)["outcome"] == outcome


def test_measurements_round_trip_through_their_files(tmp_path):
    measured = [arm({1 / 4: 0.3}, seeds=1, seed=s) for s in (0, 1)]
    for s, m in enumerate(measured):
        m.missed["ID", 1 / 7] = 3 + s
        np.savez(tmp_path / f"s{s}.npz", **m.arrays())
    loaded = Measured.load([tmp_path / "s0.npz", tmp_path / "s1.npz"])
    np.testing.assert_array_equal(loaded.margins["ID", 1 / 4], np.concatenate([m.margins["ID", 1 / 4] for m in measured]))
    assert loaded.missed["ID", 1 / 7] == 7
    assert set(loaded.summary()) == {f"{c} at {s}" for c in ("ID", "no ID") for s in ("1/4", "1/5", "1/7")}


def test_a_study_without_the_no_crop_arm_reports_its_comparisons_and_no_verdict(tmp_path):
    arms = {"realisid": arm({1 / 4: 0.30}, seed=1), "instantid": arm({1 / 4: 0.10}, seed=2)}
    decided = write_report(arms, {}, {"realisid": "instantid"}, SIZES, tmp_path)
    assert decided == {"outcome": "none", "why": "no no-crop arm measured"}
    results = (tmp_path / "results.md").read_text()
    quarter = difference(arms["realisid"], arms["instantid"], 1 / 4)
    assert 0.15 < quarter.mean < 0.25 and f"| realisid − instantid | {quarter} | " in results
    assert "- outcome: none" in results
