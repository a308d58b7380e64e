"""Fuzzing the commands' input (``generate``, ``conditions``, ``demo``, ``toy-check``): each bad input is a one-line
error, exit status 2, and no output written."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from realisid.cli import main
from realisid.faces import detect_faces
from realisid.faces.samples import astronaut

from ._fuzz_support import broken_photos, cli_error

FAST = ["--tiny", "--steps", "2", "--height", "64", "--width", "64"]


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    astronaut().resize((256, 256)).save(path)
    return path


def generate(out: Path, *argv: str) -> list[str]:
    return ["generate", "--prompt", "a portrait", *FAST, "--out", str(out), *argv]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--text-scale", "nan"], "text_scale must be a finite number, got nan"),
        (["--id-scale", "inf"], "id_scale must be a finite number, got inf"),
        (["--local-scale", "nan"], "local_scale must be a finite number, got nan"),
        (["--seed", str(2**64)], "seed must be a whole number from 0 to 18446744073709551615, got 18446744073709551616"),
        (["--seed", "-1"], "seed must be a whole number from 0 to 18446744073709551615, got -1"),
        (["--height", "0"], "height in pixels must be a whole number of at least 1, got 0"),
        (["--num-images", "0"], "number of images per prompt must be a whole number of at least 1, got 0"),
    ],
    ids=[
        "text-scale-nan",
        "id-scale-inf",
        "local-scale-nan",
        "seed-2**64",
        "seed-negative",
        "height-0",
        "no-images",
    ],
)
def test_bad_options(argv, words, photo, tmp_path, capsys):
    out = tmp_path / "out"
    assert words in cli_error(capsys, generate(out, "--person", f"ref={photo}", *argv))
    assert not out.exists()


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (",yaw=nan", "person 0: yaw must be a finite number of degrees, got nan"),
        (",roll=-inf", "person 0: roll must be a finite number of degrees, got -inf"),
        (",box=0.5,0.5,1e10", "box size 6.4e+11 is over 2 times the long edge of the 64x64 image"),
        (",box=0.5,0.5,100", "box size 6400 is over 2 times the long edge of the 64x64 image"),
        (",yaw=10,yaw=20", "yaw is given twice"),
    ],
    ids=["yaw-nan", "roll-inf", "box-1e10", "box-100", "key-twice"],
)
def test_bad_person(spec, words, photo, tmp_path, capsys):
    out = tmp_path / "out"
    assert words in cli_error(capsys, generate(out, "--person", f"ref={photo}{spec}"))
    assert not out.exists()


@pytest.mark.parametrize(
    ("scene", "words"),
    [
        ({"height": "abc"}, "height in pixels must be a whole number of at least 1, got 'abc'"),
        ({"width": 0}, "width in pixels must be a whole number of at least 1, got 0"),
        ({"height": 64.5}, "height in pixels must be a whole number of at least 1, got 64.5"),
        ({"negative_prompt": 7}, "negative_prompt must be a string, got 7"),
        ({"prompt": ["a", "b"]}, "prompt must be a string, got ['a', 'b']"),
        ({"persons": [{"ref": "a.png", "box": "123"}]}, "bad box '123'"),
        ({"persons": [{"ref": "a.png", "yaw": "left"}]}, "bad yaw 'left'"),
    ],
    ids=[
        "height-text",
        "width-0",
        "height-fraction",
        "negative-prompt-number",
        "prompt-list",
        "box-text",
        "yaw-text",
    ],
)
def test_bad_scene_file(scene, words, photo, tmp_path, capsys):
    path, out = tmp_path / "scene.json", tmp_path / "out"
    path.write_text(json.dumps({"prompt": "a portrait", "persons": [{"ref": str(photo)}], **scene}))
    assert words in cli_error(capsys, ["generate", "--scene", str(path), "--tiny", "--out", str(out)])
    assert not out.exists()


def test_out_pointing_at_a_file_fails_before_any_work(photo, tmp_path, capsys, monkeypatch):
    target = tmp_path / "results.png"
    target.write_bytes(b"keep me")
    monkeypatch.setattr("realisid.commands.generate.load_models", lambda args: pytest.fail("models loaded"))
    for out in (target, target / "inside"):
        error = cli_error(capsys, generate(out, "--person", f"ref={photo}"))
        assert error.endswith(f"--out {out}: {target} is a file, not a folder")
    assert target.read_bytes() == b"keep me"


def test_demo_and_toy_check_refuse_an_output_inside_a_file_before_any_work(tmp_path, capsys, monkeypatch):
    target = tmp_path / "results.png"
    target.write_bytes(b"keep me")
    monkeypatch.setattr("realisid.commands.demo.load_models", lambda args: pytest.fail("models loaded"))
    monkeypatch.setattr("realisid_toy.shipped.toy_metric", lambda *args: pytest.fail("metric loaded"))
    error = cli_error(capsys, ["demo", "--out", str(target)])
    assert error.endswith(f"--out {target}: {target} is a file, not a folder")
    sheet = target / "sheet.png"
    error = cli_error(capsys, ["toy-check", "caption-drawing", "--sheet", str(sheet)])
    assert error.endswith(f"--sheet {target}: {target} is a file, not a folder")
    assert target.read_bytes() == b"keep me"


def test_a_bad_pose_photo_fails_before_the_models_load(photo, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("realisid.commands.generate.load_models", lambda args: pytest.fail("models loaded"))
    missing = tmp_path / "no-such-face.png"
    error = cli_error(capsys, generate(tmp_path / "out", "--person", f"ref={photo},pose={missing}"))
    assert "person 0 pose: " in error and str(missing) in error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--device", "gpu"], "argument --device: 'gpu' is not a torch device (cpu, cuda, cuda:1, mps)"),
        (["--device", "cuda:7"], "argument --device: 'cuda:7': this machine has no such device"),
    ],
    ids=["device-name", "device-missing"],
)
def test_a_device_this_machine_lacks_is_refused_while_parsing(argv, words, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(generate(tmp_path / "out", *argv))
    assert exit_.value.code == 2 and words in capsys.readouterr().err


@pytest.mark.parametrize("command", ["toy-study", "toy-reproduce", "toy-check"])
def test_the_toy_commands_check_their_device_too(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, *(["caption-drawing"] if command == "toy-check" else []), "--device", "tpu:0"])
    assert exit_.value.code == 2 and "argument --device: 'tpu:0' is not a torch device" in capsys.readouterr().err


def test_an_image_encoder_needs_a_base(tmp_path, capsys):
    error = cli_error(capsys, ["demo", "--image-encoder", "clip", "--out", str(tmp_path / "out")])
    assert error.endswith("--image-encoder needs --base: the toy weights and the tiny stack bring their own")


def test_toy_check_refuses_a_sheet_it_cannot_save(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["toy-check", "caption-drawing", "--sheet", "sheet.pdf"])
    assert exit_.value.code == 2
    assert "the sheet is a .png, .jpg or .webp file, got 'sheet.pdf'" in capsys.readouterr().err


def test_toy_check_refuses_a_base_it_cannot_load(tmp_path, capsys):
    missing = tmp_path / "no-base"
    error = cli_error(capsys, ["toy-check", "face-keeping", str(missing), "--people", "2", "--seeds", "1"])
    assert f"cannot load the toy SDXL from {str(missing)!r}: " in error


def test_disk_full_leaves_no_result_behind(photo, tmp_path, capsys, monkeypatch):
    write_text = Path.write_text

    def full(path, *args, **kwargs):
        if path.name == "scene.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    out = tmp_path / "out"
    error = cli_error(capsys, generate(out, "--person", f"ref={photo}"))
    assert error.endswith(f"cannot write the results to {out}: No space left on device")
    assert list(out.iterdir()) == []


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> dict[str, Path]:
    return broken_photos(tmp_path_factory.mktemp("broken"))


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("one_pixel", "no face found"),
        ("empty", "not an image file"),
        ("truncated", "image file is truncated"),
        ("bomb", "could be decompression bomb"),
    ],
)
def test_unreadable_photos(name, words, broken, tmp_path, capsys):
    assert words in cli_error(
        capsys, ["conditions", str(broken[name]), "--json", str(tmp_path / "faces.json")]
    )
    out = tmp_path / "out"
    assert words in cli_error(capsys, generate(out, "--person", f"ref={broken[name]}"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (1, 300), (300, 1), (3, 1000)])
def test_detection_on_degenerate_photos_finds_nothing(size):
    assert detect_faces(astronaut().resize(size)) == []
