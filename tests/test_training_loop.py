"""The training loop on the tiny stack (CPU): overfitting, frozen weights, kill-and-resume, two processes."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
import yaml
from diffusers import DDIMScheduler, DDPMScheduler
from safetensors.torch import load_file

from realisid.cli import main
from realisid.errors import RealisIDError
from realisid.loading import tiny_adapter_config, tiny_stack
from realisid.models import InstantIDStyleAdapter, RealisIDAdapter, load_adapter
from realisid.persons import Person
from realisid.pipeline import RealisIDPipeline, tiny_pipeline
from realisid.training import load_config, prepare, train
from realisid.training.config import TINY_DEFAULTS, TrainConfig
from realisid.training.dataset import Batches, ShardStream, list_shards, validation_reference
from realisid.training.loop import frozen_stack
from realisid.training.probe import PROBES, condition_errors
from realisid.training.samples import PrepareSettings
from realisid.training.step import AdapterTrainingModule, StepSettings, frozen_inputs, training_loss
from realisid.training.timesteps import sample_timesteps
from realisid_toy.shipped import WEIGHTS

from ._training_support import photo_folder

RESOLUTION = 64  # 8×8 latents: the tiny loop runs at a few steps per second


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    out = root / "shards"
    prepare(
        photo_folder(root / "photos"),
        out,
        PrepareSettings(resolution=RESOLUTION, landmark_size=128),
        4,
        workers=1,
    )
    return out


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_config(shards, out, **overrides):
    values = {
        "tiny": True,
        "data": str(shards),
        "output_dir": str(out),
        "resolution": RESOLUTION,
        "batch_size": 2,
    }
    values.update(learning_rate=1e-4, max_steps=4, checkpoint_every=2, log_every=1, shuffle_buffer=4)
    return load_config(overrides={**values, **overrides})


def test_tiny_model_overfits_a_fixed_batch(shards):
    stack = tiny_stack(0)
    for module in (stack.unet, stack.vae, stack.text_encoder, stack.text_encoder_2, stack.image_encoder):
        module.requires_grad_(False)
    torch.manual_seed(0)
    adapter = RealisIDAdapter.from_unet(stack.unet, tiny_adapter_config())
    pipe = RealisIDPipeline(**vars(stack), adapter=adapter)
    model = AdapterTrainingModule(adapter)
    batch = next(Batches(ShardStream(list_shards(shards), seed=0), 1, adapter.config.landmark_size))
    scheduler = DDPMScheduler.from_config(stack.scheduler.config)
    no_dropout = StepSettings(drop_id=0, drop_text=0, drop_both=0)
    inputs = frozen_inputs(pipe, scheduler, batch, torch.Generator().manual_seed(0), no_dropout)
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=1e-3, weight_decay=1e-2)
    losses = []
    for _ in range(120):
        loss, _, face = training_loss(model, stack.unet, inputs, batch, lam=1.0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert face.item() > 0  # the face box is in the loss
    assert losses[-1] < losses[0] / 5, f"loss {losses[0]:.3f} → {losses[-1]:.3f}"


def test_a_step_draws_its_timesteps_by_the_configured_sampling(shards):
    stack = tiny_stack(0)
    pipe = RealisIDPipeline(**vars(stack), adapter=RealisIDAdapter.from_unet(stack.unet, tiny_adapter_config()))
    batch = next(Batches(ShardStream(list_shards(shards), seed=0), 2, pipe.adapter.config.landmark_size))
    scheduler = DDPMScheduler.from_config(stack.scheduler.config)
    for sampling in ("uniform", "cubic"):
        generator = torch.Generator().manual_seed(3)
        settings = StepSettings(timestep_sampling=sampling)
        inputs = frozen_inputs(pipe, scheduler, batch, torch.Generator().manual_seed(3), settings)
        torch.randn(inputs.noisy.shape, generator=generator)  # the latent sample and noise come first
        torch.randn(inputs.noisy.shape, generator=generator)
        expected = sample_timesteps(2, scheduler.config.num_train_timesteps, generator, sampling)
        assert torch.equal(inputs.timesteps, expected), sampling


def test_only_the_adapter_trains_and_its_export_loads_into_the_pipeline(shards, tmp_path):
    stack = tiny_stack(0)
    frozen_before = {
        name: {k: v.clone() for k, v in getattr(stack, name).state_dict().items()}
        for name in ("unet", "vae", "text_encoder", "text_encoder_2", "image_encoder")
    }
    result = train(
        tiny_config(shards, tmp_path, max_steps=2, validation_every=2, validation_steps=2), stack=stack
    )
    for name, before in frozen_before.items():
        after = getattr(stack, name).state_dict()
        assert all(torch.equal(before[k], after[k].cpu()) for k in before), f"{name} changed"
    fresh = RealisIDAdapter.from_unet(tiny_stack(0).unet, tiny_adapter_config())
    trained = RealisIDAdapter.from_pretrained(result.adapter_dir)
    changed = {
        part: any(
            not torch.equal(a, b)
            for a, b in zip(getattr(fresh, part).parameters(), getattr(trained, part).parameters())
        )
        for part in ("projection", "local_branch", "global_branch")
    }
    assert changed == {"projection": True, "local_branch": True, "global_branch": True}
    assert (tmp_path / "validation" / "step-00000002-0.png").is_file()
    assert any((tmp_path / "logs").rglob("events.out.tfevents.*"))
    pipe = tiny_pipeline(0, adapter=result.adapter_dir)
    image = pipe(
        "a person",
        persons=[Person(validation_reference(list_shards(shards)[0]))],
        height=64,
        width=64,
        num_inference_steps=2,
        output_type="np",
    ).images
    assert image.shape == (1, 64, 64, 3) and torch.isfinite(torch.from_numpy(image)).all()


@pytest.mark.parametrize("branch, other", [("local", "global"), ("global", "local")])
def test_one_branch_alone_trains_and_the_other_stays_at_zero(shards, tmp_path, branch, other):
    result = train(tiny_config(shards, tmp_path, max_steps=2, branches=[branch]), stack=tiny_stack(0))
    fresh = RealisIDAdapter.from_unet(tiny_stack(0).unet, tiny_adapter_config())
    trained = RealisIDAdapter.from_pretrained(result.adapter_dir)

    def changed(part: str) -> bool:
        pairs = zip(getattr(fresh, part).parameters(), getattr(trained, part).parameters())
        return any(not torch.equal(a, b) for a, b in pairs)

    assert changed("projection") and changed(f"{branch}_branch") and not changed(f"{other}_branch")


def test_the_instantid_style_baseline_trains_by_the_same_loop(shards, tmp_path):
    stack = tiny_stack(0)
    fresh = InstantIDStyleAdapter.from_unet(stack.unet, tiny_adapter_config())
    fresh.save_pretrained(tmp_path / "init")
    init = {"init_adapter": str(tmp_path / "init"), "max_steps": 2}
    with pytest.raises(RealisIDError, match=r"branches \['local'\] train nothing: this adapter's branches are \['global'\]"):
        train(tiny_config(shards, tmp_path / "local", branches=["local"], **init), stack=stack)
    result = train(tiny_config(shards, tmp_path / "run", **init), stack=stack)
    trained = load_adapter(result.adapter_dir, unet=stack.unet)
    assert type(trained) is InstantIDStyleAdapter
    assert sorted(p.name for p in result.adapter_dir.iterdir()) == ["config.json", "projection.safetensors", "whole_image_branch"]
    for part in ("projection", "global_branch"):
        pairs = zip(getattr(fresh, part).parameters(), getattr(trained, part).parameters())
        assert any(not torch.equal(a, b) for a, b in pairs), part


def test_a_base_that_predicts_neither_noise_nor_v_is_refused_before_training(shards, tmp_path):
    stack = tiny_stack(0)
    stack = dataclasses.replace(stack, scheduler=DDIMScheduler.from_config(stack.scheduler.config, prediction_type="sample"))
    with pytest.raises(RealisIDError, match="the base model predicts 'sample'"):
        train(tiny_config(shards, tmp_path, max_steps=1), stack=stack)
    assert not (tmp_path / "checkpoints").exists()


def test_a_base_folder_validates_with_ddim_whatever_scheduler_it_names(tmp_path):
    """SDXL's folder names Euler; the run's validation images sample as the paper does (DDIM), same schedule."""
    base = shutil.copytree(WEIGHTS / "base", tmp_path / "base")
    path = base / "scheduler" / "scheduler_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "_class_name": "EulerDiscreteScheduler"}))
    stack = frozen_stack(TrainConfig(base=str(base)))  # the base folder carries its image_encoder/
    assert type(stack.scheduler) is DDIMScheduler
    assert stack.scheduler.config.prediction_type == "v_prediction" and stack.scheduler.config.rescale_betas_zero_snr


def test_an_adapter_stored_in_fp16_trains_in_fp32(shards, tmp_path):
    """The shipped toy weights are fp16 on disk: the adapter trains in the run's precision (fp32 here),
    not in the dtype it was stored in."""
    config = tiny_config(shards, tmp_path / "run", tiny=False, base=str(WEIGHTS / "base"),
                         init_adapter=str(WEIGHTS / "realisid"), max_steps=1, checkpoint_every=1)
    result = train(config)
    assert all(torch.isfinite(torch.tensor(loss)) for loss in result.losses)
    trained = load_file(result.adapter_dir / "projection.safetensors")
    assert {tensor.dtype for tensor in trained.values()} == {torch.float32}


def test_unknown_branch_is_a_config_error(shards, tmp_path):
    with pytest.raises(RealisIDError, match="branches must be one or both of local, global"):
        tiny_config(shards, tmp_path, branches=["middle"])


def _weights(path):
    return {
        k: v
        for name in ("local_branch", "global_branch")
        for k, v in load_file(path / name / "diffusion_pytorch_model.safetensors").items()
    } | load_file(path / "projection.safetensors")


def test_killed_and_resumed_run_ends_like_an_uninterrupted_one(shards, tmp_path):
    straight = train(tiny_config(shards, tmp_path / "straight", max_steps=5))
    # Stopped after step 3: the checkpoint of step 2 survives, step 3's work is lost.
    train(tiny_config(shards, tmp_path / "killed", max_steps=3))
    (tmp_path / "killed" / "checkpoints" / ".tmp-step-00000004").mkdir()  # debris of a crash mid-save
    resumed = train(tiny_config(shards, tmp_path / "killed", max_steps=5, resume="latest"))
    assert resumed.losses == straight.losses  # the steps before the kill come back with the checkpoint
    a, b = _weights(straight.adapter_dir), _weights(resumed.adapter_dir)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_precomputed_frozen_outputs_train_like_encoding_on_the_fly(shards, tmp_path):
    on_the_fly = train(tiny_config(shards, tmp_path / "direct", max_steps=2))
    precomputed = train(tiny_config(shards, tmp_path / "cached", max_steps=2, precompute=True))
    assert sorted(p.name for p in (tmp_path / "cached" / "precomputed").glob("*.tar")) == [
        p.name for p in list_shards(shards)
    ]
    assert precomputed.losses == pytest.approx(on_the_fly.losses, rel=1e-4)


def test_a_tiny_run_is_smoke_sized_unless_a_size_is_set(tmp_path):
    assert {key: getattr(load_config(overrides={"tiny": True}), key) for key in TINY_DEFAULTS} == TINY_DEFAULTS
    (tmp_path / "run.yaml").write_text("tiny: true\nbatch_size: 4\n")
    chosen = load_config(tmp_path / "run.yaml", {"resolution": 256})
    assert (chosen.resolution, chosen.batch_size, chosen.max_steps) == (256, 4, TINY_DEFAULTS["max_steps"])
    paper = load_config()
    assert (paper.resolution, paper.batch_size, paper.max_steps) == (1024, 16, 100_000)


def test_shards_read_at_a_smaller_side_scale_images_boxes_and_crop_offsets(shards):
    as_prepared, halved = (
        next(Batches(ShardStream(list_shards(shards, side), seed=0), 3, 128, resolution=side))
        for side in (RESOLUTION, RESOLUTION // 2)
    )
    assert halved.keys == as_prepared.keys
    assert halved.pixels.shape[-2:] == (RESOLUTION // 2, RESOLUTION // 2)
    torch.testing.assert_close(halved.boxes, as_prepared.boxes / 2)
    torch.testing.assert_close(halved.time_ids[:, :2], as_prepared.time_ids[:, :2])
    assert (halved.time_ids[:, 2:4] - as_prepared.time_ids[:, 2:4] / 2).abs().max() <= 0.5
    assert (halved.time_ids[:, 4:] == RESOLUTION // 2).all()
    mean_colour = lambda pixels: pixels.mean(dim=(-2, -1))
    torch.testing.assert_close(mean_colour(halved.pixels), mean_colour(as_prepared.pixels), atol=0.02, rtol=0)


def test_cli_errors_are_one_line(shards, tmp_path, capsys):
    assert main(["train", "--tiny", "--data", str(tmp_path / "none")]) == 2
    assert main(["train", "--tiny", "--data", str(shards), "--set", "resolution=128"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "does not exist" in err[0] and "prepared at 64 px" in err[1]


def test_two_processes_train_and_checkpoint(shards, tmp_path):
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--main_process_port",
        "0",  # a free port: another test may be launching at the same time
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "realisid.cli",
        "train",
        "--tiny",
        "--data",
        str(shards),
        "--output-dir",
        str(tmp_path),
        "--max-steps",
        "2",
        "--checkpoint-every",
        "2",
        "--batch-size",
        "2",
        "--set",
        f"resolution={RESOLUTION}",
    ]
    # torchrun's two processes; ACCELERATE_USE_CPU makes accelerate join them over gloo on the CPU.
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained 2 steps") == 1  # reported by the main process only
    checkpoint = tmp_path / "checkpoints" / "step-00000002"
    assert {p.name for p in checkpoint.glob("data-*.json")} == {"data-0.json", "data-1.json"}
    assert RealisIDAdapter.from_pretrained(tmp_path / "adapter").config == tiny_adapter_config()


def _probe_setup(shards):
    """The tiny stack's frozen parts, a fresh adapter, and one batch of two with its frozen inputs."""
    stack = tiny_stack(0)
    for module in (stack.unet, stack.vae, stack.text_encoder, stack.text_encoder_2, stack.image_encoder):
        module.requires_grad_(False)
    torch.manual_seed(0)
    adapter = RealisIDAdapter.from_unet(stack.unet, tiny_adapter_config())
    pipe = RealisIDPipeline(**vars(stack), adapter=adapter)
    batch = next(Batches(ShardStream(list_shards(shards), seed=0), 2, adapter.config.landmark_size))
    scheduler = DDPMScheduler.from_config(stack.scheduler.config)
    no_dropout = StepSettings(drop_id=0, drop_text=0, drop_both=0)
    inputs = frozen_inputs(pipe, scheduler, batch, torch.Generator().manual_seed(0), no_dropout)
    return stack, adapter, batch, inputs


def test_probe_of_an_untrained_adapter_is_the_base_alone(shards):
    stack, adapter, batch, inputs = _probe_setup(shards)
    errors = condition_errors(AdapterTrainingModule(adapter), stack.unet, inputs, batch)
    assert list(errors) == list(PROBES)
    assert all(terms == errors["base alone"] for terms in errors.values())  # zero convolutions: no residual
    assert errors["base alone"][1] > 0


def test_probe_tells_an_adapter_that_reads_its_conditions(shards):
    """Two samples with the same noisy latents, timestep and text but different targets: only
    their conditions tell them apart, so an adapter fitted to them must read the conditions."""
    stack, adapter, batch, inputs = _probe_setup(shards)
    same = lambda x: x[:1].expand_as(x).clone()
    inputs = dataclasses.replace(
        inputs,
        noisy=same(inputs.noisy),
        timesteps=same(inputs.timesteps),
        text=same(inputs.text),
        added_cond_kwargs={k: same(v) for k, v in inputs.added_cond_kwargs.items()},
        target=torch.randn(inputs.target.shape, generator=torch.Generator().manual_seed(1)),
    )
    model = AdapterTrainingModule(adapter)
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=1e-3)
    for _ in range(60):
        training_loss(model, stack.unet, inputs, batch, lam=1.0)[0].backward()
        optimizer.step()
        optimizer.zero_grad()
    errors = {name: diffusion for name, (diffusion, _) in condition_errors(model, stack.unet, inputs, batch).items()}
    assert errors["own conditions"] < 0.8 * errors["another's ID, landmarks and box"], errors
    assert errors["own conditions"] < 0.8 * errors["base alone"], errors


def test_probe_command_prints_the_table_and_one_line_errors(shards, tmp_path, capsys):
    config = tmp_path / "train.yaml"
    run = {"tiny": True, "data": str(shards), "output_dir": str(tmp_path / "run"), "resolution": RESOLUTION}
    config.write_text(yaml.safe_dump({**run, "batch_size": 2, "max_steps": 1, "shuffle_buffer": 4}))
    adapter = train(load_config(config)).adapter_dir
    capsys.readouterr()
    assert main(["probe", "--config", str(config), "--adapter", str(adapter), "--batches", "1"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert [row.split(" | ")[0].strip("| ") for row in rows[2:]] == list(PROBES)
    assert main(["probe", "--config", str(config), "--adapter", str(tmp_path / "none")]) == 2
    assert main(["probe", "--config", str(config), "--adapter", str(adapter), "--batches", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "does not exist" in err[0] and "at least 1 batch" in err[1]
