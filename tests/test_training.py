"""Training pieces that need no data: Eq. 7, condition dropout, the config, atomic checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from accelerate import Accelerator

from realisid.errors import CheckpointError, RealisIDError
from realisid.models import location_mask
from realisid.training import apply_dropout, load_config, realisid_loss, sample_dropout
from realisid.training.checkpoints import list_checkpoints, restore_checkpoint, save_checkpoint
from realisid.training.config import parse_override
from realisid.training.loss import diffusion_target
from realisid.training.timesteps import sample_timesteps


def test_face_term_is_zero_for_an_empty_mask():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)
    loss, diffusion, face = realisid_loss(pred, target, torch.zeros(2, 1, 8, 8), lam=1.0)
    assert face.item() == 0.0
    assert loss.item() == diffusion.item() == pytest.approx(((pred - target) ** 2).mean().item())


def test_loss_equals_a_hand_computation():
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, -1.0], [2.0, 0.0]]]])
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    # squared errors: 1 4 9 16 | 0 1 4 0 → sum 35 over 8 elements; in the mask: 1 16 | 0 0 → 17 / 8.
    loss, diffusion, face = realisid_loss(pred, target, mask, lam=0.5)
    assert diffusion.item() == pytest.approx(35 / 8)
    assert face.item() == pytest.approx(17 / 8)
    assert loss.item() == pytest.approx(35 / 8 + 0.5 * 17 / 8)


def test_diffusion_target_is_the_noise_or_the_velocity_of_the_schedule():
    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler(
        beta_schedule="scaled_linear", rescale_betas_zero_snr=True, prediction_type="v_prediction"
    )
    with_type = lambda kind: DDPMScheduler.from_config(scheduler.config, prediction_type=kind)
    g = torch.Generator().manual_seed(0)
    latents, noise = torch.randn(3, 4, 2, 2, generator=g), torch.randn(3, 4, 2, 2, generator=g)
    timesteps = torch.tensor([0, 500, 999])
    assert diffusion_target(with_type("epsilon"), latents, noise, timesteps) is noise
    v = diffusion_target(scheduler, latents, noise, timesteps)
    alpha = scheduler.alphas_cumprod[timesteps].view(-1, 1, 1, 1)
    assert torch.allclose(v, alpha.sqrt() * noise - (1 - alpha).sqrt() * latents)
    assert torch.allclose(v[2], -latents[2])  # zero terminal SNR: at the last step v is −z₀
    with pytest.raises(RealisIDError, match="the base model predicts 'sample'; training needs"):
        diffusion_target(with_type("sample"), latents, noise, timesteps)


def test_loss_mask_at_latent_resolution_is_the_box():
    boxes = torch.tensor([[16.0, 8.0, 32.0]])  # pixels of a 64×64 image → latent cells 2..5 × 1..4
    mask = location_mask(boxes, (64, 64), (8, 8))
    assert mask[0, 0, 1:5, 2:6].eq(1).all() and mask.sum() == 16


def test_dropout_rates_and_disjoint_events():
    keep_id, keep_text = sample_dropout(200_000, torch.Generator().manual_seed(0), 0.05, 0.05, 0.05)
    only_id = (~keep_id & keep_text).float().mean().item()
    only_text = (keep_id & ~keep_text).float().mean().item()
    both = (~keep_id & ~keep_text).float().mean().item()
    for rate in (only_id, only_text, both):
        assert rate == pytest.approx(0.05, abs=0.003)


def test_uniform_timesteps_are_drawn_as_before_and_cubic_ones_lean_to_the_noisy_end():
    draw = lambda sampling: sample_timesteps(20_000, 1000, torch.Generator().manual_seed(0), sampling)
    uniform, cubic = draw("uniform"), draw("cubic")
    assert torch.equal(uniform, torch.randint(0, 1000, (20_000,), generator=torch.Generator().manual_seed(0)))
    assert cubic.dtype == torch.int64 and 0 <= cubic.min() and cubic.max() <= 999
    # t = (1 - u^3) T: P(t > T/2) = P(u^3 < 1/2) = 2^(-1/3) ≈ 0.794, mean T/4 below T
    assert abs((cubic > 500).float().mean().item() - 0.794) < 0.015
    assert abs(cubic.float().mean().item() - 749.5) < 8 and abs(uniform.float().mean().item() - 499.5) < 8
    with pytest.raises(ValueError, match="timestep sampling must be one of uniform, cubic"):
        draw("cosine")


def test_dropout_zeroes_exactly_the_dropped_conditions():
    features, text, pooled = torch.ones(3, 5, 4), torch.ones(3, 77, 8), torch.ones(3, 6)
    keep_id, keep_text = torch.tensor([True, False, True]), torch.tensor([True, True, False])
    f, t, p = apply_dropout(features, text, pooled, keep_id, keep_text)
    assert f[1].eq(0).all() and f[[0, 2]].eq(1).all()
    assert t[2].eq(0).all() and p[2].eq(0).all() and t[:2].eq(1).all() and p[:2].eq(1).all()


def test_null_id_of_dropout_is_the_inference_null_id(fresh_adapter):
    features = torch.randn(
        2, fresh_adapter.config.image_feature_tokens, fresh_adapter.config.image_feature_dim
    )
    dropped, _, _ = apply_dropout(
        features,
        torch.ones(2, 1, 1),
        torch.ones(2, 1),
        torch.tensor([False, True]),
        torch.tensor([True, True]),
    )
    with torch.no_grad():
        assert torch.equal(fresh_adapter.project(dropped)[0], fresh_adapter.null_id(1)[0])


def test_config_defaults_are_the_papers():
    config = load_config()
    assert (config.learning_rate, config.weight_decay, config.batch_size, config.lam) == (1e-5, 1e-2, 16, 1.0)
    assert config.resolution == 1024 and (config.drop_id, config.drop_text, config.drop_both) == (0.05,) * 3
    assert config.timestep_sampling == "uniform"


def test_config_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("learning_rate: 1.0e-4\nmax_steps: 50\nvalidation_prompts: [a, b]\n")
    config = load_config(path, dict([parse_override("max_steps=7"), parse_override("lam=2")]))
    assert (config.learning_rate, config.max_steps, config.lam, config.validation_prompts) == (
        1e-4,
        7,
        2.0,
        ["a", "b"],
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"learnig_rate": 1.0}, "unknown config key(s) learnig_rate"),
        ({"max_steps": "many"}, "max_steps must be int"),
        ({"max_steps": 0}, "max_steps must be at least 1"),
        ({"mixed_precision": "fp8"}, "mixed_precision must be"),
        ({"timestep_sampling": "cosine"}, "timestep_sampling must be one of uniform, cubic, got 'cosine'"),
    ],
)
def test_bad_config_is_a_one_line_error(overrides, message):
    with pytest.raises(RealisIDError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        load_config(overrides=overrides)
    assert "\n" not in str(error.value)


def test_unreadable_config_and_bad_override_are_one_line_errors(tmp_path):
    binary = tmp_path / "run.yaml"
    binary.write_bytes(b"\xff\xfe\x00lr")
    broken = tmp_path / "broken.yaml"
    broken.write_text("max_steps: [1,\n")
    for call, message in [
        (lambda: load_config(binary), "is not readable YAML"),
        (lambda: load_config(broken), "is not readable YAML"),
        (lambda: parse_override("lam=["), "override 'lam=\\[': the value is not valid YAML"),
    ]:
        with pytest.raises(RealisIDError, match=message) as error:
            call()
        assert "\n" not in str(error.value)


def test_checkpoints_are_atomic_and_pruned(tmp_path):
    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(torch.nn.Linear(2, 2))
    root = tmp_path / "checkpoints"

    def save_adapter(path):
        path.mkdir()
        (path / "weights").write_text("ok")

    for step in (1, 2, 3):
        save_checkpoint(accelerator, root, step, 10 * step, save_adapter, keep=2)
    assert [p.name for p in list_checkpoints(root)] == ["step-00000002", "step-00000003"]

    def crash(path):
        path.mkdir()
        raise KeyboardInterrupt  # killed mid-save

    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(accelerator, root, 4, 40, crash, keep=2)
    latest = list_checkpoints(root)[-1]
    assert latest.name == "step-00000003"
    assert json.loads((latest / "trainer_state.json").read_text())["step"] == 3
    assert (latest / "model.safetensors").is_file() and json.loads((latest / "data-0.json").read_text()) == {
        "position": 30, "losses": []
    }
    save_checkpoint(accelerator, root, 4, 40, save_adapter, keep=2)  # the next save clears the debris
    assert sorted(p.name for p in root.iterdir()) == ["step-00000003", "step-00000004"]
    del model


def test_restore_checkpoint_errors(tmp_path):
    accelerator = Accelerator(cpu=True)
    assert restore_checkpoint(accelerator, tmp_path / "none", "latest") is None
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        restore_checkpoint(accelerator, tmp_path, str(tmp_path))
