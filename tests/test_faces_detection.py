"""Face detection and landmarks on real photos (shipped in installed packages) with the real models."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from realisid.boxes import Box
from realisid.faces import (
    Detection,
    FaceIndexError,
    MediaPipeDetector,
    MeshLandmarker,
    NoFaceError,
    detect_faces,
    extract_conditions,
    samples,
)
from realisid.faces.cascade import HaarCascade
from realisid.faces.detection import _tile_starts, overlap, suppress_overlaps
from realisid.faces.samples import ASTRONAUT_FACE
from realisid.faces.topology import NOSE_TIP


def inside(points: np.ndarray, box: Box, margin: float = 0.0) -> np.ndarray:
    """Which ``(N, >=2)`` points lie in ``box`` grown by ``margin`` times its size on every side."""
    pad = margin * box.size
    x, y = points[:, 0], points[:, 1]
    return (
        (x >= box.x0 - pad)
        & (x <= box.x0 + box.size + pad)
        & (y >= box.y0 - pad)
        & (y <= box.y0 + box.size + pad)
    )


def assert_landmarks_fit(landmarks: np.ndarray, box: Box) -> None:
    """A 478-point mesh on the face: nearly all points in the box, all in it grown by 20 %."""
    assert landmarks.shape == (478, 3)
    assert inside(landmarks, box).mean() > 0.9
    assert inside(landmarks, box, margin=0.2).all()
    assert inside(landmarks[NOSE_TIP : NOSE_TIP + 1], box).all()


@pytest.fixture(scope="module")
def astronaut_faces():
    return detect_faces(samples.astronaut())


def test_astronaut_face_box_and_landmarks(astronaut_faces):
    (face,) = astronaut_faces
    assert face.score > 0.8
    assert overlap(face.box, ASTRONAUT_FACE) > 0.85
    assert 0.8 < face.box.size / ASTRONAUT_FACE.size < 1.25
    assert face.relative_size == pytest.approx(face.box.size / 512)
    assert_landmarks_fit(face.landmarks, face.box)
    # Image frame: eyes above the nose tip above the mouth; the nose is nearest the camera.
    left_eye, right_eye, nose, mouth = face.landmarks[[263, 33, NOSE_TIP, 13]]
    assert left_eye[0] > nose[0] > right_eye[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < mouth[1]
    assert nose[2] < np.median(face.landmarks[:, 2])


@pytest.mark.parametrize("denominator", [4, 6, 8, 12])
def test_small_faces_are_found_with_landmarks(denominator):
    photo, truth = samples.place_face(samples.astronaut(), ASTRONAUT_FACE, 1 / denominator)
    faces = detect_faces(photo)
    assert len(faces) == 1
    (face,) = faces
    assert overlap(face.box, truth) > 0.8
    assert 0.8 < face.box.size / truth.size < 1.25
    assert_landmarks_fit(face.landmarks, face.box)


def test_group_photo_finds_every_face_largest_first():
    photo, truths = samples.group_photo()
    faces = detect_faces(photo)
    assert len(faces) == len(truths)
    for face, truth in zip(faces, truths):  # both largest first
        assert overlap(face.box, truth) > 0.7
        assert_landmarks_fit(face.landmarks, face.box)
    assert [face.box.size for face in faces] == sorted((face.box.size for face in faces), reverse=True)


class RecordingDetector:
    """A plugged-in detector: MediaPipe's, recording the image sizes it is given."""

    def __init__(self, detector):
        self.detector, self.shapes = detector, []

    def __call__(self, image):
        self.shapes.append(image.shape)
        return self.detector(image)


def test_large_photo_is_downscaled_for_detection_and_boxes_map_back():
    photo, truth = samples.place_face(samples.astronaut(), ASTRONAUT_FACE, 1 / 8, canvas_size=(6000, 4000))
    detector = RecordingDetector(MediaPipeDetector())
    (face,) = detect_faces(photo, detector)
    assert detector.shapes == [(683, 1024, 3)]
    assert overlap(face.box, truth) > 0.8 and 0.8 < face.box.size / truth.size < 1.25
    assert face.relative_size == pytest.approx(face.box.size / 6000)
    assert_landmarks_fit(face.landmarks, face.box)


def test_boxes_without_a_face_mesh_are_dropped():
    photo, truth = samples.place_face(samples.astronaut(), ASTRONAUT_FACE, 1 / 6)
    false_box = Box(50, 700, truth.size)  # rocket-launch background, no face

    def detector(image):
        return [Detection(truth, 0.9), Detection(false_box, 0.95)]

    (face,) = detect_faces(photo, detector)
    assert face.box.iou(truth) > 0.7  # the box around the mesh's oval, not the detector's


def test_a_mesh_elsewhere_than_the_detected_box_is_not_a_face():
    photo, truth = samples.place_face(samples.astronaut(), ASTRONAUT_FACE, 1 / 6)
    fragment = Box(truth.x0 + truth.size * 0.4, truth.y0 + truth.size * 0.4, truth.size * 0.25)
    assert detect_faces(photo, lambda image: [Detection(fragment, 0.9)]) == []


def test_photo_without_face_raises_no_face_error():
    with pytest.raises(NoFaceError, match="no face found"):
        extract_conditions(samples.background((640, 480)))


def test_missing_face_index_raises_face_index_error():
    photo, _ = samples.place_face(samples.astronaut(), ASTRONAUT_FACE, 1 / 6)
    with pytest.raises(FaceIndexError, match="face index 3 does not exist: 1 face"):
        extract_conditions(photo, face_index=3)


def test_overlap_suppression_drops_duplicates_and_fragments_keeps_neighbours():
    face = Detection(Box(100, 100, 80), 0.9)
    duplicate = Detection(Box(105, 98, 85), 0.8)
    fragment = Detection(Box(130, 130, 40), 0.85)  # a cut face: small IoU, but inside the whole one
    neighbour = Detection(Box(190, 100, 80), 0.7)
    assert suppress_overlaps([duplicate, fragment, neighbour, face], threshold=0.3) == [face, neighbour]


@pytest.mark.parametrize("length, tile", [(1024, 512), (1000, 800), (1600, 800), (300, 800), (1024, 184)])
def test_tiles_cover_the_axis_with_a_third_tile_overlap(length, tile):
    starts = _tile_starts(length, tile)
    assert starts[0] == 0 and starts[-1] + min(tile, length) == length
    assert all(0 < b - a <= 2 * tile / 3 for a, b in itertools.pairwise(starts))


def test_detector_tiles_are_validated():
    with pytest.raises(ValueError, match="tiles"):
        MediaPipeDetector(tiles=(1.0, 1.5))


@pytest.fixture(scope="module")
def varied_faces():
    """A portrait and three LFW faces (glasses; dark skin; a turned, smiling head) with their true boxes."""
    reference = MediaPipeDetector(tiles=(1.0,), full_range=True)
    lfw = samples.lfw_faces()
    photos = [samples.grace_hopper()] + [lfw[i] for i in (5, 13, 31)]
    faces = [
        (photo, samples.reference_box(photo, reference, margin=0.5 if photo.width == 25 else 0.0))
        for photo in photos
    ]
    reference.close()
    assert all(box is not None for _, box in faces)
    return faces


@pytest.mark.parametrize(
    "denominator, backdrop, position, least_found",
    [
        (12, "flat", "centre", 4),
        (16, "noise", "left edge", 4),
        (20, "scene", "bottom edge", 3),
        (24, "flat", "top-right corner", 3),
    ],
)
def test_faces_small_relative_to_the_photo_are_found(
    varied_faces, denominator, backdrop, position, least_found
):
    """A fast subset of benchmarks/faces_small.py: every face down to 1/16 found, 3 of 4 below (the
    dark-skinned face is missed at 1/20 on the scene), each box side within 10 % of the truth."""
    found = 0
    for photo, box in varied_faces:
        canvas, truth = samples.composed(photo, box, 1 / denominator, backdrop, position)
        faces = detect_faces(canvas)
        assert len(faces) <= 1
        if faces:
            assert faces[0].box.iou(truth) > 0.7 and abs(faces[0].box.size / truth.size - 1) < 0.1
            found += 1
    assert found >= least_found


@pytest.fixture(scope="module")
def face_the_pyramid_misses():
    """An LFW face cut out and pasted at 1/16 on the rocket scene, which no tile of the pyramid finds."""
    reference = MediaPipeDetector(tiles=(1.0,), full_range=True)
    crop = samples.lfw_faces()[16]
    box = samples.reference_box(crop, reference, margin=0.5)
    reference.close()
    return samples.composed(crop, box, 1 / 16, "scene", "centre")


def test_a_second_look_confirms_a_proposal_and_rejects_a_false_one(face_the_pyramid_misses):
    canvas, truth = face_the_pyramid_misses
    image = np.asarray(canvas)
    assert not any(overlap(found.box, truth) > 0.5 for found in MediaPipeDetector()(image))
    false_box = Box(50, 700, truth.size)  # rocket-launch background, no face
    found = MediaPipeDetector(proposals=lambda image: [truth, false_box])(image)
    assert any(overlap(detection.box, truth) > 0.7 for detection in found)
    assert not any(overlap(detection.box, false_box) > 0 for detection in found)


def test_haar_proposals_find_the_face_the_pyramid_misses(face_the_pyramid_misses):
    canvas, truth = face_the_pyramid_misses
    assert detect_faces(canvas) == []
    (face,) = detect_faces(canvas, MediaPipeDetector(proposals=HaarCascade()))
    assert face.box.iou(truth) > 0.7 and abs(face.box.size / truth.size - 1) < 0.1


def test_haar_cascade_proposes_a_frontal_face_and_nothing_on_a_plain_canvas():
    (proposal,) = HaarCascade()(np.asarray(samples.astronaut()))
    assert overlap(proposal, ASTRONAUT_FACE) > 0.7
    assert HaarCascade()(np.asarray(samples.backdrop("flat", (1024, 1024)))) == []


def test_scores_below_min_score_are_dropped():
    """MediaPipe's graphs ignore their own threshold; the detector applies it."""
    image = np.asarray(samples.grace_hopper())
    (detection,) = MediaPipeDetector(tiles=(1.0,))(image)
    assert MediaPipeDetector(min_score=detection.score + 0.01, tiles=(1.0,))(image) == []


def test_portrait_on_a_plain_2048_canvas_at_a_twelfth_is_found():
    photo = samples.grace_hopper()
    canvas, truth = samples.composed(photo, samples.GRACE_HOPPER_FACE, 1 / 12, "flat", "centre", (2048, 2048))
    (face,) = detect_faces(canvas)
    assert overlap(face.box, truth) > 0.7


@pytest.mark.parametrize("kind", ["flat", "noise", "scene"])
def test_face_free_photos_have_no_face(kind):
    assert detect_faces(samples.backdrop(kind, (1024, 1024))) == []


def test_mesh_without_irises_has_468_points():
    landmarker = MeshLandmarker(irises=False)
    (face,) = detect_faces(samples.astronaut(), landmarker=landmarker)
    assert face.landmarks.shape == (468, 3)
    assert inside(face.landmarks, face.box, margin=0.2).all()
