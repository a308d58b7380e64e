"""``realisid generate`` and ``realisid demo`` end to end (tiny stack and toy weights); the models rule; help."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from realisid.cli import build_parser, main
from realisid.commands.generate import parse_person
from realisid.commands.options import MODELS_RULE, model_kind
from realisid.errors import RealisIDError
from realisid.faces.samples import astronaut, grace_hopper
from realisid_toy.lab.face_keeping import centred_box
from realisid_toy.shipped import toy_world

FAST = ["--steps", "2", "--height", "96", "--width", "128"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    astronaut().save(folder / "astronaut.png")
    grace_hopper().save(folder / "hopper.jpg")
    return folder


def test_person_spec_parsing():
    assert parse_person("ref=a.jpg,box=0.3,0.4,0.2,yaw=15,pose=b.png") == {
        "ref": "a.jpg", "box": [0.3, 0.4, 0.2], "yaw": 15.0, "pose": "b.png"
    }
    with pytest.raises(RealisIDError, match="unknown key 'size'"):
        parse_person("ref=a.jpg,size=3")
    with pytest.raises(RealisIDError, match="bad box"):
        parse_person("ref=a.jpg,box=0.3,0.4")
    with pytest.raises(RealisIDError, match="no ref"):
        parse_person("box=0.3,0.4,0.2")


def test_generate_two_persons(photos, tmp_path):
    out = tmp_path / "out"
    code = main(["generate", "--prompt", "two friends at the beach", "--tiny", *FAST, "--out", str(out),
                 "--person", f"ref={photos / 'astronaut.png'},box=0.3,0.4,0.3",
                 "--person", f"ref={photos / 'hopper.jpg'},box=0.7,0.5,0.15,yaw=20"])
    assert code == 0
    assert Image.open(out / "image_000.png").size == (128, 96)
    assert Image.open(out / "layout.png").size == (128, 96)
    record = json.loads((out / "scene.json").read_text())
    assert record["random_weights"] is True and len(record["persons"]) == 2
    assert record["persons"][1]["yaw"] == 20.0


def test_generate_from_a_scene_file(photos, tmp_path):
    scene = photos / "scene.json"
    scene.write_text(json.dumps({"prompt": "a portrait", "persons": [{"ref": "astronaut.png", "box": [0.5, 0.5, 0.5]}]}))
    assert main(["generate", "--scene", str(scene), *FAST, "--num-images", "2", "--out", str(tmp_path)]) == 0
    images = [np.asarray(Image.open(tmp_path / f"image_00{i}.png")) for i in range(2)]
    assert all(image.shape == (96, 128, 3) for image in images) and not np.array_equal(*images)
    assert not (tmp_path / "image_002.png").exists()
    record = json.loads((tmp_path / "scene.json").read_text())
    assert record["prompt"] == "a portrait" and len(record["persons"]) == 1
    person = record["persons"][0]  # its photo found beside the scene file, the face used recorded
    assert Path(person["ref"]) == photos / "astronaut.png" and person["box"] == [0.5, 0.5, 0.5] and person["face"] == 0


def test_generate_bad_input_is_one_line(photos, tmp_path, capsys):
    assert main(["generate", "--prompt", "x", *FAST, "--person", f"ref={tmp_path / 'missing.jpg'}"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("realisid generate: error:") and "missing.jpg" in error
    assert main(["generate", "--prompt", "x", *FAST, "--person", f"ref={photos / 'astronaut.png'},box=2,2,0.1"]) == 2
    assert "outside" in capsys.readouterr().err
    assert main(["generate", "--prompt", "x", "--height", "100", "--person", f"ref={photos / 'astronaut.png'}"]) == 2
    assert "multiple" in capsys.readouterr().err
    assert main(["generate", "--prompt", "x", *FAST, "--person", f"ref={photos / 'astronaut.png'},box=nan,0.5,0.2"]) == 2
    assert "finite" in capsys.readouterr().err
    for scene in ([{"ref": "a.png"}], {"persons": "a.png"}, {"persons": ["a.png"]}):
        (tmp_path / "scene.json").write_text(json.dumps(scene))
        assert main(["generate", "--prompt", "x", *FAST, "--scene", str(tmp_path / "scene.json")]) == 2
        assert "`persons` is a list of objects" in capsys.readouterr().err
    assert main(["generate", "--prompt", "x", "--base", str(tmp_path), "--adapter", str(tmp_path / "nope"),
                 "--person", f"ref={photos / 'astronaut.png'}"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_demo_runs_the_shipped_toy_weights_and_prints_identity(tmp_path, capsys):
    assert main(["demo", "--steps", "3", "--seeds", "2", "--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"reference.png", "driving.png", "image_1-4.png", "image_1-7.png", "image_1-4-posed.png",
            "layout_1-4.png", "layout_1-7.png", "layout_1-4-posed.png", "demo.png", "people.png", "README.txt"} <= names
    side = toy_world().size
    assert Image.open(tmp_path / "image_1-7.png").size == (side, side)
    assert Image.open(tmp_path / "demo.png").size == (5 * 2 * side, 2 * side + 18)
    # two held-out people: reference, then 1/4 and 1/7 each with and without the ID
    assert Image.open(tmp_path / "people.png").size == (5 * side, 2 * side)
    # The driven shot draws the driving face's landmarks at the same box.
    posed, plain = (np.asarray(Image.open(tmp_path / f"layout_{n}.png")) for n in ("1-4-posed", "1-4"))
    assert posed.shape == plain.shape and (posed != plain).any()
    out = capsys.readouterr().out
    for words in ("1/4 relative size", "1/7 relative size", "1/4, pose and expression of the driving face"):
        prefix = f"identity similarity to the reference at {words}: "
        line = next(line for line in out.splitlines() if line.startswith(prefix))
        # a face found is also compared with an unrelated person, for scale
        assert re.fullmatch(r"no face found|-?\d\.\d{3} \(to an unrelated person: -?\d\.\d{3}\)", line[len(prefix):])
    assert "RANDOM" not in out
    sides = re.findall(r"^  face side(?: (\d+) px|: no face found,) for a box of (\d+) px(?: \(([+-]\d+) %\))?(  <- off by .*)?$",
                       out, re.MULTILINE)
    assert [int(box) for _, box, *_ in sides] == [round(centred_box(s, side).size) for s in (1 / 4, 1 / 7, 1 / 4)]
    for found, box, error, _ in sides:  # side and box are printed rounded to a pixel
        assert not found or abs(int(error) - 100 * (int(found) / int(box) - 1)) < 100 / int(box) + 1
    assert "identity margin of 2 other held-out people, one per sampling seed 0-1" in out
    margin = r"[+-]\d\.\d{3} ± \d\.\d{3}( \(\d/2 missed\))?"
    for size in ("1/4", "1/7"):
        assert re.search(rf"^  {size} +\| {margin} +\| {margin}$", out, re.MULTILINE)
    # The driving face is a rendering turned 25°: MediaPipe's mesh reads it; the outputs it may not.
    driving = re.search(r"^  driving face: +yaw ([+-]\d+)°, mouth (\d\.\d{3})", out, re.MULTILINE)
    assert driving and 15 < int(driving[1]) < 35 and float(driving[2]) > 0.02
    reading = r"(no face mesh found|yaw [+-]\d+°, mouth -?\d\.\d{3})"
    for shot in ("1/4 posed shot", "1/4 unposed shot"):
        assert re.search(rf"^  {shot}: +{reading}$", out, re.MULTILINE)
    for shot in ("1/4 posed shot", "1/4 unposed shot"):
        assert re.search(rf"^  {shot}: +-?\d\.\d\d · -?\d\.\d\d  -> (the driving pose|frontal)$", out, re.MULTILINE)
    assert re.search(r"^demo wall time: \d+ s$", out, re.MULTILINE)


def test_toy_demo_refuses_fewer_than_two_seeds(tmp_path, capsys):
    assert main(["demo", "--seeds", "1", "--out", str(tmp_path)]) == 2
    assert "--seeds needs at least 2 seeds" in capsys.readouterr().err


def test_toy_demo_refuses_a_size_it_would_not_draw(tmp_path, capsys):
    assert main(["demo", "--height", "128", "--width", "256", "--out", str(tmp_path)]) == 2
    assert "draws square images: got --height 128 and --width 256" in capsys.readouterr().err
    assert not tmp_path.joinpath("demo.png").exists()


@pytest.mark.parametrize(("choice", "note"), [("--photos", "shipped toy weights"), ("--tiny", "RANDOM weights")])
def test_photo_demo_writes_what_it_promises(choice, note, tmp_path, capsys):
    assert main(["demo", choice, *FAST, "--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"image_000.png", "layout.png", "scene.json", "README.txt", "conditions_astronaut.png",
            "conditions_grace_hopper.png"} <= names
    assert note in (tmp_path / "README.txt").read_text()
    assert note in capsys.readouterr().out


@pytest.mark.parametrize("command", ["demo", "generate", "app"])
def test_one_rule_picks_the_models_of_every_generating_command(command, tmp_path):
    parser = build_parser()
    kind = lambda *argv: model_kind(parser.parse_args([command, *argv]))
    assert kind() == "toy" and kind("--adapter", "A") == "toy"
    assert kind("--tiny") == "tiny" and kind("--tiny", "--adapter", "A") == "tiny"
    assert kind("--base", "B", "--adapter", "A") == "sdxl"
    with pytest.raises(RealisIDError, match="--base needs --adapter"):
        kind("--base", "B")
    with pytest.raises(RealisIDError, match="exclude each other"):
        kind("--base", "B", "--adapter", "A", "--tiny")
    help_text = " ".join(subcommand(parser, command).format_help().split())
    assert " ".join(MODELS_RULE.split()) in help_text


def test_help_texts_are_plain_text():
    parser = build_parser()
    names = [name for name in subcommands(parser) if name != "toy-check"]
    pages = [subcommand(parser, name) for name in names]
    pages += list(subcommands(subcommand(parser, "toy-check")).values())
    assert len(pages) >= 13
    for page in pages:
        text = page.format_help()
        assert not re.search(r"``|:(class|func|mod|meth|data|attr):", text), page.prog


def test_bad_sampling_numbers_are_one_line_errors(photos, tmp_path, capsys):
    person = f"ref={photos / 'astronaut.png'}"
    for option, value, words in (("--text-scale", "nan", "text_scale must be a finite number"),
                                 ("--id-scale", "inf", "id_scale must be a finite number"),
                                 ("--steps", "0", "num_inference_steps must be a whole number of at least 1"),
                                 ("--id-start", "1.5", "id_start is a fraction"),
                                 ("--id-stop", "0.1", "id_stop is a fraction of the steps, in [id_start, 1]")):
        out = tmp_path / option
        assert main(["generate", "--prompt", "x", "--tiny", *FAST, option, value, "--person", person,
                     "--out", str(out)]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and words in error[0]
        assert not out.exists()


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-parsers of ``parser`` by name."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    return subcommands(parser)[name]


def test_the_executable_prints_line_by_line_into_a_log_file(tmp_path):
    """A long command's progress reaches ``realisid ... > log`` as it is printed, not when the buffer fills."""
    import subprocess
    import sys

    probe = ("import sys\nfrom realisid import cli\n"
             "cli.main = lambda console: 0 if sys.stdout.line_buffering else 3\nsys.exit(cli.console())\n")
    with open(tmp_path / "log", "w") as log:
        assert subprocess.run([sys.executable, "-c", probe], stdout=log, check=False).returncode == 0
