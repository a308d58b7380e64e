"""Several reference photos per person (ID tokens averaged) and the choice of a face in a group photo:
library, pipeline on the tiny stack, and the ``generate`` command's specs and scene files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from realisid import Box, Person
from realisid.cli import main
from realisid.commands.generate import parse_person, person_entry
from realisid.errors import RealisIDError
from realisid.faces import FaceIndexError, extract_conditions
from realisid.faces.detection import overlap
from realisid.faces.samples import astronaut, grace_hopper, pair_photo
from realisid.models import face_features
from realisid.persons import reference_faces, resolve_persons
from realisid.pipeline import tiny_pipeline

from .conftest import perturb_zero_convs

H, W = 96, 128


@pytest.fixture(scope="module")
def references():
    return extract_conditions(astronaut()), extract_conditions(grace_hopper())


@pytest.fixture(scope="module")
def pipe():
    pipe = tiny_pipeline(seed=0)
    perturb_zero_convs(pipe.adapter, seed=1, std=0.2)
    return pipe


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    astronaut().save(folder / "astronaut.png")
    grace_hopper().save(folder / "hopper.jpg")
    pair_photo()[0].save(folder / "two.png")
    return folder


def tokens(pipe, reference, **kwargs):
    """The ``p_id`` ``(n_id, C)`` of one person."""
    return pipe.encode_persons(resolve_persons([Person(reference, box=(0.5, 0.5, 0.3), **kwargs)], W, H))[0]


def image(pipe, reference):
    out = pipe(
        "a photo of a person", [Person(reference, box=(0.5, 0.5, 0.3))], height=H, width=W,
        num_inference_steps=3, id_start=0.0, output_type="np", generator=torch.Generator().manual_seed(7),
    )
    return out.images[0]


def test_the_same_photo_twice_equals_it_once(pipe, references):
    astronaut_face = references[0]
    torch.testing.assert_close(tokens(pipe, [astronaut_face, astronaut_face]), tokens(pipe, astronaut_face),
                               atol=1e-6, rtol=0)
    np.testing.assert_allclose(image(pipe, [astronaut_face] * 2), image(pipe, astronaut_face), atol=1e-5, rtol=0)


def test_two_photos_give_tokens_and_an_image_between_them(pipe, references):
    a, b = (tokens(pipe, face) for face in references)
    both = tokens(pipe, list(references))
    torch.testing.assert_close(both, (a + b) / 2, atol=1e-6, rtol=0)
    assert (both - a).norm() < (a - b).norm() and (both - b).norm() < (a - b).norm()
    first, second = (image(pipe, face) for face in references)
    mixed = image(pipe, list(references))
    apart = np.linalg.norm(first - second)
    assert apart > 0.1
    assert np.linalg.norm(mixed - first) < apart and np.linalg.norm(mixed - second) < apart


def test_given_features_of_several_crops_equal_their_photos(pipe, references):
    features = face_features(pipe.image_encoder, [face.masked_crop for face in references])  # (2, T, D)
    torch.testing.assert_close(tokens(pipe, references[0], id_embedding=features), tokens(pipe, list(references)),
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(tokens(pipe, references[0], id_embedding=features[0]), tokens(pipe, references[0]),
                               atol=1e-6, rtol=0)
    with pytest.raises(RealisIDError, match=r"person 0: id_embedding has shape \(0, "):
        tokens(pipe, references[0], id_embedding=features[:0])


def test_the_first_photo_gives_the_default_box_and_landmarks(references):
    astronaut_face, hopper_face = references
    person = resolve_persons([Person([hopper_face, astronaut_face])], W, H)[0]
    assert person.box == Box.from_relative(*hopper_face.relative_box, W, H)
    np.testing.assert_array_equal(person.landmarks, hopper_face.landmarks)
    assert [r.conditions for r in person.references] == [hopper_face, astronaut_face]


def test_face_picks_the_nth_largest_face_and_says_which():
    photo, truths = pair_photo()
    largest, second = reference_faces(Person(photo)) + reference_faces(Person(photo, face=1))
    assert overlap(largest.conditions.box, truths[0]) > 0.6 and largest.describe() == "face 0 of 2"
    assert overlap(second.conditions.box, truths[1]) > 0.6 and second.describe() == "face 1 of 2"
    per_photo = reference_faces(Person([photo, astronaut()], face=[1, 0]))
    assert [f.describe() for f in per_photo] == ["face 1 of 2", "face 0 of 1"]
    assert overlap(per_photo[0].conditions.box, truths[1]) > 0.6


@pytest.mark.parametrize(
    ("person", "error", "message"),
    [
        (Person(pair_photo()[0], face=2), FaceIndexError,
         r"^person 0 reference: face index 2 does not exist: 2 face\(s\) found \(indices 0 to 1, largest first\)$"),
        (Person([astronaut(), pair_photo()[0]], face=[0, 5]), FaceIndexError, "^person 0 reference 1: face index 5"),
        (Person([astronaut(), astronaut()], face=[0]), RealisIDError, "face gives 1 indices for 2 reference photo"),
        (Person(astronaut(), face=-1), RealisIDError, r"face \(0: the largest\) must be a whole number of at least 0, got -1"),
        (Person(astronaut(), face=1.5), RealisIDError, r"face \(0: the largest\) must be a whole number"),
        (Person([]), RealisIDError, "person 0 has no reference photo"),
        (Person([astronaut(), np.zeros((64, 64, 3), np.uint8)]), RealisIDError, "^person 0 reference 1: no face"),
    ],
)
def test_bad_faces_are_one_line_errors(person, error, message):
    with pytest.raises(error, match=message):
        resolve_persons([person], W, H)


def test_person_specs_and_scene_entries_take_several_photos(tmp_path):
    assert parse_person("ref=a.jpg+b.jpg,face=1+0,box=0.3,0.4,0.2") == {
        "ref": ["a.jpg", "b.jpg"], "face": [1, 0], "box": [0.3, 0.4, 0.2]
    }
    assert parse_person("ref=a.jpg,face=2") == {"ref": "a.jpg", "face": 2}
    assert person_entry({"ref": ["a.jpg", "b.jpg"], "face": 1}, tmp_path) == {
        "ref": [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")], "face": 1
    }
    for entry in ({"ref": []}, {"ref": ["a.jpg", 3]}, {"ref": "a.jpg", "face": 1.5}, {"ref": "a.jpg", "face": True},
                  {"ref": "a.jpg", "face": [0, "x"]}):
        with pytest.raises(RealisIDError, match="bad (ref|face)"):
            person_entry(entry)
    with pytest.raises(RealisIDError, match="bad face '-1'"):
        parse_person("ref=a.jpg,face=-1")


def test_generate_prints_and_records_the_faces_used(photos, tmp_path, capsys):
    fast = ["--tiny", "--steps", "2", "--height", str(H), "--width", str(W)]
    scene = photos / "scene.json"
    scene.write_text(json.dumps({"prompt": "a portrait", "persons": [
        {"ref": ["astronaut.png", "two.png"], "face": [0, 1], "box": [0.3, 0.5, 0.4]}]}))
    out = tmp_path / "out"
    assert main(["generate", "--scene", str(scene), *fast, "--out", str(out),
                 "--person", f"ref={photos / 'two.png'},face=1,box=0.75,0.5,0.3"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert f"person 0: face 0 of 1 in {photos / 'astronaut.png'}, face 1 of 2 in {photos / 'two.png'}" in printed
    assert f"person 1: face 1 of 2 in {photos / 'two.png'}" in printed
    record = json.loads((out / "scene.json").read_text())
    assert [p["face"] for p in record["persons"]] == [[0, 1], 1]
    assert record["persons"][0]["ref"] == [str(photos / "astronaut.png"), str(photos / "two.png")]

    replayed = tmp_path / "replayed"
    (tmp_path / "again.json").write_text(json.dumps(record))
    assert main(["generate", "--scene", str(tmp_path / "again.json"), *fast, "--out", str(replayed)]) == 0
    assert json.loads((replayed / "scene.json").read_text())["persons"] == record["persons"]
    np.testing.assert_array_equal(*(np.asarray(Image.open(folder / "image_000.png")) for folder in (out, replayed)))

    assert main(["generate", "--prompt", "x", *fast, "--out", str(out),
                 "--person", f"ref={photos / 'hopper.jpg'}+{photos / 'two.png'},face=2"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    expected = (
        "realisid generate: error: person 0 reference 0: face index 2 does not exist: 1 face(s) found "
        "(indices 0 to 0, largest first)"
    )
    assert error == [expected]

