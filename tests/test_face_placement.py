"""The placement check of a trained toy adapter (``realisid_toy.lab.face_placement``), on the shipped weights."""

from __future__ import annotations

import numpy as np
import pytest

from realisid.boxes import Box
from realisid.cli import main
from realisid.errors import RealisIDError
from realisid.sampling import SamplingOptions
from realisid_toy.lab.face_placement import face_placement, markdown_table, placement_boxes
from realisid_toy.shipped import WEIGHTS, toy_metric, toy_world


def test_box_iou():
    assert Box(10, 10, 20).iou(Box(10, 10, 20)) == 1.0
    assert Box(0, 0, 10).iou(Box(10, 0, 10)) == 0.0  # touching edges share no area
    assert Box(0, 0, 10).iou(Box(5, 0, 10)) == pytest.approx(50 / 150)
    assert Box(0, 0, 10).iou(Box(2, 2, 4)) == pytest.approx(16 / 100)  # one inside the other


@pytest.mark.parametrize("left", [True, False])
def test_the_asked_box_is_moved_sideways_and_mirrored(left):
    asked, mirrored = placement_boxes(1 / 2, 0.2, left)
    assert asked.size == mirrored.size == 64 and asked.y0 == mirrored.y0
    assert (asked.center[0] < 64) == left and asked.center[0] == pytest.approx(64 + (-25.6 if left else 25.6))
    assert asked.center[0] + mirrored.center[0] == pytest.approx(128)
    assert 0 <= min(asked.x0, mirrored.x0) and max(asked.x0, mirrored.x0) + 64 <= 128


def test_a_box_moved_out_of_the_image_is_refused():
    with pytest.raises(RealisIDError, match="leaves the 128-px image"):
        placement_boxes(0.7, 0.3, left=True)


def test_the_renderer_places_faces_where_asked_and_the_sheet_marks_the_boxes():
    placed, sheet = face_placement(WEIGHTS / "base", WEIGHTS / "realisid", toy_metric(), people=2, seeds=(0,),
                                   sampling=SamplingOptions(num_inference_steps=2), image_size=160)
    assert list(placed) == ["renderer", "adapter"] and all(p.count == 2 for p in placed.values())
    ceiling = placed["renderer"]  # the finder sees the rendered face at the asked box, not at its mirror
    assert ceiling.missed == 0 and ceiling.asked > 0.5 and ceiling.mirrored < 0.2
    assert [len(row) for row in sheet] == [2, 2] and sheet[0][0].size == sheet[0][1].size == (160, 160)
    pixels = np.asarray(sheet[0][0])
    assert (pixels == (255, 0, 0)).all(-1).any()  # the asked box, drawn in red
    lines = markdown_table(placed).splitlines()
    assert lines[0] == "| drawn by | IoU with the asked box | with the mirrored box | faces missed |"
    assert lines[2].startswith("| renderer | ") and lines[3].endswith("/2 |")


def test_command_prints_the_table_and_one_line_errors(capsys):
    base, adapter = str(WEIGHTS / "base"), str(WEIGHTS / "realisid")
    check = ["toy-check", "face-placement", base, adapter]
    assert main([*check, "--people", "1", "--seeds", "1", "--steps", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[2].startswith("| renderer | ")
    assert main([*check, "--size", "0.9"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and f"leaves the {toy_world().size}-px image" in error[0]
