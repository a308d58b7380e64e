"""Fuzzing checkpoints: a damaged adapter folder is refused on load (a one-line error, exit status 2); a
damaged training checkpoint is reported and the one before it resumed; a full disk keeps older ones."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file

from realisid.errors import CheckpointError
from realisid.faces.samples import astronaut
from realisid.loading import tiny_adapter_config
from realisid.models import RealisIDAdapter
from realisid.training import checkpoints
from realisid.training.checkpoints import list_checkpoints, restore_checkpoint, save_checkpoint

from ._fuzz_support import cli_error


@pytest.fixture(scope="module")
def adapter_dir(stack, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("adapter") / "adapter"
    RealisIDAdapter.from_unet(stack.unet, tiny_adapter_config()).save_pretrained(path)
    return path


def edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def edit_weights(path: Path, change) -> None:
    weights = load_file(path)
    change(weights)
    save_file(weights, path)


def poison(weights: dict) -> None:
    weights[min(weights)][...] = float("nan")


def drop_one(weights: dict) -> None:
    del weights[sorted(weights)[3]]


BRANCH = "global_branch/diffusion_pytorch_model.safetensors"


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (
            lambda d: edit_json(d / "config.json", num_id_tokens="four"),
            "num_id_tokens must be a positive whole",
        ),
        (lambda d: edit_json(d / "config.json", num_id_tokens=4.5), "num_id_tokens must be a positive whole"),
        (
            lambda d: edit_json(d / "config.json", local_size=0),
            "local_size must be a whole number from 1 to 512",
        ),
        (
            lambda d: edit_json(d / "config.json", local_size="16"),
            "local_size must be a whole number from 1 to 512",
        ),
        (
            lambda d: edit_json(d / "config.json", projection="conv"),
            "projection must be 'perceiver' or 'linear'",
        ),
        (
            lambda d: edit_json(d / "config.json", condition_channels=[]),
            "condition_channels must be a list of posit",
        ),
        (
            lambda d: edit_json(d / "config.json", resampler_dim=200000),
            "is (64,) in the file, (200000,) by the config",
        ),
        (
            lambda d: edit_json(d / "local_branch/config.json", block_out_channels="abc"),
            "block_out_channels must be a positive whole number or a list of them, got 'abc'",
        ),
        (lambda d: edit_weights(d / "projection.safetensors", poison), "holds NaN or infinity"),
        (
            lambda d: edit_weights(d / BRANCH, poison),
            "global_branch.net.add_embedding.linear_1.bias holds NaN",
        ),
        (
            lambda d: edit_weights(d / BRANCH, drop_one),
            "global_branch lacks 1 weight(s), the first add_embedding",
        ),
    ],
    ids=[
        "tokens-text",
        "tokens-fraction",
        "local-size-0",
        "local-size-text",
        "projection-kind",
        "no-channels",
        "resampler-dim-huge",
        "branch-channels-text",
        "projection-nan",
        "branch-nan",
        "branch-missing-tensor",
    ],
)
def test_damaged_adapter_is_refused_on_load(damage, words, adapter_dir, tmp_path, capsys):
    damaged, out, photo = tmp_path / "adapter", tmp_path / "out", tmp_path / "a.png"
    shutil.copytree(adapter_dir, damaged)
    damage(damaged)
    astronaut().save(photo)  # the photo is read before the models load: it must be a good one
    argv = [
        "generate",
        "--tiny",
        "--adapter",
        str(damaged),
        "--prompt",
        "x",
        "--person",
        f"ref={photo}",
        "--out",
        str(out),
    ]
    assert words in cli_error(capsys, argv)
    assert not out.exists()


# ------------------------------------------------------------------------------- training checkpoints
@pytest.fixture
def saved(tmp_path) -> tuple[Accelerator, torch.nn.Module, Path]:
    """Checkpoints of steps 1 and 2 of a tiny model (its weight is the step), restored into a blank one."""
    accelerator = Accelerator(cpu=True)
    net = torch.nn.Linear(2, 2)
    model, _ = accelerator.prepare(net, torch.optim.AdamW(net.parameters()))
    root = tmp_path / "checkpoints"
    for step in (1, 2):
        with torch.no_grad():
            model.weight.fill_(step)
        losses = [1.0 / n for n in range(1, step + 1)]
        save_checkpoint(accelerator, root, step, 10 * step, lambda path: path.mkdir(), keep=3, losses=losses)
    with torch.no_grad():
        model.weight.zero_()
    return accelerator, model, root


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGES = {
    "truncated-weights": (lambda c: truncate(c / "model.safetensors"), "is damaged"),
    "truncated-optimizer": (lambda c: truncate(c / "optimizer.bin"), "is damaged"),
    "garbage-rng-state": (lambda c: (c / "random_states_0.pkl").write_bytes(b"garbage"), "is damaged"),
    "bad-trainer-state": (lambda c: (c / "trainer_state.json").write_text("{step"), "trainer_state.json"),
    "step-not-a-number": (lambda c: edit_json(c / "trainer_state.json", step="two"), "must be whole numbers"),
    "missing-data-state": (lambda c: (c / "data-0.json").unlink(), "data-0.json"),
    "losses-not-numbers": (lambda c: edit_json(c / "data-0.json", losses="low"), "losses must be a list"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_latest_checkpoint_falls_back_to_the_one_before(damage, saved, caplog):
    accelerator, model, root = saved
    latest = list_checkpoints(root)[-1]
    harm, words = DAMAGES[damage]
    harm(latest)
    restored = restore_checkpoint(accelerator, root, "latest")
    assert restored == (root / "step-00000001", 1, 10, [1.0])
    assert (model.weight == 1).all()
    assert any("cannot resume from" in r.message and words in r.message for r in caplog.records)
    with pytest.raises(CheckpointError, match=words) as raised:  # named explicitly: no fallback
        restore_checkpoint(accelerator, root, str(latest))
    assert "\n" not in str(raised.value)


def test_no_restorable_checkpoint_is_an_error(saved):
    accelerator, _, root = saved
    for checkpoint in list_checkpoints(root):
        truncate(checkpoint / "model.safetensors")
    with pytest.raises(
        CheckpointError, match="no checkpoint in .* can be restored; the newest: .*step-00000002"
    ):
        restore_checkpoint(accelerator, root, "latest")


def test_disk_full_keeps_the_previous_checkpoint(saved, monkeypatch):
    accelerator, _, root = saved

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "_write_json", full)
    with pytest.raises(CheckpointError) as raised:
        save_checkpoint(accelerator, root, 3, 30, lambda path: path.mkdir(), keep=3)
    assert str(raised.value) == (
        f"cannot write checkpoint {root / 'step-00000003'} (the ones before it are kept): "
        "[Errno 28] No space left on device"
    )
    assert sorted(p.name for p in root.iterdir()) == ["step-00000001", "step-00000002"]
    assert restore_checkpoint(accelerator, root, "latest")[1:] == (2, 20, [1.0, 0.5])


def test_a_full_disk_under_torch_save_is_reported_too(saved, monkeypatch):
    """torch.save reports a failed write as a RuntimeError of its zip writer, not an OSError."""
    accelerator, _, root = saved
    monkeypatch.setattr(
        accelerator, "save_state", lambda folder: torch.save({"w": torch.zeros(10**5)}, "/dev/full")
    )
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*step-00000003.*inline_container"):
        save_checkpoint(accelerator, root, 3, 30, lambda path: path.mkdir(), keep=3)
    assert sorted(p.name for p in root.iterdir()) == ["step-00000001", "step-00000002"]
