"""FaceConditions on a real photo: crop, face mask, masked crop, normalised landmarks, parser plug-in."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from realisid.boxes import Box
from realisid.faces import Face, MeshOvalParser, detect_faces, extract_conditions, face_conditions, samples
from realisid.faces.topology import PARTS


@pytest.fixture(scope="module")
def conditions():
    return extract_conditions(samples.astronaut())


def test_crop_is_the_box_region(conditions):
    assert conditions.image_size == (512, 512)
    assert conditions.crop.size == (512, 512) and conditions.crop.mode == "RGB"
    x0, y0, size = conditions.box
    expected = samples.astronaut().resize(
        (512, 512), Image.Resampling.BICUBIC, box=(x0, y0, x0 + size, y0 + size)
    )
    np.testing.assert_allclose(np.asarray(conditions.crop, float), np.asarray(expected, float), atol=1)


def test_landmarks_are_normalised_to_the_box(conditions):
    face = detect_faces(samples.astronaut())[0]
    box = conditions.box
    assert conditions.landmarks.shape == (478, 3) and conditions.landmarks.dtype == np.float32
    np.testing.assert_allclose(
        conditions.landmarks[:, :2] * box.size + (box.x0, box.y0), face.landmarks[:, :2], atol=1e-3
    )
    np.testing.assert_allclose(conditions.landmarks[:, 2] * box.size, face.landmarks[:, 2], atol=1e-3)
    np.testing.assert_allclose(conditions.crop_landmarks, conditions.landmarks * 512, rtol=1e-6)
    cx, cy, rel = conditions.relative_box
    assert (cx, cy, rel) == pytest.approx(
        ((box.x0 + box.size / 2) / 512, (box.y0 + box.size / 2) / 512, box.size / 512)
    )


def test_mask_covers_the_face_and_not_the_corners(conditions):
    mask = conditions.mask
    assert mask.shape == (512, 512) and mask.dtype == np.float32
    assert mask.min() >= 0 and mask.max() <= 1
    # Brows, eyes, nose and lips are masked in.
    inner = np.unique(
        [i for part, lines in PARTS.items() if part != "face_oval" for line in lines for i in line]
    )
    x, y = np.rint(conditions.crop_landmarks[inner, :2]).astype(int).T
    assert mask[y, x].mean() > 0.99
    for corner in (mask[:24, :24], mask[:24, -24:], mask[-24:, :24], mask[-24:, -24:]):
        assert corner.max() == 0


def test_masked_crop_is_crop_times_mask(conditions):
    crop, masked = np.asarray(conditions.crop, float), np.asarray(conditions.masked_crop, float)
    np.testing.assert_allclose(masked, crop * conditions.mask[..., None], atol=0.5)
    assert (masked[conditions.mask == 0] == 0).all()


def test_mask_edge_is_antialiased_and_deterministic(conditions):
    parser = MeshOvalParser()
    first = parser(conditions.crop, conditions.crop_landmarks)
    np.testing.assert_array_equal(first, parser(conditions.crop, conditions.crop_landmarks))
    partial = (first > 0) & (first < 1)
    assert partial.any() and partial.mean() < 0.02


def test_a_parser_can_be_plugged_in():
    calls = []

    def half(crop, landmarks):
        calls.append((crop.size, landmarks.shape))
        mask = np.zeros(crop.size[::-1], np.float32)
        mask[:, : crop.width // 2] = 1
        return mask

    conditions = extract_conditions(samples.astronaut(), parser=half, crop_size=128)
    assert calls == [((128, 128), (478, 3))]
    assert (np.asarray(conditions.masked_crop)[:, 64:] == 0).all()


def test_box_leaving_the_photo_pads_the_crop_with_zeros():
    face = detect_faces(samples.astronaut())[0]
    shifted = Face(
        Box(-face.box.size / 2, face.box.y0, face.box.size), face.score, face.relative_size, face.landmarks
    )
    conditions = face_conditions(samples.astronaut(), shifted, crop_size=64)
    assert (np.asarray(conditions.crop)[:, :31] == 0).all()
    assert np.asarray(conditions.crop)[:, 33:].mean() > 20
