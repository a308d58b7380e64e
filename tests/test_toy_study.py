"""The small-face study at smoke size: every stage runs, keeps only what is committed, and resumes."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from safetensors import safe_open

from realisid.cli import main
from realisid.errors import RealisIDError
from realisid_toy.lab.study import (
    ARMS,
    PHASE_SEEDS,
    REACHED,
    SHIPPED_TO,
    GateFailed,
    Study,
    StudyConfig,
    arm_stage,
    reaches,
)
from realisid_toy.lab.verdict import Estimate, Measured, verdict
from realisid_toy.shipped import ToyWorld, toy_pipeline, toy_world

ROOT = Path(__file__).resolve().parents[1]
# realisid, instantid, no-crop; and small-L, which reads the frozen outputs shared by the arms at its own L
SMOKE = dataclasses.replace(StudyConfig.smoke(), arms=("realisid", "instantid", "no-crop", "small-L"))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    lines = []
    Study(out, SMOKE, log=lines.append).run()
    return out, lines


def test_every_stage_ends_with_its_record_and_the_verdict(study):
    out, _ = study
    stages = Study(out, SMOKE).STAGES
    assert all((out / name / "stage.json").is_file() for name in stages if name != "data")
    # the verdict recorded is the one the arms' committed margins give, numbers and all
    arms = {arm.name: Measured.load([out / arm_stage(arm, seed) / "margins.npz" for seed in SMOKE.seeds])
            for arm in ARMS if arm.name in SMOKE.arms}
    assert json.loads((out / "evaluate" / "verdict.json").read_text()) == verdict(arms)
    results = (out / "evaluate" / "results.md").read_text()
    assert "| realisid | " in results and "| instantid | " in results and "| no-crop | " in results
    assert set(json.loads((out / "timings.json").read_text())) == set(stages)


def test_the_study_keeps_every_line_it_logged_with_its_time(study):
    out, lines = study
    logged = (out / "log.txt").read_text().splitlines()[: len(lines)]
    assert [entry.split(" ", 2)[2] for entry in logged] == lines
    assert all(datetime.strptime(entry[:19], "%Y-%m-%d %H:%M:%S") for entry in logged)
    assert any(line.startswith("unet step 0: loss") for line in lines)  # the base's losses among them


def test_an_arm_keeps_only_its_fp16_weights_losses_and_margins(study):
    out, _ = study
    folder = out / arm_stage(ARMS[0], 0)
    kept = ["adapter", "losses.json", "margins.npz", "phases.json", "pictures.jpg", "stage.json", "train.yaml"]
    assert sorted(p.name for p in folder.iterdir()) == kept
    # smoke: 2 people, each a reference then at 3 sizes with and without the ID, 256 px
    assert Image.open(folder / "pictures.jpg").size == (7 * 256, 2 * 256)
    with safe_open(folder / "adapter" / "projection.safetensors", "pt") as weights:
        names = weights.keys()
        assert {weights.get_tensor(name).dtype for name in names} == {torch.float16}


def test_ship_exports_the_best_measured_realisid_seed_as_toy_weights(study):
    out, _ = study
    record = json.loads((out / "ship" / "stage.json").read_text())
    assert record["seeds compared"] == [0, 1]
    best = max(record["ID at 1/4"], key=record["ID at 1/4"].get)
    assert record["shipped"] == arm_stage(ARMS[0], int(best))
    assert toy_world(out / "weights") == ToyWorld("tiles", 256, f"realisid toy-study, {record['shipped']}")
    pipe = toy_pipeline(out / "weights")
    assert pipe.unet.dtype == torch.float32
    weights = "projection.safetensors"
    with safe_open(out / "weights" / "realisid" / weights, "pt") as shipped, \
            safe_open(out / record["shipped"] / "adapter" / weights, "pt") as trained:
        names = trained.keys()
        assert all(torch.equal(shipped.get_tensor(name), trained.get_tensor(name)) for name in names)
    # Shipped before every seed was measured, the stage runs again at the end.
    study_of = Study(out, SMOKE)
    (out / "ship" / "stage.json").write_text(json.dumps({**record, "seeds compared": [0]}))
    assert not study_of.done("ship")
    (out / "ship" / "stage.json").write_text(json.dumps(record))
    assert study_of.done("ship")
    # ... and so does one shipped elsewhere than the run now asks (or to a place not recorded).
    assert record[SHIPPED_TO] == "weights"
    assert Study(out, SMOKE, ship_to=out / "weights" / ".." / "weights").done("ship")
    assert not Study(out, SMOKE, ship_to=out / "elsewhere").done("ship")
    (out / "ship" / "stage.json").write_text(json.dumps({k: v for k, v in record.items() if k != SHIPPED_TO}))
    assert not study_of.done("ship")
    (out / "ship" / "stage.json").write_text(json.dumps(record))


def test_a_fresh_clone_redoes_only_the_renderings_and_unfinished_stages(study):
    out, _ = study
    shutil.rmtree(out / "data")  # not committed
    (out / arm_stage(ARMS[2], 1) / "stage.json").unlink()  # an arm cut off before it ended
    vae_record = out / "vae" / "stage.json"
    assert json.loads(vae_record.read_text())["phases"] == [2, 2]
    vae_record.write_text(json.dumps({"phases": [2]}))  # cut off after its first phase
    lines = []
    Study(out, SMOKE, log=lines.append).run()
    started = [line.split("]")[0][1:] for line in lines if line.endswith("] ...")]
    assert started == ["data", "vae", arm_stage(ARMS[2], 1)]
    assert sum(line.startswith("vae step 0:") for line in lines) == 1  # only the second phase ran again
    assert json.loads(vae_record.read_text())["phases"] == [2, 2]


@pytest.mark.parametrize(
    ("options", "unknown"),
    [(["--stages", "data,bogus"], "bogus"), (["--painted", "--stages", "arm-no-crop-s0"], "arm-no-crop-s0")],
)
def test_unknown_stages_are_refused_in_one_line(tmp_path, options, unknown):
    out = tmp_path / "study"  # the painted study has no no-crop arm
    result = subprocess.run(
        [sys.executable, "-m", "realisid.cli", "toy-study", "--out", str(out), *options],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2
    assert f"unknown stages {unknown};" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_an_arm_trains_in_phases_each_from_the_last_and_looked_at(study):
    out, _ = study
    folder = out / arm_stage(ARMS[0], 0)
    phases = json.loads((folder / "phases.json").read_text())
    assert [phase["steps"] for phase in phases] == [1, 2]  # smoke: 2 phases of 1 step
    looked = {"steps", "seconds", "ID at 1/4", "no ID at 1/4", "ID − no ID at 1/4", REACHED, "look_seconds"}
    assert all(set(phase) == looked for phase in phases)
    assert not any(phase[REACHED] for phase in phases)  # the smoke's bar is out of reach
    assert json.loads((folder / "stage.json").read_text())["steps"] == 2
    assert len(json.loads((folder / "losses.json").read_text())) == 2
    assert yaml.safe_load((folder / "train.yaml").read_text())["init_adapter"] == str(folder / "adapter")


def test_more_phases_go_on_from_the_last_adapter_and_measure_again(study):
    out, _ = study
    folder = out / arm_stage(ARMS[1], 0)
    before = (folder / "adapter" / "projection.safetensors").read_bytes()
    losses = json.loads((folder / "losses.json").read_text())
    config = dataclasses.replace(SMOKE, adapter_phases=3)
    study_of = Study(out, config, log=lambda line: None)
    assert not study_of.done(arm_stage(ARMS[1], 0))
    study_of.run((arm_stage(ARMS[1], 0),))
    assert [phase["steps"] for phase in study_of.phases(arm_stage(ARMS[1], 0))] == [1, 2, 3]
    assert json.loads((folder / "losses.json").read_text())[:2] == losses
    assert (folder / "adapter" / "projection.safetensors").read_bytes() != before
    assert json.loads((folder / "stage.json").read_text())["steps"] == 3
    assert yaml.safe_load((folder / "train.yaml").read_text())["seed"] == 2 * PHASE_SEEDS


def test_a_look_reaches_the_bar_with_its_interval_above_zero():
    assert reaches(Estimate(0.12, 0.01, 0.23, (0.12,)), 0.10)
    assert not reaches(Estimate(0.096, 0.011, 0.186, (0.096,)), 0.10)  # the tiled arm's fourth look
    assert not reaches(Estimate(0.12, -0.01, 0.25, (0.12,)), 0.10)


def test_every_arm_trains_the_phases_realisid_seed_0_took_to_reach_the_bar(tmp_path):
    study = Study(tmp_path, dataclasses.replace(SMOKE, adapter_phases=4), log=lambda line: None)
    assert study.phases_needed() == 4  # before RealisID seed 0 has trained
    first, other = (tmp_path / arm_stage(arm, 0) for arm in ARMS[:2])
    for folder in (first, other):
        folder.mkdir()
        (folder / "stage.json").write_text("{}")
    looks = [{"steps": 1, REACHED: False}, {"steps": 2, REACHED: False}]
    (first / "phases.json").write_text(json.dumps(looks))
    (other / "phases.json").write_text(json.dumps(looks))
    assert study.phases_needed() == 4 and not study.done(other.name)  # short of the bar: up to the most
    (first / "phases.json").write_text(json.dumps([looks[0], {**looks[1], REACHED: True}]))
    assert study.phases_needed() == 2 and study.done(first.name) and study.done(other.name)
    (other / "phases.json").write_text(json.dumps(looks[:1]))
    assert not study.done(other.name)


def test_a_phase_cut_off_during_its_look_is_looked_at_not_trained_again(study, capsys):
    out, _ = study
    name = arm_stage(ARMS[2], 0)
    folder = out / name
    phases = json.loads((folder / "phases.json").read_text())
    trained = {key: phases[-1][key] for key in ("steps", "seconds")}
    (folder / "phases.json").write_text(json.dumps([*phases[:-1], trained]))
    (folder / "stage.json").unlink()
    losses = (folder / "losses.json").read_text()
    capsys.readouterr()
    Study(out, SMOKE, log=lambda line: None).run((name,))
    printed = capsys.readouterr()
    assert "starting a new run" not in printed.out and "train:" not in printed.err
    assert (folder / "losses.json").read_text() == losses
    looked = json.loads((folder / "phases.json").read_text())
    assert [{**p, "look_seconds": 0} for p in looked] == [{**p, "look_seconds": 0} for p in phases]  # the same pictures
    assert (folder / "stage.json").is_file()


def test_an_arm_cut_off_mid_training_resumes_from_its_checkpoint(study, monkeypatch, capsys):
    from realisid.training import loop

    out, _ = study
    folder = out / arm_stage(ARMS[0], 1)
    phases = json.loads((folder / "phases.json").read_text())
    (folder / "phases.json").write_text(json.dumps(phases[:1]))  # its second phase is trained again
    (folder / "stage.json").unlink()
    saved = loop.save_checkpoint

    def killed_after_saving(*args, **kwargs):
        saved(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", killed_after_saving)
    with pytest.raises(KeyboardInterrupt):
        Study(out, SMOKE, log=lambda line: None).run()
    assert (folder / "run" / "checkpoints" / "step-00000001").is_dir()
    monkeypatch.setattr(loop, "save_checkpoint", saved)
    capsys.readouterr()
    Study(out, SMOKE, log=lambda line: None).run()
    assert f"resumed from {folder / 'run' / 'checkpoints' / 'step-00000001'} at step 1" in capsys.readouterr().out
    assert len(json.loads((folder / "losses.json").read_text())) == 2  # phase 1's step, and phase 2's after the cut
    assert not (folder / "run").exists() and (folder / "stage.json").is_file()


def test_a_longer_base_goes_on_from_the_last_phase_and_drops_the_stages_made_from_it(study, tmp_path, monkeypatch):
    from realisid_toy.lab import base_model

    out = tmp_path / "study"
    shutil.copytree(study[0], out)
    unet = out / "base" / "model" / "unet" / "diffusion_pytorch_model.safetensors"
    before = unet.read_bytes()
    inits, train = [], base_model.train_base_model
    monkeypatch.setattr(base_model, "train_base_model", lambda *a, **k: inits.append(a[7]) or train(*a, **k))
    lines = []
    study_of = Study(out, dataclasses.replace(SMOKE, scene_steps=(2, 2)), log=lines.append)
    assert not study_of.done("base")
    study_of.run(("base",))
    assert inits == [out / "base" / "model"] and unet.read_bytes() != before
    assert json.loads((out / "base" / "stage.json").read_text())["phases"] == [2, 2]
    later = study_of.STAGES[study_of.STAGES.index("base") + 1 :]
    assert not any((out / name).exists() for name in later)
    assert sum("made from the earlier base" in line for line in lines) == sum((study[0] / n).exists() for n in later)
    assert all(study_of.done(name) for name in ("vae", "base_portraits", "base"))


def test_gate_3_asks_for_the_configured_gain(study, tmp_path):
    out = tmp_path / "study"
    shutil.copytree(study[0], out)
    for gain, passes in ((-3.0, True), (3.0, False)):  # a margin lies in [-2, 2]
        config = dataclasses.replace(SMOKE, caption_gain=gain, enforce_gates=True)
        study_of = Study(out, config, log=lambda line: None)
        if passes:
            study_of.stage("base_gate")
        else:
            with pytest.raises(GateFailed, match="gate 3: the base draws"):
                study_of.stage("base_gate")
        assert (out / "base_gate" / "stage.json").is_file() == passes  # a failed gate is not done,
        assert (out / "base_gate" / "failed.json").is_file() != passes  # and its numbers are kept


def test_the_painted_fallback_renders_people_in_painted_regions_and_its_folder_keeps_that_world(tmp_path):
    config = StudyConfig().painted()
    assert (config.paint, config.id_encoder.paint, config.scene_steps) == ("regions", "regions", (1500,))
    out = tmp_path / "painted"
    assert main(["toy-study", "--painted", "--smoke", "--stages", "data", "--out", str(out)]) == 0
    captions = json.loads((out / "data" / "scenes" / "captions.json").read_text())
    assert any("face paint:" in caption for caption in captions)
    assert not any("tiled" in caption for caption in captions)
    with pytest.raises(RealisIDError, match="holds stages made with paint regions, not tiles: choose another folder"):
        Study(out, StudyConfig.smoke(), log=lambda line: None).run(("data",))


@pytest.mark.parametrize("record", [{"paint": "regions"}, {"paint": "tiles", "sizes": "smoke"}])
def test_toy_check_refuses_a_study_folder_as_its_world(tmp_path, capsys, record):
    (tmp_path / "world.json").write_text(json.dumps(record))  # as committed, and as a study writes it now
    assert main(["toy-check", "face-keeping", "--world", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "is a study's or a run's folder, not shipped toy weights" in error and error.count("\n") == 1


def test_a_phase_recorded_before_its_run_was_removed_is_not_trained_again(study, tmp_path, monkeypatch, capsys):
    out = tmp_path / "study"
    shutil.copytree(study[0], out)
    name = arm_stage(ARMS[0], 0)
    folder, drop = out / name, Study._drop_run

    def cut_off(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(Study, "_drop_run", staticmethod(cut_off))  # cut off right after phase 3 is recorded
    with pytest.raises(KeyboardInterrupt):
        Study(out, dataclasses.replace(SMOKE, adapter_phases=3), log=lambda line: None).run((name,))
    assert (folder / "run" / "checkpoints").is_dir() and len(json.loads((folder / "phases.json").read_text())) == 3
    monkeypatch.setattr(Study, "_drop_run", staticmethod(drop))
    capsys.readouterr()
    Study(out, dataclasses.replace(SMOKE, adapter_phases=4), log=lambda line: None).run((name,))
    assert "resumed from" not in capsys.readouterr().out  # phase 4 trains from phase 3's adapter, not its run
    assert yaml.safe_load((folder / "train.yaml").read_text())["seed"] == 3 * PHASE_SEEDS
    phases = json.loads((folder / "phases.json").read_text())
    assert [phase["steps"] for phase in phases] == [1, 2, 3, 4] and all(REACHED in phase for phase in phases)
    assert not (folder / "run").exists() and (folder / "stage.json").is_file()


def test_a_base_phase_cut_off_before_its_record_resumes_from_its_checkpoint(study, tmp_path, monkeypatch):
    from realisid_toy.lab import base_model

    out = tmp_path / "study"
    shutil.copytree(study[0], out)
    monkeypatch.setattr(base_model, "CHECKPOINT_EVERY", 1)
    record = Study._record

    def cut_off_at_the_record(self, name, numbers):
        if name == "base":
            raise KeyboardInterrupt
        return record(self, name, numbers)

    config = dataclasses.replace(SMOKE, scene_steps=(2, 2))
    monkeypatch.setattr(Study, "_record", cut_off_at_the_record)
    with pytest.raises(KeyboardInterrupt):
        Study(out, config, log=lambda line: None).run(("base",))
    monkeypatch.setattr(Study, "_record", record)
    lines = []
    Study(out, config, log=lines.append).run(("base",))
    assert f"unet step 1: resumed from {out / 'base' / 'run' / 'checkpoint.pt'}" in lines  # not trained twice
    assert json.loads((out / "base" / "stage.json").read_text())["phases"] == [2, 2]
    assert not (out / "base" / "run").exists()


def test_evaluate_and_ship_before_the_arms_are_measured_name_them(tmp_path):
    study = Study(tmp_path, SMOKE)
    with pytest.raises(RealisIDError) as error:
        study.stage("ship")
    assert str(error.value) == f"arm-realisid-s0, arm-realisid-s1 not measured yet in {tmp_path}: ship needs one of them"
    for arm in ARMS[:3]:  # realisid, instantid and no-crop at seed 0
        (tmp_path / arm_stage(arm, 0)).mkdir()
        (tmp_path / arm_stage(arm, 0) / "margins.npz").write_bytes(b"")
    with pytest.raises(RealisIDError) as error:
        study.stage("evaluate")
    missing = "arm-small-L-s0, arm-realisid-s1, arm-instantid-s1, arm-no-crop-s1, arm-small-L-s1"
    assert str(error.value) == f"{missing} not measured yet in {tmp_path}: evaluate needs them"


@pytest.mark.parametrize(("config", "command"), [
    (StudyConfig(), "realisid toy-study --out {out} --stages data"),
    (StudyConfig().painted(), "realisid toy-study --painted --out {out} --stages data"),
    (SMOKE.painted(), "realisid toy-study --painted --smoke --out {out} --stages data"),
])
def test_an_arm_without_the_renderings_names_the_stage_that_renders_them(tmp_path, config, command):
    with pytest.raises(RealisIDError, match="not committed") as error:
        Study(tmp_path, config).stage(arm_stage(ARMS[0], 0))
    assert str(error.value).endswith(f"`{command.format(out=tmp_path)}`")


def test_the_ship_target_must_be_new_empty_or_toy_weights(tmp_path, monkeypatch, capsys):
    from realisid.cli import build_parser
    from realisid_toy.shipped import WEIGHTS, export_weights

    def ship_to(target):
        return build_parser().parse_args(["toy-study", "--ship-to", target]).ship_to

    (tmp_path / "empty").mkdir()
    assert ship_to("package") == WEIGHTS.resolve() and ship_to(str(WEIGHTS)) == WEIGHTS.resolve()
    tmp_path = tmp_path.resolve()
    assert ship_to(str(tmp_path / "empty")) == tmp_path / "empty" and ship_to(str(tmp_path / "new")) == tmp_path / "new"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kept.txt").write_text("mine")
    for target in (".", "kept.txt"):
        with pytest.raises(SystemExit):
            ship_to(target)
        assert f"cannot ship into {tmp_path / target}: it holds something other than toy weights" in capsys.readouterr().err
    with pytest.raises(RealisIDError, match="cannot ship into"):
        export_weights(tmp_path, tmp_path, tmp_path, ToyWorld("tiles", 256, "test"), tmp_path)
    assert (tmp_path / "kept.txt").read_text() == "mine"


def test_a_smoke_run_needs_its_own_folder_and_never_resumes_a_full_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # where the default folder would be
    assert main(["toy-study", "--smoke", "--stages", "data"]) == 2
    assert not (tmp_path / "experiments").exists()
    assert "--smoke needs --out" in capsys.readouterr().err
    for committed in ("painted-world", "small-faces"):  # recorded before the sizes were: full studies
        out = tmp_path / committed
        out.mkdir()
        shutil.copy(ROOT / "experiments" / committed / "world.json", out / "world.json")
        full = StudyConfig().painted() if committed == "painted-world" else StudyConfig()
        with pytest.raises(RealisIDError, match="holds stages made with sizes full, not smoke"):
            Study(out, dataclasses.replace(full, sizes="smoke")).prepare()
        Study(out, full).prepare()
        assert json.loads((out / "world.json").read_text()) == {"paint": full.paint, "sizes": "full"}
    assert main(["toy-study", "--smoke", "--out", str(tmp_path / "small-faces"), "--stages", "data"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_file_as_out_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["toy-study", "--smoke", "--out", str(tmp_path / "file" / "study")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"{tmp_path / 'file'} is a file, not a folder")


@pytest.mark.parametrize("threads", ["0", "-1", "two"])
def test_toy_study_threads_are_a_positive_count(threads, capsys):
    with pytest.raises(SystemExit):
        main(["toy-study", "--threads", threads])
    assert f"expected a whole number above 0, got {threads!r}" in capsys.readouterr().err
