"""The synthetic world: determinism, exact boxes and landmarks, pose signs, identities, captions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

from realisid.boxes import Box
from realisid.faces import PART_COLORS, draw_landmarks
from realisid.faces.topology import FACE_OVAL, NOSE_TIP, PARTS
from realisid_toy.world import Expression, Identity, Pose, Scene, render_scene, sample_rendering
from realisid_toy.world.mesh import MODELLED, complete_mesh
from realisid_toy.world.traits import PAINT_COLORS, PAINT_REGIONS

BOX = Box(24.0, 16.0, 80.0)


def test_rendering_is_deterministic():
    a, b = sample_rendering(7), sample_rendering(7)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert np.array_equal(a.landmarks, b.landmarks) and a.caption == b.caption and a.box == b.box
    assert not np.array_equal(np.asarray(a.image), np.asarray(sample_rendering(8).image))


def test_landmarks_have_mesh_layout_and_fill_is_harmonic():
    rendering = render_scene(Identity.sample(1), BOX)
    landmarks = rendering.landmarks
    assert landmarks.shape == (478, 3) and landmarks.dtype == np.float32
    assert np.isfinite(landmarks).all()
    # An unmodelled vertex is the mean of its mesh neighbours.
    unknown = next(i for i in range(468) if i not in MODELLED)
    neighbours = {b for a, b in FACEMESH_TESSELATION if a == unknown} | {
        a for a, b in FACEMESH_TESSELATION if b == unknown
    }
    assert np.allclose(landmarks[unknown], landmarks[sorted(neighbours)].mean(axis=0), atol=1e-5)
    with pytest.raises(ValueError):
        complete_mesh(np.zeros((468, 3)))


def test_face_mask_and_box_agree_with_the_drawn_face():
    rendering = render_scene(Identity.sample(2), BOX, scene=3)
    ys, xs = np.nonzero(rendering.face_mask > 0.5)
    # The face oval spans the box from cheek to cheek and forehead to chin (forehead a bit above it).
    assert xs.min() >= BOX.x0 - 1 and xs.max() <= BOX.x0 + BOX.size + 1
    assert ys.min() >= BOX.y0 - 0.15 * BOX.size and ys.max() <= BOX.y0 + BOX.size + 1
    assert xs.max() - xs.min() > 0.8 * BOX.size and ys.max() - ys.min() > 0.95 * BOX.size
    # Inside the face the image is skin-coloured; the oval landmarks lie on the mask's edge.
    skin = np.asarray(rendering.image)[int(BOX.y0 + 0.35 * BOX.size), int(BOX.x0 + 0.2 * BOX.size)]
    assert np.abs(skin.astype(int) - rendering.identity.skin).max() < 12
    oval = rendering.landmarks[FACE_OVAL, :2] * BOX.size + (BOX.x0, BOX.y0)
    inside = rendering.face_mask[
        np.clip(oval[:, 1].astype(int), 0, 127), np.clip(oval[:, 0].astype(int), 0, 127)
    ]
    assert 0.1 < inside.mean() < 0.9


def test_eye_landmarks_lie_on_drawn_eyes():
    rendering = render_scene(Identity.sample(3), Box(14.0, 10.0, 100.0), scene=1)
    pixels = np.asarray(rendering.image).astype(int)
    for centre in (468, 473):  # iris centres: the pupil
        x, y = rendering.landmarks[centre, :2] * 100 + (14.0, 10.0)
        assert pixels[int(y), int(x)].max() < 80
    for eye in ("right_eye", "left_eye"):  # between the lids: eye white or iris, not skin
        lids = rendering.landmarks[PARTS[eye][0], :2] * 100 + (14.0, 10.0)
        x, y = (lids[3] + lids[11]) / 2 * 0.5 + lids[[3, 11]].mean(axis=0) * 0.5
        assert np.abs(pixels[int(y), int(x)] - rendering.identity.skin).max() > 30


@pytest.mark.parametrize("yaw", [-25.0, 25.0])
def test_yaw_moves_the_nose_towards_its_sign(yaw):
    identity = Identity.sample(4)
    frontal = render_scene(identity, BOX).landmarks[NOSE_TIP, 0]
    turned = render_scene(identity, BOX, Pose(yaw=yaw)).landmarks[NOSE_TIP, 0]
    assert np.sign(turned - frontal) == np.sign(yaw) and abs(turned - frontal) > 0.05


def test_pitch_and_expression_move_the_right_parts():
    identity = Identity.sample(4)
    frontal = render_scene(identity, BOX).landmarks
    assert render_scene(identity, BOX, Pose(pitch=15)).landmarks[NOSE_TIP, 1] < frontal[NOSE_TIP, 1]
    smiling = render_scene(identity, BOX, expression=Expression(smile=1.0)).landmarks
    assert smiling[61, 1] < frontal[61, 1] and smiling[291, 0] > frontal[291, 0]  # corners up and out
    open_mouth = render_scene(identity, BOX, expression=Expression(mouth_open=1.0)).landmarks
    assert open_mouth[14, 1] - open_mouth[13, 1] > frontal[14, 1] - frontal[13, 1] + 0.05
    closed = render_scene(identity, BOX, expression=Expression(eyes_closed=1.0)).landmarks
    assert closed[145, 1] - closed[159, 1] < 0.3 * (frontal[145, 1] - frontal[159, 1])


def test_identities_differ_and_persist_across_scenes():
    a, b = Identity.sample(10), Identity.sample(11)
    assert a != b and Identity.sample(10) == a
    first, second = sample_rendering(1, identity=a), sample_rendering(2, identity=a)
    assert first.identity == second.identity == a
    assert first.pose != second.pose and first.box != second.box
    assert a.hair_color in first.caption or a.hair_style == "bald"
    # The same scene and pose with another identity draws another face.
    one, other = render_scene(a, BOX), render_scene(b, BOX)
    face = np.s_[int(BOX.y0) : int(BOX.y0 + BOX.size), int(BOX.x0) : int(BOX.x0 + BOX.size)]
    assert (
        np.abs(np.asarray(one.image, dtype=int)[face] - np.asarray(other.image, dtype=int)[face]).mean() > 10
    )


def test_face_paint_adds_paint_to_the_same_person():
    plain, painted = Identity.sample(10), Identity.sample(10, "regions")
    assert plain.paint_colors == () and Identity.sample(10, "regions") == painted
    assert dataclasses.replace(painted, paint="none", paint_colors=()) == plain
    assert len(painted.paint_colors) == len(PAINT_REGIONS)
    assert all(color is None or color in PAINT_COLORS for color in painted.paint_colors)
    people = [Identity.sample(seed, "regions").paint_colors for seed in range(40)]
    assert len(set(people)) == 40


def test_face_paint_is_drawn_in_its_regions_inside_the_face_only():
    people = (Identity.sample(seed, "regions") for seed in range(100))
    person = next(p for p in people if p.paint_colors[:3] == ("red", "blue", None) and not p.beard)
    plain = render_scene(dataclasses.replace(person, paint="none", paint_colors=()), BOX)
    painted = render_scene(person, BOX)
    changed = np.abs(np.asarray(painted.image, dtype=int) - np.asarray(plain.image, dtype=int)).max(axis=-1) > 0
    assert np.array_equal(painted.face_mask, plain.face_mask)
    assert np.array_equal(painted.landmarks, plain.landmarks)
    assert not changed[painted.face_mask == 0].any()
    assert changed[painted.face_mask == 1].mean() > 0.25
    pixels = np.asarray(painted.image, dtype=int)

    def at(x: float, y: float) -> np.ndarray:  # a point of the frontal face, in box units
        return pixels[int(BOX.y0 + y * BOX.size), int(BOX.x0 + x * BOX.size)]

    assert np.abs(at(0.5, 0.0) - PAINT_COLORS["red"]).max() < 12
    assert np.abs(at(0.2, 0.55) - PAINT_COLORS["blue"]).max() < 12  # the person's right: the image's left
    assert np.abs(at(0.8, 0.55) - person.skin).max() < 12  # the left cheek is bare
    assert "face paint: red forehead and blue right cheek" in painted.caption
    assert "paint" not in painted.scene_caption and "paint" not in plain.caption


def test_caption_names_clothing_expression_and_background():
    scene = Scene(
        background="wall", wall_color="green", clothing_color="orange", clothing_kind="shirt", seed=0
    )
    rendering = render_scene(Identity.sample(0), BOX, expression=Expression(smile=1.0), scene=scene)
    text = rendering.caption
    assert (
        "wearing an orange shirt" in text and "smiling" in text and text.endswith("in front of a green wall")
    )
    assert rendering.scene_caption == "a person, wearing an orange shirt, in front of a green wall"


def test_landmark_drawing_is_the_real_photo_drawing():
    rendering = render_scene(Identity.sample(5), BOX, Pose(yaw=20, pitch=5), Expression(smile=0.5))
    drawing = np.asarray(draw_landmarks(rendering.landmarks, 256))
    lit = drawing.any(axis=2)
    assert lit.sum() > 500
    ys, xs = np.nonzero(lit)
    assert xs.min() > 0 and xs.max() < 255 and ys.max() < 255  # the forehead may touch the top
    drawn = {tuple(c) for c in np.unique(drawing.reshape(-1, 3), axis=0)}
    assert drawn == {(0, 0, 0), *PART_COLORS.values()}  # every part a real photo's drawing has
