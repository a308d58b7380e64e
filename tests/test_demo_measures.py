"""The toy demo's readings (``realisid_toy.lab.demo_measures``) on renderings of known box, pose and mouth.

The face finder is the shipped world's metric, so its readings are tested on people of that world
(its paint and image side); the face mesh's on unpainted people at their known boxes.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageFilter

from realisid.boxes import Box
from realisid.errors import RealisIDError
from realisid.persons import Person
from realisid.sampling import SamplingOptions
from realisid_toy.lab.demo_measures import (
    SIDE_TOLERANCE,
    face_side,
    head_pose,
    head_pose_at,
    landmark_pose,
    people_margins,
    pose_likeness,
    reading_errors,
)
from realisid_toy.lab.face_keeping import reference_embedding
from realisid_toy.lab.shards import rendering_conditions
from realisid_toy.lab.verdict import Margin
from realisid_toy.shipped import toy_metric, toy_world
from realisid_toy.world.render import render_scene
from realisid_toy.world.scenes import Scene
from realisid_toy.world.traits import FRONTAL, NEUTRAL, Expression, Identity, Pose

SCENE = Scene("wall", "blue", "red", "sweater", 0)
WORLD = toy_world()
SEEDS = range(2_000_020, 2_000_023)
PEOPLE = [Identity.sample(seed) for seed in SEEDS]
WORLD_PEOPLE = [Identity.sample(seed, WORLD.paint) for seed in SEEDS]


@pytest.fixture(scope="module")
def metric():
    return toy_metric()


def draw(identity: Identity, relative_size: float, yaw: float = 0.0, mouth_open: float = 0.0, size: int = 128):
    box = Box.from_relative(0.5, 0.4, relative_size, size, size)
    return render_scene(identity, box, Pose(yaw), Expression(mouth_open=mouth_open), scene=SCENE, size=size), box


def read_pose(identity: Identity, relative_size: float, yaw: float = 0.0, mouth_open: float = 0.0):
    """The face mesh's reading of an unpainted person drawn at a known box (no face finder involved)."""
    rendering, box = draw(identity, relative_size, yaw, mouth_open)
    return head_pose_at(rendering.image, box)


@pytest.mark.parametrize("relative_size", [1 / 2, 1 / 4])
def test_a_rendering_at_a_known_box_gives_its_side_and_a_box_twice_as_large_is_flagged(metric, relative_size):
    for identity in WORLD_PEOPLE:
        rendering, box = draw(identity, relative_size, size=WORLD.size)
        side, error = face_side(metric, rendering.image, box)
        assert abs(error) < 0.1 and side == pytest.approx(box.size, rel=0.1)
        _, twice = face_side(metric, rendering.image, box.expanded(2.0))
        assert twice == pytest.approx(side / (2 * box.size) - 1) and twice < -SIDE_TOLERANCE
    assert face_side(metric, Image.new("RGB", (WORLD.size, WORLD.size), (90, 120, 200)), box) is None


@pytest.mark.parametrize("relative_size", [1 / 4, 1 / 7])
def test_a_head_turned_25_degrees_reads_as_turned_that_way_by_about_that_much(relative_size):
    for identity in PEOPLE:
        frontal, left, right = (read_pose(identity, relative_size, yaw) for yaw in (0, 25, -25))
        assert abs(frontal.yaw) < 5
        assert 15 < left.yaw < 35 and -35 < right.yaw < -15


def test_an_open_mouth_reads_open_and_a_closed_one_closed():
    for identity in PEOPLE:
        closed, open_ = (read_pose(identity, 1 / 4, mouth_open=m) for m in (0.0, 1.0))
        exact = landmark_pose(draw(identity, 1 / 4, mouth_open=1.0)[0].landmarks).mouth
        assert closed.mouth < 0.02 and open_.mouth > 0.06 and open_.mouth == pytest.approx(exact, abs=0.03)


def test_the_yaw_fit_recovers_the_pose_from_exact_landmarks():
    for identity in PEOPLE:
        for yaw in (-30, -10, 0, 15, 30):
            assert landmark_pose(draw(identity, 1 / 4, yaw)[0].landmarks).yaw == pytest.approx(yaw, abs=4)


def test_a_face_the_mesh_cannot_recognise_gives_no_reading(metric):
    rendering, box = draw(PEOPLE[0], 1 / 4)
    assert head_pose_at(rendering.image, box) is not None
    assert head_pose_at(rendering.image.filter(ImageFilter.GaussianBlur(3)), box) is None
    assert head_pose_at(Image.new("RGB", (128, 128), (90, 120, 200)), box) is None
    assert head_pose(metric, Image.new("RGB", (WORLD.size, WORLD.size), (90, 120, 200))) is None  # no face found


@pytest.mark.parametrize("paint", ["none", "tiles"])
def test_pose_likeness_names_the_pose_a_blurred_rendering_was_drawn_in(paint):
    """The mesh-free reading: a face drawn turned and smiling correlates more with the person rendered so
    than frontal and neutral, and the other way round, in another scene and softened as a model draws."""
    driven = (Pose(yaw=25.0), Expression(smile=1.0, mouth_open=0.6))
    for seed in range(2_000_020, 2_000_023):
        identity = Identity.sample(seed, paint)
        for relative_size in (1 / 4, 1 / 7):
            box = Box.from_relative(0.5, 0.3, relative_size, 256, 256)
            for drawn_in, expected in (((FRONTAL, NEUTRAL), 0), (driven, 1)):
                image = render_scene(identity, box, *drawn_in, scene=SCENE, size=256).image
                likeness = pose_likeness(image.filter(ImageFilter.GaussianBlur(2)), box, identity,
                                         [(FRONTAL, NEUTRAL), driven])
                assert int(np.argmax(likeness)) == expected and max(likeness) > 0.4


def test_reading_errors_on_random_scenes_stay_well_inside_the_flag_at_a_quarter(metric):
    errors = reading_errors(metric, 1 / 4, count=12, size=WORLD.size, paint=WORLD.paint)
    assert (errors.found, errors.count) == (12, 12) and errors.side < SIDE_TOLERANCE / 2
    if WORLD.paint == "none":  # under paint tiles the mesh reads some faces, how well is not claimed
        assert errors.read == 12 and errors.yaw < 8 and errors.mouth < 0.03
        assert errors.mouth_range[0] < 0.01 < errors.mouth_range[1]


def test_margins_score_a_missed_face_zero_with_a_standard_error():
    margins = Margin.from_pairs([(0.5, 0.1), (0.3, 0.2), None])
    assert (margins.missed, margins.count) == (1, 3)
    assert margins.mean == pytest.approx(0.5 / 3)
    assert margins.se == pytest.approx(np.std([0.4, 0.1, 0.0], ddof=1) / math.sqrt(3))
    assert str(margins) == "+0.167 ± 0.120 (1/3 missed)"
    assert str(Margin.from_pairs([(0.5, 0.1), (0.3, 0.2)])) == "+0.250 ± 0.150"


def test_people_margins_score_each_person_against_the_next_one_at_its_own_seed(metric):
    """A stand-in pipeline draws person k's own rendering with the ID and the next person's without:
    each picture's margin is then + (own face) or - (the next face), and each person gets its seed."""
    side = WORLD.size
    renderings = [draw(identity, 1 / 4, size=side) for identity in WORLD_PEOPLE]
    people = [Person(rendering_conditions(r), box=box) for r, box in renderings]
    references = [reference_embedding(metric, r.image) for r, _ in renderings]
    asked = []

    def pipe(prompt, persons, height, width, sampling, generator):
        k = next(i for i, person in enumerate(people) if person is persons[0])
        asked.append((k, generator.initial_seed(), sampling.id_scale))
        shown = k if sampling.id_scale else (k + 1) % len(people)
        return SimpleNamespace(images=[renderings[shown][0].image])

    sampling = SamplingOptions(num_inference_steps=3)
    margins, images = people_margins(pipe, metric, "a person", people, references, [7, 8, 9], sampling, side)
    assert asked == [(k, 7 + k, scale) for scale in (sampling.id_scale, 0.0) for k in range(3)]
    assert margins["ID"].count == margins["no ID"].count == 3 and margins["ID"].missed == 0
    assert margins["ID"].mean > 0.2 and margins["no ID"].mean < -0.2
    assert [image is renderings[k][0].image for k, image in enumerate(images["ID"])] == [True] * 3
    with pytest.raises(RealisIDError, match="one person and reference per seed"):
        people_margins(pipe, metric, "a person", people, references, [7, 8], sampling, side)

