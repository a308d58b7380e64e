"""The c_p&e drawing and pose edits, on landmarks of a real photo."""

from __future__ import annotations

import numpy as np
import pytest

from realisid.faces import (
    PART_COLORS,
    draw_landmarks,
    extract_conditions,
    landmark_image_tensor,
    rotate_landmarks,
    samples,
    transfer_pose,
)
from realisid.faces.topology import NOSE_TIP


@pytest.fixture(scope="module")
def conditions():
    return extract_conditions(samples.astronaut())


def colours(image) -> set[tuple[int, int, int]]:
    return {tuple(c) for c in np.unique(np.asarray(image).reshape(-1, 3), axis=0)}


def test_drawing_is_deterministic_and_uses_each_part_colour(conditions):
    first = draw_landmarks(conditions.landmarks, 512)
    assert first.size == (512, 512) and first.mode == "RGB"
    np.testing.assert_array_equal(
        np.asarray(first), np.asarray(draw_landmarks(conditions.landmarks.copy(), 512))
    )
    assert colours(first) == {(0, 0, 0), *PART_COLORS.values()}
    assert (np.asarray(first) > 0).any(axis=-1).mean() < 0.1  # thin lines on black


def test_irises_are_drawn_only_for_478_points(conditions):
    without_irises = colours(draw_landmarks(conditions.landmarks[:468], 256))
    assert PART_COLORS["left_iris"] not in without_irises and PART_COLORS["right_iris"] not in without_irises
    assert PART_COLORS["left_eye"] in without_irises


def test_drawing_sits_where_the_landmarks_are(conditions):
    drawing = np.asarray(draw_landmarks(conditions.landmarks, 256))
    lips = np.argwhere((drawing == PART_COLORS["lips"]).all(axis=-1))
    mouth = conditions.landmarks[[13, 14, 61, 291], :2].mean(axis=0) * 256
    np.testing.assert_allclose(lips.mean(axis=0)[::-1], mouth, atol=4)


def test_tensor_matches_the_drawing(conditions):
    tensor = landmark_image_tensor(conditions.landmarks, 128)
    assert tuple(tensor.shape) == (3, 128, 128) and 0 <= tensor.min() and tensor.max() <= 1
    image = np.asarray(draw_landmarks(conditions.landmarks, 128), np.float32) / 255
    np.testing.assert_array_equal(tensor.permute(1, 2, 0).numpy(), image)


def test_positive_yaw_moves_the_nose_to_image_right(conditions):
    points = conditions.landmarks
    turned = rotate_landmarks(points, yaw=30)
    shift = turned[NOSE_TIP, 0] - points[NOSE_TIP, 0]
    # The nose tip stands out of the face by depth d; turning by 30° moves it about d·sin 30° sideways.
    depth = points[:, 2].mean() - points[NOSE_TIP, 2]
    assert shift > 0.5 * depth * np.sin(np.radians(30)) > 0
    assert rotate_landmarks(points, yaw=-30)[NOSE_TIP, 0] < points[NOSE_TIP, 0]

    # ... and so does the nose in the drawing.
    def nose_column(landmarks):
        drawing = np.asarray(draw_landmarks(landmarks, 256))
        return np.argwhere((drawing == PART_COLORS["nose"]).all(axis=-1))[:, 1].mean()

    assert nose_column(turned) > nose_column(points) + 5


def test_pitch_and_roll_signs(conditions):
    points = conditions.landmarks
    assert rotate_landmarks(points, pitch=20)[NOSE_TIP, 1] < points[NOSE_TIP, 1]
    rolled = rotate_landmarks(points, roll=90)
    centre = points.mean(axis=0)
    # Counter-clockwise in the image (y down): the chin (152) goes to the right of the centre.
    assert rolled[152, 0] - centre[0] == pytest.approx(points[152, 1] - centre[1], abs=1e-5)


def test_rotation_is_rigid_and_zero_is_identity(conditions):
    points = conditions.landmarks
    np.testing.assert_allclose(rotate_landmarks(points), points, atol=1e-6)
    rotated = rotate_landmarks(points, yaw=25, pitch=-10, roll=15)
    distances = np.linalg.norm(points[:50, None] - points[None, :50], axis=-1)
    np.testing.assert_allclose(
        np.linalg.norm(rotated[:50, None] - rotated[None, :50], axis=-1), distances, atol=1e-5
    )
    np.testing.assert_allclose(rotated.mean(axis=0), points.mean(axis=0), atol=1e-6)


def test_yaw_edit_changes_the_drawing_deterministically(conditions):
    turned = rotate_landmarks(conditions.landmarks, yaw=30)
    first, second = (
        draw_landmarks(turned, 256),
        draw_landmarks(rotate_landmarks(conditions.landmarks, yaw=30), 256),
    )
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))
    assert not np.array_equal(np.asarray(first), np.asarray(draw_landmarks(conditions.landmarks, 256)))


def test_transfer_pose_gives_the_driving_landmarks_for_any_box(conditions):
    driving = extract_conditions(samples.grace_hopper())
    transferred = transfer_pose(driving)
    np.testing.assert_array_equal(transferred, driving.landmarks)
    assert transferred is not driving.landmarks
    # Drawn for the reference's box, it is the driving face's drawing, not the reference's.
    np.testing.assert_array_equal(
        np.asarray(draw_landmarks(transferred, 256)), np.asarray(driving.landmark_image(256))
    )
    assert not np.array_equal(
        np.asarray(draw_landmarks(transferred, 256)), np.asarray(conditions.landmark_image(256))
    )
