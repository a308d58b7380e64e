"""``realisid conditions``: table, JSON, picture, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from realisid import cli
from realisid.boxes import Box
from realisid.faces import extract_conditions, samples
from realisid.faces.detection import overlap


@pytest.fixture(autouse=True)
def conditions_command_only(monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", ("conditions",))


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    photo, truths = samples.group_photo()
    path = tmp_path_factory.mktemp("photos") / "group.png"
    photo.save(path)
    return path, truths


def test_prints_faces_and_writes_json_and_picture(group, tmp_path, capsys):
    path, truths = group
    rc = cli.main(
        [
            "conditions",
            str(path),
            "--json",
            str(tmp_path / "faces.json"),
            "--show",
            str(tmp_path / "show.png"),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: 1600x1000, 4 face(s)"
    assert len(out) == 2 + len(truths) + 2
    assert out[-2:] == [f"wrote {tmp_path / 'faces.json'}", f"wrote {tmp_path / 'show.png'}"]

    faces = json.loads((tmp_path / "faces.json").read_text())["faces"]
    assert len(faces) == len(truths)
    for face, truth in zip(faces, truths):
        assert set(face) == {"box", "relative_size", "score", "landmarks"}
        box = Box(*face["box"])
        assert overlap(box, truth) > 0.7
        assert face["relative_size"] == pytest.approx(box.size / 1600, abs=1e-4)
        assert 0.5 < face["score"] <= 1
        landmarks = np.array(face["landmarks"])
        assert landmarks.shape == (478, 3)
        assert box.x0 <= np.median(landmarks[:, 0]) <= box.x0 + box.size

    picture = np.asarray(Image.open(tmp_path / "show.png"))
    assert picture.shape == (512, round(1600 * 512 / 1000) + 4 * 256, 3)
    # The last column's lower half is the smallest face's c_p&e (inside the column's frame).
    drawing = np.asarray(extract_conditions(path, face_index=3).landmark_image(256))
    np.testing.assert_array_equal(picture[256 + 4 : -4, -256 + 4 : -4], drawing[4:-4, 4:-4])


def test_the_executable_keeps_mediapipe_notices_off_stderr(group):
    """MediaPipe's native start-up notices bypass Python; the executable filters them out of descriptor 2."""
    done = subprocess.run([sys.executable, "-m", "realisid.cli", "conditions", str(group[0])],
                          capture_output=True, text=True, check=True)
    assert done.stdout.startswith(f"{group[0]}: 1600x1000, 4 face(s)")
    assert done.stderr == ""


@pytest.fixture
def bad_photos(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a photo")
    samples.background((320, 240)).save(tmp_path / "rocket.png")
    return tmp_path


@pytest.mark.parametrize(
    "name, message",
    [("missing.jpg", "no such file"), ("notes.jpg", "not an image file"), ("rocket.png", "no face found")],
)
def test_bad_input_exits_2_with_one_line(name, message, bad_photos, capsys):
    rc = cli.main(["conditions", str(bad_photos / name)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("realisid conditions: error:") and message in err


def test_unwritable_output_exits_2(group, tmp_path, capsys):
    rc = cli.main(["conditions", str(group[0]), "--json", str(tmp_path / "no" / "such" / "dir.json")])
    assert rc == 2 and "cannot write" in capsys.readouterr().err
