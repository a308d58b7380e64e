"""The img2img check of a toy base model (``realisid toy-check``), on the shipped weights and their world's people."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from PIL import Image

from realisid.cli import main
from realisid.errors import RealisIDError
from realisid.sampling import SamplingOptions
from realisid_toy.lab.face_keeping import (
    Kept,
    adapter_keeping,
    blending_table,
    caption_drawing,
    caption_table,
    centred_box,
    face_keeping,
    markdown_table,
    save_sheet,
)
from realisid_toy.shipped import WEIGHTS, toy_metric, toy_world

TWO_STEPS = SamplingOptions(num_inference_steps=2)
PAINT = toy_world().paint


@pytest.fixture(scope="module")
def kept():
    return face_keeping(
        WEIGHTS / "base", toy_metric(), (1 / 4, 1 / 2), (0.0, 0.5), people=3, seeds=(0,), steps=2, paint=PAINT
    )


def test_the_shipped_vae_keeps_each_person_and_the_table_has_every_size_and_strength(kept):
    table, sheet = kept
    assert set(table) == {(0.25, 0.0), (0.25, 0.5), (0.5, 0.0), (0.5, 0.5)}
    assert all(k.count == 3 for k in table.values())
    round_trip = table[0.25, 0.0]  # strength 0 is the VAE round trip: the person, not the next one
    assert round_trip.missed == 0 and round_trip.own > 0.3 > round_trip.other
    assert len(sheet) == 2 * 3 and all(len(row) == 3 for row in sheet)  # rendering + one per strength
    assert sheet[0][1].size == sheet[0][0].size == (128, 128)
    text = markdown_table(table)
    assert text.splitlines()[0] == "| face size | VAE round trip | from t ≈ 500 |"
    assert [line.split(" |")[0] for line in text.splitlines()[2:]] == ["| 1/2", "| 1/4"]


def test_twice_the_pixels_keep_more_of_a_small_face_through_the_vae():
    sizes, strengths, options = (1 / 7,), (0.0,), {"people": 4, "seeds": (0,), "paint": PAINT}
    small, _ = face_keeping(WEIGHTS / "base", toy_metric(), sizes, strengths, **options)
    large, sheet = face_keeping(WEIGHTS / "base", toy_metric(), sizes, strengths, image_size=256, **options)
    assert sheet[0][0].size == sheet[0][1].size == (256, 256)
    # A 1/7 face covers 2.3 latent cells across at 128 pixels, 4.6 at 256: the round trip keeps more.
    assert large[1 / 7, 0.0].own > small[1 / 7, 0.0].own


def test_the_margin_is_paired_per_output_and_skips_outputs_without_a_face():
    kept = Kept.from_pairs([(0.5, 0.1), (0.3, 0.2), None])
    assert (kept.missed, kept.count) == (1, 3)
    assert kept.own == pytest.approx(0.4) and kept.other == pytest.approx(0.15)
    assert kept.margin == pytest.approx(0.25)  # mean of 0.4 and 0.1
    assert kept.margin_se == pytest.approx(0.15)  # std (n − 1) 0.212, over √2
    # A constant offset between the person and the other is certain, however much the outputs spread.
    spread = Kept.from_pairs([(0.9, 0.8), (-0.5, -0.6), (0.1, 0.0)])
    assert spread.own_std > 0.5 and spread.margin == pytest.approx(0.1) and spread.margin_se < 1e-9
    nothing = Kept.from_pairs([None, None])
    assert nothing.missed == nothing.count == 2 and math.isnan(nothing.own) and math.isnan(nothing.margin)


def test_the_face_box_is_centred_and_inside_the_image():
    for relative_size in (1 / 7, 1 / 4, 1 / 2, 0.7):
        box = centred_box(relative_size)
        assert box.center[0] == pytest.approx(64) and box.size == pytest.approx(128 * relative_size)
        assert 0 <= box.y0 and box.y0 + box.size <= 128


@pytest.mark.parametrize(
    "sizes, strengths", [((0.25,), (1.0,)), ((0.25,), (-0.1,)), ((0.0,), (0.5,)), ((1.5,), (0.5,))]
)
def test_bad_sizes_and_strengths_are_named(sizes, strengths):
    with pytest.raises(RealisIDError, match="strengths|sizes"):
        face_keeping(WEIGHTS / "base", toy_metric(), sizes, strengths)


def test_a_strength_with_no_denoising_step_is_refused():
    with pytest.raises(RealisIDError, match="no denoising step"):
        face_keeping(WEIGHTS / "base", toy_metric(), strengths=(0.0, 0.3), steps=2)


@pytest.mark.parametrize("check", [face_keeping, caption_drawing])
def test_one_person_is_refused(check):
    with pytest.raises(RealisIDError, match="at least 2 people"):
        check(WEIGHTS / "base", toy_metric(), people=1)


def test_caption_drawing_scores_both_captions_for_every_person():
    drawn, sheet = caption_drawing(WEIGHTS / "base", toy_metric(), people=3, seeds=(0, 1), steps=2, paint=PAINT)
    assert list(drawn) == ["full caption", "scene caption"]
    assert all(k.count == 6 for k in drawn.values())
    # References, then one sample per person for each caption; the scene caption is everyone's.
    assert [len(row) for row in sheet] == [3, 3, 3]
    assert sheet[2][0].tobytes() == sheet[2][1].tobytes() != sheet[1][0].tobytes()
    lines = caption_table(drawn).splitlines()
    assert lines[0] == "| caption | to the person | to the next person | margin ± s.e. | faces missed |"
    assert lines[2].startswith("| full caption | ") and lines[3].endswith("/6 |")


def test_command_prints_the_caption_table(capsys):
    assert main(["toy-check", "caption-drawing", "--people", "2", "--seeds", "1", "--steps", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| caption |") and lines[3].startswith("| scene caption | ")


def test_command_refuses_an_image_size_the_models_cannot_draw(capsys):
    with pytest.raises(SystemExit):
        main(["toy-check", "face-keeping", "--image-size", "100"])
    assert "the image size is a positive multiple of 32 (pixels), got '100'" in capsys.readouterr().err


@pytest.mark.parametrize("count", [["--seeds", "0"], ["--people", "-2"], ["--steps", "0"], ["--seeds", "1.5"]])
def test_command_refuses_counts_below_one(count, capsys):
    with pytest.raises(SystemExit):
        main(["toy-check", "face-keeping", *count])
    assert f"argument {count[0]}: expected a whole number above 0, got {count[1]!r}" in capsys.readouterr().err


def test_command_prints_the_table(capsys):
    assert main(["toy-check", "face-keeping", "--sizes", "1/4", "--strengths", "0", "--people", "2", "--seeds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| face size | VAE round trip |" and lines[2].startswith("| 1/4 | ")


def test_adapter_keeping_scores_each_size_with_and_without_the_id():
    kept, sheet = adapter_keeping(
        WEIGHTS / "base", WEIGHTS / "realisid", toy_metric(), (1 / 2, 1 / 7), people=2, seeds=(0,), sampling=TWO_STEPS,
        paint=PAINT
    )
    assert set(kept) == {(0.5, "ID"), (0.5, "no ID"), (1 / 7, "ID"), (1 / 7, "no ID")}
    assert all(k.count == 2 for k in kept.values())
    # Per person: the reference, then with and without the ID at each size; the ID changes the picture.
    assert [len(row) for row in sheet] == [5, 5]
    assert sheet[0][1].size == (128, 128) and sheet[0][1].tobytes() != sheet[0][2].tobytes()
    lines = markdown_table(kept).splitlines()
    assert lines[0] == "| face size | with the ID | no ID (id_scale 0) |"
    assert lines[2].count("margin") == 2
    assert [line.split(" |")[0] for line in lines[2:]] == ["| 1/2", "| 1/7"]


def test_adapter_keeping_switches_a_branch_off():
    args = (WEIGHTS / "base", WEIGHTS / "realisid", toy_metric(), (1 / 4,))
    options = {"people": 2, "seeds": (0,), "paint": PAINT}
    _, both = adapter_keeping(*args, sampling=TWO_STEPS, **options)
    _, local = adapter_keeping(*args, sampling=TWO_STEPS.replace(global_scale=0.0), **options)
    _, neither = adapter_keeping(*args, sampling=TWO_STEPS.replace(local_scale=0.0, global_scale=0.0), **options)
    assert local[0][1].tobytes() != both[0][1].tobytes()
    # With both branches off the ID has no way in: with and without it, the same picture.
    with_id, without = (np.asarray(image, dtype=np.int16) for image in neither[0][1:])
    assert np.abs(with_id - without).max() <= 1


def test_adapter_keeping_draws_at_the_image_size_and_the_sheet_shows_every_picture_whole(tmp_path):
    _, sheet = adapter_keeping(
        WEIGHTS / "base", WEIGHTS / "realisid", toy_metric(), (1 / 7,), people=2, seeds=(0,), sampling=TWO_STEPS,
        image_size=256, paint=PAINT
    )
    assert [image.size for image in sheet[0]] == [(128, 128), (256, 256), (256, 256)]  # reference, ID, no ID
    save_sheet(sheet, tmp_path / "sheet.png")
    grid = Image.open(tmp_path / "sheet.png")
    assert grid.size == (3 * 256, 2 * 256)
    reference, output = sheet[1][0].resize((256, 256)), sheet[1][2]
    assert np.array_equal(np.asarray(grid.crop((0, 256, 256, 512))), np.asarray(reference))
    assert np.array_equal(np.asarray(grid.crop((512, 256, 768, 512))), np.asarray(output))


def test_adapter_keeping_refuses_a_bad_size():
    with pytest.raises(RealisIDError, match="sizes"):
        adapter_keeping(WEIGHTS / "base", WEIGHTS / "realisid", toy_metric(), (0.0,))


def test_command_prints_the_adapter_table_and_needs_an_adapter(capsys):
    adapter = str(WEIGHTS / "realisid")
    check = ["toy-check", "adapter-keeping", "--sizes", "1/4", "--people", "2", "--seeds", "1", "--steps", "2"]
    assert main([*check, "--adapter", adapter]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("| with the ID | no ID (id_scale 0) |") and lines[2].startswith("| 1/4 | ")
    with pytest.raises(SystemExit):
        main(check)
    assert "--adapter" in capsys.readouterr().err


def test_the_blending_table_scores_a_missed_face_zero():
    table = blending_table({"ID": [(0.9, 0.2), None, (0.5, 0.4)], "no ID": [(0.3, 0.3), (0.4, 0.4)]})
    header, _, with_id, without = table.splitlines()
    assert header.startswith("| two people | to the own person | to the other person | own − other |")
    assert with_id.startswith("| ID | 0.700 | 0.300 | +0.267 [") and with_id.endswith("| 1/3 (0 · 1) |")
    assert without.startswith("| no ID | 0.350 | 0.350 | +0.000 [") and without.endswith("| 0/2 (0 · 0) |")


def test_command_prints_the_blending_table_and_its_sheet(tmp_path, capsys):
    check = ["toy-check", "blending", str(WEIGHTS / "realisid"), "--people", "2", "--seeds", "1", "--steps", "2"]
    assert main([*check, "--sheet", str(tmp_path / "sheet.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" | ")[0] for line in lines[2:4]] == ["| ID", "| no ID"]
    assert all(re.search(r"\| \d/4 \((\d) · (\d)\) \|$", line) for line in lines[2:4])  # two faces in each of two pictures
    side = toy_world().size
    # per pair: both references, then the picture with the ID and without it
    assert Image.open(tmp_path / "sheet.png").size == (4 * side, 2 * side)
    with pytest.raises(SystemExit, match="2"):
        main([*check, "--size", "0"])
    assert "relative sizes lie in (0, 1], got '0'" in capsys.readouterr().err
