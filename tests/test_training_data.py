"""``realisid prepare`` on a real-photo folder, and reading the shards back (tiny models not needed)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from realisid.cli import main
from realisid.errors import RealisIDError
from realisid.faces import detect_faces, draw_landmarks, face_conditions, load_photo
from realisid.training.dataset import Batches, ShardStream, list_shards, read_shard
from realisid.training.sources import list_sources

from ._fuzz_support import cli_error
from ._training_support import KEPT, SKIPPED, photo_folder

RESOLUTION, CROP, PE = 256, 96, 128
ARGS = [
    "--resolution",
    str(RESOLUTION),
    "--crop-size",
    str(CROP),
    "--landmark-size",
    str(PE),
    "--shard-size",
    "5",
]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_folder(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def shards(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    assert main(["prepare", str(photos), "--out", str(out), *ARGS, "--workers", "2"]) == 0
    return out


def _image(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_manifest_counts_samples_and_skip_reasons(shards):
    manifest = json.loads((shards / "manifest.json").read_text())
    assert manifest["samples"] == KEPT and manifest["photos"] == KEPT + sum(SKIPPED.values())
    assert manifest["skipped"] == SKIPPED
    assert manifest["total_shards"] == 3 and [s["name"] for s in manifest["shards"]] == [
        f"shard-00000{i}.tar" for i in range(3)
    ]


def test_decoded_conditions_match_realisid_faces(shards):
    samples = [raw for path in list_shards(shards) for raw in read_shard(path)]
    assert len(samples) == KEPT
    for raw in samples:
        meta = json.loads(raw["json"])
        photo = load_photo(meta["source"])
        face = detect_faces(photo)[0]
        expected = face_conditions(photo, face, crop_size=CROP)
        np.testing.assert_array_equal(np.asarray(meta["landmarks"], dtype=np.float32), expected.landmarks)
        np.testing.assert_array_equal(_image(raw["face.png"]), np.asarray(expected.masked_crop))
        np.testing.assert_allclose(_image(raw["mask.png"]) / 255.0, expected.mask, atol=0.5 / 255)
        np.testing.assert_array_equal(
            _image(raw["pe.png"]), np.asarray(draw_landmarks(expected.landmarks, PE))
        )
        box = torch.tensor([meta["box"]])
        assert box[0, 2] / RESOLUTION == pytest.approx(face.box.size / min(photo.size), rel=1e-6)
        # The training image itself: realisid.faces finds the face at the stored box.
        training_image = Image.open(io.BytesIO(raw["jpg"]))
        assert training_image.size == (RESOLUTION, RESOLUTION)
        found = detect_faces(training_image)[0].box
        assert np.abs(np.subtract(found, meta["box"])).max() < 0.1 * meta["box"][2]
        assert raw["txt"].decode() == Path(meta["source"]).with_suffix(".txt").read_text().strip()


def test_prepare_resumes_without_redoing_finished_shards(photos, shards, tmp_path):
    out = tmp_path / "shards"
    shutil.copytree(shards, out)
    (out / "shard-000001.tar").unlink()  # crashed while writing shard 1 ...
    (out / "shard-000001.json").unlink()
    (out / "shard-000001.tar.tmp").write_bytes(b"partial")
    done = {name: (out / name).stat().st_mtime_ns for name in ("shard-000000.tar", "shard-000002.tar")}
    assert main(["prepare", str(photos), "--out", str(out), *ARGS, "--workers", "1"]) == 0
    assert {name: (out / name).stat().st_mtime_ns for name in done} == done
    assert not (out / "shard-000001.tar.tmp").exists()
    assert (out / "shard-000001.tar").read_bytes() == (shards / "shard-000001.tar").read_bytes()
    assert json.loads((out / "manifest.json").read_text()) == json.loads(
        (shards / "manifest.json").read_text()
    )


def test_prepare_split_by_shard_range(photos, shards, tmp_path):
    out = tmp_path / "split"
    assert main(["prepare", str(photos), "--out", str(out), *ARGS, "--shards", "2:3", "--workers", "1"]) == 0
    assert sorted(p.name for p in out.glob("*.tar")) == ["shard-000002.tar"]
    assert main(["prepare", str(photos), "--out", str(out), *ARGS, "--shards", "0:2", "--workers", "1"]) == 0
    assert json.loads((out / "manifest.json").read_text()) == json.loads(
        (shards / "manifest.json").read_text()
    )


def test_prepare_errors_are_one_line(photos, shards, tmp_path, capsys):
    assert main(["prepare", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert (
        main(["prepare", str(photos), "--out", str(shards), "--resolution", "512", "--shard-size", "5"]) == 2
    )
    assert main(["prepare", str(photos), "--out", str(tmp_path / "o"), *ARGS, "--shards", "3:9"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3
    assert (
        "does not exist" in lines[0]
        and "other settings" in lines[1]
        and "not within the 3 shards" in lines[2]
    )


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--crop-size", "0"], "crop_size must be a whole number of at least 1, got 0"),
        (["--landmark-size", "-8"], "landmark_size must be a whole number of at least 1, got -8"),
        (["--resolution", "100"], "resolution must be a multiple of 8 (the VAE's factor), got 100"),
        (["--min-face", "-0.1"], "min_face is a fraction of the image side, in [0, 1]; got -0.1"),
        (["--dominance", "0.5"], "dominance is a ratio of box sides, at least 1; got 0.5"),
        (["--workers", "0"], "--workers must be a whole number of at least 1, got 0"),
        (["--shard-size", "0"], "--shard-size must be a whole number of at least 1, got 0"),
    ],
    ids=["crop-0", "landmarks-negative", "resolution-100", "min-face-negative", "dominance-half", "workers-0",
         "shard-size-0"],
)
def test_prepare_settings_are_checked_before_any_work(photos, tmp_path, capsys, argv, words):
    error = cli_error(capsys, ["prepare", str(photos), "--out", str(tmp_path / "o"), *argv])
    assert error.endswith(words)
    assert not (tmp_path / "o").exists()


def test_sources_from_jsonl_and_csv(photos, tmp_path):
    (tmp_path / "list.jsonl").write_text(
        json.dumps({"path": str(photos / "grace.jpg"), "caption": "g"})
        + "\n"
        + json.dumps({"image": "a.png"})
        + "\n"
    )
    items = list_sources(tmp_path / "list.jsonl")
    assert [(i.path, i.caption) for i in items] == sorted(
        [(tmp_path / "a.png", None), (photos / "grace.jpg", "g")], key=lambda row: str(row[0])
    )
    (tmp_path / "list.csv").write_text("file_name,text\nx.jpg,hello\n")
    assert [(i.path, i.caption) for i in list_sources(tmp_path / "list.csv")] == [
        (tmp_path / "x.jpg", "hello")
    ]


def test_bad_samples_and_shards_are_skipped_and_counted(shards, tmp_path):
    good = shards / "shard-000000.tar"
    bad = tmp_path / "shard-000000.tar"
    with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
        for member in src:
            data = src.extractfile(member).read()
            if member.name == "000000000.jpg":
                data = b"broken jpeg"  # the first sample becomes unreadable
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    truncated = tmp_path / "shard-000001.tar"
    truncated.write_bytes((shards / "shard-000001.tar").read_bytes()[:3000])
    batches = Batches(ShardStream([bad, truncated], seed=0, buffer=1), 2, PE)
    seen = [key for _ in range(3) for key in next(batches).keys]
    assert batches.skipped["bad_sample"] >= 1 and batches.skipped["unreadable_shard"] >= 1
    assert "000000000" not in seen


def test_stream_resumes_at_a_position(shards):
    paths = list_shards(shards)
    straight = Batches(ShardStream(paths, seed=3, buffer=4), 2, PE)
    keys = [next(straight).keys for _ in range(6)]
    resumed = Batches(ShardStream(paths, seed=3, buffer=4), 2, PE, position=6)
    assert [next(resumed).keys for _ in range(3)] == keys[3:]
    ranks = [Batches(ShardStream(paths, seed=3, rank=r, world=2, buffer=4), 2, PE) for r in (0, 1)]
    first = [set(next(b).keys) for b in ranks]
    assert not first[0] & first[1]


def test_data_folder_errors(tmp_path):
    for folder, words in ((tmp_path / "nothing", "does not exist"), (tmp_path, "no shards")):
        with pytest.raises(RealisIDError, match=words) as error:
            list_shards(folder)
        assert "\n" not in str(error.value)
