"""The protocol (plan, seeds, boxes, resumable generation) and a complete tiny evaluation via the CLI."""

from __future__ import annotations

import csv
import gc
import json
import os
import re
import weakref
from pathlib import Path

import pytest
import yaml
from PIL import Image
from safetensors.torch import save_file

from realisid import cli
from realisid.boxes import Box
from realisid.errors import RealisIDError
from realisid.evaluation import (
    EvaluationConfig,
    Scenario,
    Scorer,
    generate,
    make_generator,
    plan,
    plan_jobs,
    read_prompts,
    score_all,
)
from realisid.evaluation.aesthetic import AestheticPredictor
from realisid.evaluation.protocol import REGULAR, SMALL, derive_seed, size_scenario
from tests._evaluation_support import (
    face_recognition_images,
    single_torch_thread,  # noqa: F401 (autouse fixture)
    tiny_clip,
)

SUPPORT = "tests._evaluation_support"


def test_shipped_prompts():
    prompts = read_prompts()
    assert len(prompts) == 35 and len(set(prompts)) == 35
    assert all("{subject}" in p for p in prompts)


def test_prompts_need_the_placeholder(tmp_path):
    (tmp_path / "p.txt").write_text("# comment\na photo of a dog\n")
    with pytest.raises(RealisIDError, match="placeholder"):
        read_prompts(tmp_path / "p.txt")


def test_plan_is_deterministic_and_shares_seeds_and_boxes_across_methods():
    identities = {"alice": Path("alice.jpg"), "bob": Path("bob.png")}
    prompts = ["a photo of {subject}", "a sketch of {subject}"]
    scenarios = [REGULAR, SMALL, size_scenario("1/5")]
    jobs = plan_jobs(
        ["a", "b"], identities, prompts, scenarios, n_per_prompt=3, seed=7, height=512, width=768
    )
    assert jobs == plan_jobs(
        ["a", "b"], identities, prompts, scenarios, n_per_prompt=3, seed=7, height=512, width=768
    )
    assert len(jobs) == 2 * 2 * 2 * 3 * 3
    assert len({job.relpath for job in jobs}) == len(jobs)
    half = len(jobs) // 2
    for a, b in zip(
        jobs[:half], jobs[half:]
    ):  # same (identity, prompt, scenario, sample) → same seed and box
        assert (a.request.seed, a.request.box) == (b.request.seed, b.request.box)
        assert (a.request.method, b.request.method) == ("a", "b")
    assert len({job.request.seed for job in jobs[:half]}) == half
    for job in jobs:
        lo, hi = job.scenario.size_range
        assert lo <= job.request.box[2] <= hi
        box = Box.from_relative(*job.request.box, 768, 512)
        assert (
            box.x0 >= 0
            and box.y0 >= 0
            and box.x0 + box.size <= 768 + 1e-9
            and box.y0 + box.size <= 512 + 1e-9
        )
        assert job.request.prompt.endswith("a person")
    assert size_scenario("1/5").size_range == (0.2, 0.2)
    assert derive_seed(0, "alice", 1) == derive_seed(0, "alice", 1) != derive_seed(1, "alice", 1)


def test_generate_skips_existing_outputs(tmp_path):
    jobs = plan_jobs(
        ["m"],
        {"x": Path("x.jpg")},
        ["{subject}"],
        [Scenario("s", "s", (0.3, 0.3))],
        n_per_prompt=3,
        height=32,
        width=32,
    )
    calls = []

    def generator(request):
        calls.append(request.seed)
        return Image.new("RGB", (request.width, request.height))

    assert generate(jobs[:1], lambda method: generator, tmp_path) == 1
    assert generate(jobs, lambda method: generator, tmp_path) == 2
    assert generate(jobs, lambda method: pytest.fail("nothing left to generate"), tmp_path) == 0
    assert calls == [job.request.seed for job in jobs]
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == ["p00_s0.png", "p00_s1.png", "p00_s2.png"]


def test_generate_holds_one_method_s_models_at_a_time(tmp_path):
    """Each method loads once, after the previous method's generator (its models) is released."""
    scenario = Scenario("s", "s", (0.3, 0.3))
    jobs = plan_jobs(["a", "b"], {"x": Path("x.jpg")}, ["{subject}"], [scenario], n_per_prompt=2, height=32, width=32)
    jobs = [jobs[0], jobs[2], jobs[1], jobs[3]]  # a, b, a, b: interleaved as an ablation row may be
    loaded, alive = [], []

    class Models:
        def __call__(self, request):
            return Image.new("RGB", (request.width, request.height))

    def generator_for(method):
        gc.collect()
        alive.append([ref() is not None for ref in loaded])
        models = Models()
        loaded.append(weakref.ref(models))
        return models

    assert generate(jobs, generator_for, tmp_path) == 4
    assert alive == [[], [False]]  # b loaded once, after a's models were gone


def test_scores_are_reused_only_for_the_same_models_and_the_same_image(tmp_path, monkeypatch):
    jobs = plan_jobs(["m"], {"x": Path("x.jpg")}, ["{subject}"], [Scenario("s", "s", (0.3, 0.3))],
                     n_per_prompt=2, height=32, width=32)
    generate(jobs, lambda method: lambda request: Image.new("RGB", (32, 32)), tmp_path)
    scored = []
    monkeypatch.setattr(Scorer, "score", lambda self, job, image: (
        scored.append(job.sample), {"image": job.relpath.as_posix(), "identity": 0.5})[1])
    dlib = Scorer(backend=None, settings="dlib")
    assert [r["identity"] for r in score_all(jobs, dlib, tmp_path)] == [0.5, 0.5] and scored == [0, 1]
    score_all(jobs, dlib, tmp_path)
    assert scored == [0, 1]  # resumed: nothing scored twice
    os.utime(tmp_path / jobs[1].relpath, ns=(1, 1))  # that image was generated again
    score_all(jobs, dlib, tmp_path)
    assert scored == [0, 1, 1]
    score_all(jobs, Scorer(backend=None, settings="facenet"), tmp_path)  # another identity metric
    assert scored == [0, 1, 1, 0, 1]
    assert len((tmp_path / "scores.jsonl").read_text().splitlines()) == 2  # stale records dropped


def test_make_generator_errors():
    with pytest.raises(RealisIDError, match="unknown method kind"):
        make_generator({"kind": "magic"})
    with pytest.raises(RealisIDError, match="target"):
        make_generator({"kind": "python"})
    with pytest.raises(RealisIDError, match="cannot import"):
        make_generator({"kind": "python", "target": "no_such_module:f"})


def test_config_errors(tmp_path):
    base = {"identities": "ids", "output_dir": "out", "methods": [{"name": "m"}]}
    config = EvaluationConfig.from_dict(base, base=tmp_path)
    assert config.identities == tmp_path / "ids"
    assert [s.label for s in config.sizes] == ["1/4", "1/5", "1/6", "1/7"]
    with pytest.raises(RealisIDError, match="unknown config keys"):
        EvaluationConfig.from_dict({**base, "n_images": 3})
    with pytest.raises(RealisIDError, match="config needs `methods`"):
        EvaluationConfig.from_dict({"identities": "ids", "output_dir": "out"})
    clash = {**base, "methods": [{"name": "m", "scale": 1}], "ablations": [{"name": "m", "scale": 0}]}
    with pytest.raises(RealisIDError, match="defined twice"):
        EvaluationConfig.from_dict(clash).method_specs()
    with pytest.raises(RealisIDError, match="method name"):
        EvaluationConfig.from_dict({**base, "methods": [{"name": "w/o local"}]})
    with pytest.raises(RealisIDError, match=r"scenarios maps each name to \[min, max\]"):
        EvaluationConfig.from_dict({**base, "scenarios": {"tiny": 0.1}})
    # Without ablations, scenarios need no `small` one (Table 2 is not made).
    assert EvaluationConfig.from_dict({**base, "scenarios": {"tiny": ["1/9", "1/8"]}}).ablation_scenarios == ()
    with pytest.raises(RealisIDError, match="ablation_scenarios not among scenarios: small"):
        EvaluationConfig.from_dict({**base, "scenarios": {"tiny": ["1/9", "1/8"]}, "ablations": [{"name": "m"}]})
    for bad, words in (({"output_dir": 5.5}, "output_dir must be a path, got 5.5"),
                       ({"metrics": ["dlib"]}, "metrics must be a mapping of keys"),
                       ({"metrics": {"identity_backend": 3}}, "metrics.identity_backend must be text"),
                       ({"n_per_prompt": "two"}, "n_per_prompt must be a whole number of at least 1, got 'two'"),
                       ({"seed": -1}, "seed must be a whole number of at least 0"),
                       ({"height": 1004}, "height and width must be multiples of 8, got 1004 and 1024"),
                       ({"subject": ["a", "b"]}, "subject must be text"),
                       ({"sizes": "1/7"}, "sizes must be a list"),
                       ({"ablation_scenarios": "small"}, "ablation_scenarios must be a list")):
        with pytest.raises(RealisIDError, match=re.escape(words)):
            EvaluationConfig.from_dict({**base, **bad}, base=tmp_path)
    assert EvaluationConfig.from_dict({**base, "output_dir": 2024}, base=tmp_path).output_dir == tmp_path / "2024"
    (tmp_path / "list.yaml").write_text("- identities: ids\n")
    with pytest.raises(RealisIDError, match="must be a mapping of keys, not a list"):
        EvaluationConfig.from_yaml(tmp_path / "list.yaml")


def test_a_method_that_cannot_set_the_face_size_is_asked_for_small_faces_in_words(tmp_path):
    """The paper: such methods get "a full-body people image" in the prompt for small faces."""
    (tmp_path / "ids").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "ids" / "x.png")
    (tmp_path / "p.txt").write_text("a photo of {subject}\n")
    photomaker = {"name": "photomaker", "kind": "python", "target": "m:f", "sets_face_size": False}
    base = {"identities": "ids", "output_dir": "out", "prompts": "p.txt", "sizes": ["1/5", "1/7"],
            "methods": [{"name": "realisid"}, photomaker]}
    config = EvaluationConfig.from_dict(base, base=tmp_path)
    assert config.method_specs()["photomaker"].options == {"kind": "python", "target": "m:f"}
    jobs = plan(config)
    asked = {(job.request.method, job.scenario.label): job.request.prompt for job in jobs}
    assert asked["photomaker", "small"] == asked["photomaker", "1/7"] == "a photo of a person, a full-body people image"
    assert asked["photomaker", "regular"] == asked["photomaker", "1/5"] == asked["realisid", "small"] == "a photo of a person"
    assert {job.prompt for job in jobs} == {"a photo of a person"}  # what CLIP-T scores
    with pytest.raises(RealisIDError, match="sets_face_size must be true or false"):
        EvaluationConfig.from_dict({**base, "methods": [{"name": "m", "sets_face_size": "no"}]})


# --- a complete tiny evaluation -------------------------------------------------------------------

PROMPTS = ["a photo of {subject}", "an oil painting of {subject}", "{subject} on a beach"]
PER_METHOD = 2 * 3 * (2 + 4)  # identities × prompts × (regular, small + 4 sweep sizes), one image each
BLANK = 2 * 3 * 1  # the ablation row runs in the small scenario only


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Identities (2 real photos), prompts, a saved tiny CLIP and aesthetic predictor."""
    root = tmp_path_factory.mktemp("evaluation")
    photos = face_recognition_images()
    (root / "identities").mkdir()
    for name in ("obama", "biden"):
        image = Image.open(photos / f"{name}.jpg").convert("RGB")
        image.thumbnail((512, 512))
        image.save(root / "identities" / f"{name}.png")
    (root / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")
    clip = tiny_clip(seed=0)
    clip.model.save_pretrained(root / "clip")
    clip.processor.save_pretrained(root / "clip")
    save_file(AestheticPredictor(embed_dim=16).state_dict(), root / "asp.safetensors")
    return root


def _write_config(root: Path, **paste_options) -> Path:
    paste = {
        "name": "paste",
        "label": "Paste (stand-in)",
        "kind": "python",
        "target": f"{SUPPORT}:make_paste_generator",
        "log": str(root / "paste.log"),
        **paste_options,
    }
    blank = {
        "name": "blank",
        "label": "No face",
        "kind": "python",
        "target": f"{SUPPORT}:make_blank_generator",
    }
    config = {
        "identities": "identities",
        "prompts": "prompts.txt",
        "output_dir": "out",
        "n_per_prompt": 1,
        "height": 384,
        "width": 384,
        "metrics": {"identity_backend": "dlib", "clip": "clip", "aesthetic": "asp.safetensors"},
        "methods": [paste],
        "ablations": [blank, {"name": "paste"}],
    }
    path = root / "eval.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run_cli(config: Path) -> int:
    return cli.main(["evaluate", "--config", str(config)])


def _read_csv(path: Path) -> list[list[str]]:
    with path.open() as f:
        return list(csv.reader(f))


def test_tiny_evaluation_runs_resumes_and_reports(workspace, capsys):
    out, log = workspace / "out", workspace / "paste.log"

    with pytest.raises(KeyboardInterrupt):  # interrupted after 5 images
        _run_cli(_write_config(workspace, fail_after=5))
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert len(first) == 5 and len(log.read_text().splitlines()) == 5
    assert not list(out.rglob("*.partial.png"))

    assert _run_cli(_write_config(workspace)) == 0  # resumes: generates only the rest
    assert len(log.read_text().splitlines()) == PER_METHOD
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())
    assert len(list(out.rglob("*.png"))) == PER_METHOD + BLANK + 3  # + three plots
    assert "report:" in capsys.readouterr().out
    (workspace / "bad.yaml").write_text("identities: nowhere\noutput_dir: out\nmethods: [{name: m}]\n")
    assert _run_cli(workspace / "bad.yaml") == 2
    assert "identities folder not found" in capsys.readouterr().err

    assert _run_cli(_write_config(workspace)) == 0  # complete: nothing generated or scored again
    assert len(log.read_text().splitlines()) == PER_METHOD
    records = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert len(records) == PER_METHOD + BLANK

    paste = [r for r in records if r["method"] == "paste"]
    assert all(r["detected"] for r in paste)
    assert min(r["identity"] for r in paste) > 0.4  # same person by dlib's threshold, even at 1/7
    assert all(-1 <= r["clip_i"] <= 1 and -1 <= r["clip_t"] <= 1 and r["asp"] is not None for r in paste)
    blank = [r for r in records if r["method"] == "blank"]
    assert all(not r["detected"] and r["identity"] is None and r["clip_t"] is not None for r in blank)

    table1 = _read_csv(out / "table1.csv")
    assert table1[0] == ["Method"] + [
        f"{s} {m}" for s in ("regular", "small") for m in ("ASP", "CLIP-T", "ID (dlib)", "CLIP-I", "Miss")
    ]
    assert table1[1][0] == "Paste (stand-in)" and table1[1][5] == "0.00"
    table2 = _read_csv(out / "table2.csv")
    assert [row[0] for row in table2[1:]] == ["No face", "Paste (stand-in)"]
    assert table2[1][3] == "-" and table2[1][5] == "1.00"  # no face: no identity score, all misses
    table3 = _read_csv(out / "table3.csv")
    assert table3[0] == ["Method", "1/4", "1/5", "1/6", "1/7"]
    assert all(float(v) > 0.4 for v in table3[1][1:])
    report = (out / "report.md").read_text()
    for heading in ("Table 1", "Table 2", "Table 3", "identity_vs_size.png", "metrics_small.png"):
        assert heading in report
    for plot in ("identity_vs_size.png", "metrics_regular.png", "metrics_small.png"):
        with Image.open(out / plot) as image:
            assert image.width > 300 and image.height > 200


def test_realisid_generator_runs_the_tiny_pipeline(workspace):
    """The `realisid` method kind drives RealisIDPipeline (offline tiny stack), seeded per request."""
    generate_image = make_generator({"kind": "realisid", "preset": "tiny", "num_inference_steps": 2})
    (job,) = plan_jobs(
        ["realisid"],
        {"obama": workspace / "identities" / "obama.png"},
        PROMPTS[:1],
        [SMALL],
        n_per_prompt=1,
        height=64,
        width=96,
    )
    image = generate_image(job.request)
    assert image.size == (96, 64)
    assert list(image.getdata()) == list(generate_image(job.request).getdata())
    with pytest.raises(RealisIDError, match="unknown options"):
        make_generator({"kind": "realisid", "preset": "tiny", "steps": 2})


def test_a_bad_option_of_a_later_method_fails_before_any_image(workspace, capsys):
    config = yaml.safe_load(_write_config(workspace).read_text())
    config["ablations"][0] = {"name": "tiny", "preset": "tiny", "dtype": "float8"}
    config["output_dir"] = "bad-out"
    (workspace / "later.yaml").write_text(yaml.safe_dump(config))
    assert _run_cli(workspace / "later.yaml") == 2
    assert "dtype must be one of float16, bfloat16, float32, got 'float8'" in capsys.readouterr().err
    assert not list((workspace / "bad-out").rglob("*.png"))
