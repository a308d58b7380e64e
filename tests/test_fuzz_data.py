"""Fuzzing the data path: ``prepare`` skips or refuses bad photos and captions and never leaves a
half-written shard; training skips a sample it cannot decode (a decompression bomb included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import webdataset as wds

from realisid.faces.samples import astronaut
from realisid.training import data, prepare
from realisid.training.dataset import Batches, ShardStream
from realisid.training.samples import PrepareSettings

from ._fuzz_support import bomb_png, broken_photos, cli_error, png_bytes

SETTINGS = PrepareSettings(resolution=64, landmark_size=64)


@pytest.fixture
def photos(tmp_path) -> Path:
    """A portrait and the broken photos, each captioned."""
    folder = tmp_path / "photos"
    broken_photos(folder)
    astronaut().resize((256, 256)).save(folder / "portrait.png")
    for photo in folder.iterdir():
        photo.with_suffix(".txt").write_text("a person")
    return folder


def test_prepare_skips_unreadable_photos(photos, tmp_path):
    manifest = prepare(photos, tmp_path / "shards", SETTINGS, shard_size=2, workers=1, progress=False)
    assert (manifest["samples"], manifest["photos"]) == (1, 5)
    assert manifest["skipped"] == {"no_face": 1, "unreadable": 3}
    assert sorted(p.name for p in (tmp_path / "shards").glob("shard-*")) == [
        f"shard-00000{i}.{ext}" for i in range(3) for ext in ("json", "tar")
    ]


def test_a_crash_mid_shard_leaves_no_half_written_shard(photos, tmp_path, monkeypatch):
    def crash(*args):
        raise MemoryError("out of memory")

    monkeypatch.setattr(data, "make_sample", crash)
    with pytest.raises(MemoryError):
        prepare(photos, tmp_path / "shards", SETTINGS, shard_size=2, workers=1, progress=False)
    assert [p.name for p in (tmp_path / "shards").iterdir()] == ["prepare.json"]


def test_a_caption_file_that_is_not_utf8_is_refused_before_any_shard(photos, tmp_path, capsys):
    (photos / "portrait.txt").write_bytes(b"caf\xe9 au lait")
    error = cli_error(capsys, ["prepare", str(photos), "--out", str(tmp_path / "shards"), "--workers", "1"])
    assert error.endswith(
        f"1 caption(s) are not UTF-8 text, the first: {photos / 'portrait.txt'} (invalid continuation byte at byte 3)"
    )
    assert not (tmp_path / "shards").exists()


def test_a_caption_list_that_is_not_utf8_is_refused_before_any_shard(photos, tmp_path, capsys):
    source = tmp_path / "photos.jsonl"
    source.write_bytes(b'{"path": "photos/portrait.png", "caption": "caf\xe9"}\n')
    error = cli_error(capsys, ["prepare", str(source), "--out", str(tmp_path / "shards"), "--workers", "1"])
    assert error.endswith(f"{source} is not UTF-8 text (invalid continuation byte at byte 47)")
    assert not (tmp_path / "shards").exists()


def raw_sample(key: str, image: bytes) -> dict[str, bytes]:
    meta = {
        "box": [8, 8, 32],
        "landmarks": [[0.5, 0.5, 0.0]] * 5,
        "original_size": [64, 64],
        "crop_top_left": [0, 0],
    }
    return {
        "__key__": key,
        "jpg": image,
        "txt": b"a person",
        "json": json.dumps(meta).encode(),
        "pe.png": png_bytes((16, 16)),
        "face.png": png_bytes((16, 16)),
    }


def test_training_skips_a_decompression_bomb(tmp_path):
    shard = tmp_path / "shard-000000.tar"
    with wds.TarWriter(str(shard), encoder=False) as sink:
        for key, image in (("a", png_bytes((64, 64))), ("bomb", bomb_png()), ("b", png_bytes((64, 64)))):
            sink.write(raw_sample(key, image))
    batches = Batches(ShardStream([shard], seed=0, buffer=1), batch_size=2, landmark_size=16)
    batch = next(batches)
    assert batch.keys == ["a", "b"] and batch.pixels.shape == (2, 3, 64, 64)
    assert batches.skipped == {"bad_sample": 1}
