"""Identity backends: dlib on real photos (face_recognition's sdist test images), FaceNet loading."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image

from realisid.errors import RealisIDError
from realisid.evaluation import IdentityBackend, face_similarity, load_backend
from realisid.evaluation.facenet_backend import FaceNetBackend, standardize
from realisid.faces import detect_faces
from realisid.faces.detection import overlap
from tests._evaluation_support import (
    face_recognition_images,
    single_torch_thread,  # noqa: F401 (autouse fixture)
)

SAME_PERSON = ("obama.jpg", "obama2.jpg", "obama3.jpg")
OTHER_PERSON = ("biden.jpg",)


@pytest.fixture(scope="module")
def photos():
    folder = face_recognition_images()
    return {name: Image.open(folder / name).convert("RGB") for name in SAME_PERSON + OTHER_PERSON}


@pytest.fixture(scope="module")
def dlib_faces(photos):
    backend = load_backend("dlib")
    return backend, {name: backend.find_face(image) for name, image in photos.items()}


def test_dlib_same_person_scores_above_every_different_person_pair(dlib_faces):
    backend, faces = dlib_faces
    assert all(face is not None for face in faces.values())
    same = [
        backend.similarity(faces[a].embedding, faces[b].embedding)
        for a, b in itertools.combinations(SAME_PERSON, 2)
    ]
    different = [
        backend.similarity(faces[a].embedding, faces[b].embedding)
        for a, b in itertools.product(SAME_PERSON, OTHER_PERSON)
    ]
    assert len(same) == 3 and len(different) == 3
    assert min(same) > max(different)
    # dlib's decision threshold (distance 0.6 → similarity 0.4) separates them too.
    assert min(same) > 0.4 > max(different)


def test_face_similarity_takes_paths_and_images(photos):
    folder = face_recognition_images()
    by_path = face_similarity(folder / "obama.jpg", str(folder / "obama2.jpg"))
    by_image = face_similarity(photos["obama.jpg"], photos["obama2.jpg"], backend=load_backend("dlib"))
    assert by_path == pytest.approx(by_image, abs=1e-6)
    assert face_similarity(photos["obama.jpg"], photos["obama.jpg"]) == pytest.approx(1.0, abs=1e-6)


def test_image_without_face_is_a_miss_not_a_crash(photos):
    blank = Image.new("RGB", (320, 240), (128, 128, 128))
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8))
    assert face_similarity(blank, photos["obama.jpg"]) is None
    assert face_similarity(photos["obama.jpg"], noise) is None


def test_dlib_box_is_around_the_face_mediapipe_finds(dlib_faces, photos):
    """The backend's box is in the photo's pixels: it covers the face the conditions' detector finds, at its size."""
    _, faces = dlib_faces
    for name, face in faces.items():
        found = detect_faces(photos[name])[0].box
        assert overlap(face.box, found) > 0.5, name
        assert 0.7 < face.box.size / found.size < 1.4, name


def test_unknown_backend_and_facenet_without_weights_fail_clearly():
    with pytest.raises(RealisIDError, match="unknown identity backend"):
        load_backend("arcface")
    with pytest.raises(RealisIDError, match="FaceNet backend needs weights"):
        load_backend("facenet")
    with pytest.raises(RealisIDError, match="FaceNet backend needs weights"):
        face_similarity("a.jpg", "b.jpg", backend="facenet")


class _TinyFaceNet(torch.nn.Module):
    """Stands in for InceptionResnetV1: (N, 3, 160, 160) → (N, 8) unit vectors."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 5, stride=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.conv(x).mean(dim=(2, 3)), dim=1)


def test_facenet_backend_loads_torchscript_and_state_dict(tmp_path, photos):
    torch.manual_seed(0)
    model = _TinyFaceNet().eval()
    torch.jit.script(model).save(str(tmp_path / "facenet.pt"))
    torch.save(model.state_dict(), tmp_path / "facenet_state.pt")

    scripted = load_backend("facenet", tmp_path / "facenet.pt")
    from_state = FaceNetBackend(tmp_path / "facenet_state.pt", module=_TinyFaceNet())
    assert isinstance(scripted, IdentityBackend)

    face_a = scripted.find_face(photos["obama.jpg"])
    face_b = from_state.find_face(photos["biden.jpg"])
    assert face_a.embedding.shape == (8,)
    np.testing.assert_allclose(
        from_state.find_face(photos["obama.jpg"]).embedding, face_a.embedding, atol=1e-5
    )
    a, b = face_a.embedding, face_b.embedding
    expected = float(a @ b / np.sqrt((a @ a) * (b @ b)))
    assert scripted.similarity(a, b) == pytest.approx(expected, abs=1e-6)
    assert face_similarity(Image.new("RGB", (64, 64)), photos["obama.jpg"], backend=scripted) is None

    with pytest.raises(RealisIDError, match="not a TorchScript"):
        FaceNetBackend(tmp_path / "facenet_state.pt")


def test_facenet_standardization():
    faces = np.array([[[[0, 127, 255]]]], dtype=np.uint8)  # (1, 1, 1, 3)
    out = standardize(faces)
    assert out.shape == (1, 3, 1, 1)
    torch.testing.assert_close(out.flatten(), torch.tensor([-127.5, -0.5, 127.5]) / 128)
