"""The identity adapters (RealisID's and the InstantID-style baseline): branches, multi-person
combination, ID tokens, checkpoints and loading by format tag (tiny stack)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from accelerate.hooks import ModelHook, add_hook_to_module
from diffusers import UNet2DConditionModel

from realisid.errors import CheckpointError
from realisid.loading import tiny_adapter_config
from realisid.models import (
    IdentityAdapter,
    InstantIDStyleAdapter,
    RealisIDAdapter,
    RealisIDConfig,
    Residuals,
    load_adapter,
    location_mask,
    relocate,
)
from realisid.presets import TINY_UNET

from .conftest import perturb_zero_convs

H, W = 128, 192  # pixels; latents 16×24: non-square on purpose
L = tiny_adapter_config().local_size


def inputs(persons: int, batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    boxes = torch.tensor([[10.0, 20.0, 40.0], [100.0, 30.0, 64.0], [-10.0, 90.0, 50.0], [150.0, 5.0, 12.0]])
    return {
        "latents": torch.randn(batch, 4, H // 8, W // 8, generator=g),
        "timestep": torch.tensor(421),
        "id_tokens": torch.randn(batch, persons, 4, 64, generator=g),
        "landmark_images": torch.rand(batch, persons, 3, 8 * L, 8 * L, generator=g),
        "boxes": boxes[:persons].expand(batch, persons, 3).clone(),
        "added_cond_kwargs": {
            "text_embeds": torch.randn(batch, 32, generator=g), "time_ids": torch.randn(batch, 6, generator=g)
        },
    }


def person(x: dict, p: int) -> dict:
    """Person ``p``'s inputs of :func:`inputs`: ``id_tokens (B, n, C)``, ``landmark_images (B, 3, 8L, 8L)``,
    ``boxes (B, 3)``."""
    return {k: x[k][:, p] for k in ("id_tokens", "landmark_images", "boxes")}


@pytest.fixture
def trained_baseline(stack):
    """The InstantID-style baseline with perturbed zero convolutions."""
    torch.manual_seed(1)
    return perturb_zero_convs(InstantIDStyleAdapter.from_unet(stack.unet, tiny_adapter_config()).eval())


def unet_eps(unet, x, residuals=None):
    kwargs = residuals.unet_kwargs() if residuals is not None else {}
    text = torch.randn(x["latents"].shape[0], 77, 64, generator=torch.Generator().manual_seed(3))
    return unet(x["latents"], x["timestep"], text, added_cond_kwargs=x["added_cond_kwargs"], **kwargs).sample


@torch.no_grad()
def test_fresh_branches_add_exactly_nothing(stack, fresh_adapter):
    x = inputs(persons=2)
    residuals = fresh_adapter(**x)
    assert all(torch.count_nonzero(r) == 0 for r in (*residuals.down, residuals.mid))
    assert torch.equal(unet_eps(stack.unet, x, residuals), unet_eps(stack.unet, x))


def unet_residual_shapes(adapter: IdentityAdapter, x: dict) -> list[torch.Size]:
    """The U-Net's own encoder shapes (a ControlNet copy run on the full latent): down blocks, then mid."""
    down, mid = adapter.global_branch.net(
        x["latents"], x["timestep"], torch.zeros(2, 4, 64), torch.zeros(2, 1, H, W),
        added_cond_kwargs=x["added_cond_kwargs"], return_dict=False,
    )
    return [r.shape for r in (*down, mid)]


@pytest.mark.parametrize("persons", [1, 3])
@torch.no_grad()
def test_residual_shapes_match_the_unet_at_every_level(stack, trained_adapter, persons):
    x = inputs(persons)
    residuals = trained_adapter(**x)
    assert [r.shape for r in (*residuals.down, residuals.mid)] == unet_residual_shapes(trained_adapter, x)
    assert len(residuals.down) == 3 * TINY_UNET["layers_per_block"] + 3
    unet_eps(stack.unet, x, residuals)  # the U-Net accepts them


@torch.no_grad()
def test_a_crop_side_that_halves_to_odd_grids_still_fits_the_unet(stack):
    """``L`` = 10 halves to 5 and then 3 (stride-2 convolutions round up): level k is 2^k cells a cell."""
    config = dataclasses.replace(tiny_adapter_config(), local_size=10)
    adapter = perturb_zero_convs(RealisIDAdapter.from_unet(stack.unet, config).eval())
    x = {**inputs(2), "landmark_images": torch.rand(2, 2, 3, 80, 80, generator=torch.Generator().manual_seed(1))}
    residuals = adapter(**x, global_scale=0.0)
    assert [r.shape for r in (*residuals.down, residuals.mid)] == unet_residual_shapes(adapter, x)
    assert residuals.down[-1].abs().sum() > 0
    unet_eps(stack.unet, x, residuals)


def assert_residuals_close(got, expected):
    for a, b in zip((*got.down, got.mid), (*expected.down, expected.mid), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@torch.no_grad()
def test_local_residuals_summed_and_global_averaged_over_persons(trained_adapter):
    """Fig. 2(c) in one batched call equals the two branches called per person, local summed, global averaged."""
    x = inputs(persons=3)
    common = (x["latents"], x["timestep"])
    locals_, globals_ = [], []
    for p in range(3):
        one = person(x, p)
        locals_.append(trained_adapter.local_branch(
            *common, one["id_tokens"], one["landmark_images"], one["boxes"], (H, W), x["added_cond_kwargs"], 0.5
        ))
        mask = location_mask(one["boxes"], (H, W), (H, W))
        globals_.append(trained_adapter.global_branch(*common, one["id_tokens"], mask, x["added_cond_kwargs"], 2.0))
    combine = lambda *levels: sum(levels[:3]) + sum(levels[3:]) / 3
    branches = locals_ + globals_
    expected = Residuals(tuple(map(combine, *(r.down for r in branches))), combine(*(r.mid for r in branches)))
    assert_residuals_close(trained_adapter(**x, local_scale=0.5, global_scale=2.0), expected)


@torch.no_grad()
def test_instantid_style_residuals_are_one_controlnet_on_the_relocated_drawing(trained_baseline):
    """The baseline is a plain ControlNet call on each person's drawing pasted at its box, averaged over persons."""
    x = inputs(persons=2)
    calls = []
    for p in range(2):
        one = person(x, p)
        drawing = relocate(one["landmark_images"], one["boxes"], (H, W), (H, W))
        calls.append(trained_baseline.global_branch.net(
            x["latents"], x["timestep"], encoder_hidden_states=one["id_tokens"], controlnet_cond=drawing,
            conditioning_scale=0.5, added_cond_kwargs=x["added_cond_kwargs"], return_dict=False,
        ))
    (down_0, mid_0), (down_1, mid_1) = calls
    expected = Residuals(tuple((a + b) / 2 for a, b in zip(down_0, down_1)), (mid_0 + mid_1) / 2)
    assert_residuals_close(trained_baseline(**x, local_scale=0.0, global_scale=0.5), expected)  # local_scale ignored
    assert trained_baseline(**x, global_scale=0.0) is None


@torch.no_grad()
def test_local_residuals_live_inside_the_box_and_move_with_it(trained_adapter):
    x = inputs(persons=1)
    residuals = trained_adapter(**x, global_scale=0.0)
    moved = trained_adapter(**{**x, "boxes": x["boxes"] + torch.tensor([60.0, 40.0, 0.0])}, global_scale=0.0)
    levels = trained_adapter.local_branch.levels
    for r, r_moved, level in zip((*residuals.down, residuals.mid), (*moved.down, moved.mid), levels):
        support = location_mask(x["boxes"][:, 0], (H, W), (H // 8, W // 8), level)[:, 0].bool()
        assert torch.count_nonzero(r.abs().sum(1)[~support]) == 0
        assert torch.count_nonzero(r.abs().sum(1)[support]) > 0
        assert not torch.equal(r, r_moved)


@torch.no_grad()
def test_the_no_crop_ablation_sees_the_whole_latent_and_writes_only_in_the_box(stack):
    """``local_crop=False``: the local net runs on the whole ``z_t`` with ``c_p&e`` placed at the box
    (one ControlNet call), its residuals masked to the box; the cropping branch never sees the outside."""
    torch.manual_seed(1)
    config = dataclasses.replace(tiny_adapter_config(), local_crop=False)
    no_crop = perturb_zero_convs(RealisIDAdapter.from_unet(stack.unet, config).eval())
    x, box = inputs(persons=1), inputs(persons=1)["boxes"][:, 0]
    drawing = relocate(x["landmark_images"][:, 0], box, (H, W), (H, W))
    down, mid = no_crop.local_branch.net(
        x["latents"], x["timestep"], encoder_hidden_states=x["id_tokens"][:, 0], controlnet_cond=drawing,
        added_cond_kwargs=x["added_cond_kwargs"], return_dict=False,
    )
    got = no_crop(**x, global_scale=0.0)
    for r, whole, level in zip((*got.down, got.mid), (*down, mid), no_crop.local_branch.levels):
        support = location_mask(box, (H, W), (H // 8, W // 8), level)
        torch.testing.assert_close(r, whole * support)
    far = torch.zeros_like(x["latents"])
    far[..., :, -4:] = 3.0  # change z_t far right of the box (x0 = 10 px, side 40 px: latent columns 1-6)
    changed = {**x, "latents": x["latents"] + far}
    assert not torch.equal(no_crop(**changed, global_scale=0.0).mid, got.mid)
    torch.manual_seed(1)
    cropping = perturb_zero_convs(RealisIDAdapter.from_unet(stack.unet, tiny_adapter_config()).eval())
    torch.testing.assert_close(cropping(**changed, global_scale=0.0).mid, cropping(**x, global_scale=0.0).mid)


@torch.no_grad()
def test_branch_scales_switch_branches_off(trained_adapter):
    x = inputs(persons=2)
    assert trained_adapter(**x, local_scale=0.0, global_scale=0.0) is None
    both = trained_adapter(**x)
    local = trained_adapter(**x, global_scale=0.0)
    glob = trained_adapter(**x, local_scale=0.0)
    torch.testing.assert_close(both.mid, local.mid + glob.mid)
    half = trained_adapter(**x, local_scale=0.5, global_scale=0.0)
    torch.testing.assert_close(half.mid, local.mid * 0.5)


@torch.no_grad()
def test_id_tokens_and_null_id(stack, fresh_adapter):
    from realisid.models import face_features

    faces = torch.rand(2, 3, 96, 96)
    features = face_features(stack.image_encoder, faces)
    config = fresh_adapter.config
    assert features.shape == (2, config.image_feature_tokens, config.image_feature_dim)
    tokens = fresh_adapter.project(features)
    assert tokens.shape == (2, config.num_id_tokens, config.cross_attention_dim)
    null = fresh_adapter.null_id(3)
    torch.testing.assert_close(null[0], fresh_adapter.project(torch.zeros_like(features[:1]))[0])
    assert null.shape == (3, config.num_id_tokens, config.cross_attention_dim)
    assert not torch.allclose(tokens[0], null[0])


class _MovesOnForward(ModelHook):
    """Stands in for model CPU offload's hook, which moves a model to the GPU when it runs; this one to fp64."""

    def pre_forward(self, module, *args, **kwargs):
        module.to(torch.float64)
        return args, kwargs


@torch.no_grad()
def test_id_tokens_are_made_after_the_offload_hook_has_moved_the_adapter(fresh_adapter):
    """``project`` and ``null_id`` run outside ``forward`` (the pipeline calls them), yet under
    ``enable_model_cpu_offload`` the adapter must be where its inputs are before they compute."""
    add_hook_to_module(fresh_adapter, _MovesOnForward())
    assert fresh_adapter.null_id(2).dtype == torch.float64  # zeros made after the move
    fresh_adapter.to(torch.float32)
    config = fresh_adapter.config
    features = torch.rand(1, config.image_feature_tokens, config.image_feature_dim, dtype=torch.float64)
    assert fresh_adapter.project(features).dtype == torch.float64


@pytest.mark.parametrize("kind", [RealisIDAdapter, InstantIDStyleAdapter])
def test_linear_projection_and_defaults_from_the_unet(stack, kind):
    adapter = kind.from_unet(stack.unet, image_encoder=stack.image_encoder)
    assert adapter.config.cross_attention_dim == 64 and adapter.config.image_feature_dim == 32
    assert adapter.config.local_size == TINY_UNET["sample_size"]
    assert adapter.project(torch.randn(2, 257, 32)).shape == (2, adapter.config.num_id_tokens, 64)
    linear = kind.from_unet(stack.unet, RealisIDConfig(**{**vars(tiny_adapter_config()), "projection": "linear"}))
    assert linear.project(torch.randn(2, 257, 32)).shape == (2, 4, 64)


def test_the_baseline_is_an_identity_adapter_but_not_a_realisid_one(trained_baseline):
    assert isinstance(trained_baseline, IdentityAdapter) and not isinstance(trained_baseline, RealisIDAdapter)
    assert list(trained_baseline.branches) == ["global"]
    with pytest.raises(TypeError, match="abstract"):
        IdentityAdapter(tiny_adapter_config())


@pytest.mark.parametrize(
    ("kind", "branch_folders"),
    [(RealisIDAdapter, {"local_branch", "global_branch"}), (InstantIDStyleAdapter, {"whole_image_branch"})],
)
def test_save_load_round_trips_bit_exactly_by_format_tag(stack, kind, branch_folders, tmp_path):
    torch.manual_seed(1)
    adapter = perturb_zero_convs(kind.from_unet(stack.unet, tiny_adapter_config()))
    adapter.save_pretrained(tmp_path / "adapter")
    assert {p.name for p in (tmp_path / "adapter").iterdir()} == {"config.json", "projection.safetensors", *branch_folders}
    assert json.loads((tmp_path / "adapter" / "config.json").read_text())["format"] == kind.format
    for loaded in (load_adapter(tmp_path / "adapter", unet=stack.unet), kind.from_pretrained(tmp_path / "adapter")):
        assert type(loaded) is kind and loaded.config == adapter.config
        ours, theirs = adapter.state_dict(), loaded.state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_an_unknown_format_tag_names_the_known_ones(fresh_adapter, tmp_path):
    folder = tmp_path / "adapter"
    fresh_adapter.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "format": "photomaker"}))
    known = "'realisid-adapter', 'realisid-instantid-style'"
    with pytest.raises(CheckpointError, match=f"format tag 'photomaker' is none of {known}$"):
        load_adapter(folder)
    (folder / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel"}))
    with pytest.raises(CheckpointError, match="not a RealisID adapter config: format tag None"):
        load_adapter(folder)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_adapter(tmp_path / "nowhere")


def test_bad_checkpoints_give_clear_errors(stack, trained_adapter, tmp_path):
    folder = tmp_path / "adapter"
    trained_adapter.save_pretrained(folder)

    with pytest.raises(CheckpointError, match="does not exist"):
        RealisIDAdapter.from_pretrained(tmp_path / "nowhere")

    bigger = UNet2DConditionModel(**{**TINY_UNET, "cross_attention_dim": 96})
    with pytest.raises(CheckpointError, match="cross_attention_dim"):
        RealisIDAdapter.from_pretrained(folder, unet=bigger)

    (folder / "projection.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="projection.safetensors"):
        RealisIDAdapter.from_pretrained(folder)

    trained_adapter.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_id_tokens": 8}))
    with pytest.raises(CheckpointError, match="do not match"):
        RealisIDAdapter.from_pretrained(folder)

    (folder / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel"}))
    with pytest.raises(CheckpointError, match="not a RealisID adapter"):
        RealisIDAdapter.from_pretrained(folder)

    (folder / "config.json").write_text(json.dumps(config))
    weights = next((folder / "local_branch").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="local_branch"):
        RealisIDAdapter.from_pretrained(folder)

    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        RealisIDAdapter.from_pretrained(folder)


def test_perturbation_helper_really_perturbs(fresh_adapter):
    before = fresh_adapter.local_branch.net.controlnet_mid_block.weight.clone()
    perturb_zero_convs(fresh_adapter)
    assert torch.count_nonzero(before) == 0
    assert torch.count_nonzero(fresh_adapter.local_branch.net.controlnet_mid_block.weight) > 0


def test_an_adapter_saved_in_fp16_loads_in_fp32_unless_told(fresh_adapter, tmp_path):
    fresh_adapter.half().save_pretrained(tmp_path / "adapter")
    for dtype, expected in ((None, torch.float32), (torch.float16, torch.float16)):
        loaded = load_adapter(tmp_path / "adapter", torch_dtype=dtype)
        assert {p.dtype for p in loaded.parameters()} == {expected}


def test_an_image_encoder_of_other_features_does_not_fit(stack, fresh_adapter):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from realisid.presets import TINY_VISION

    fresh_adapter.check_image_encoder(stack.image_encoder)
    for change, words in (({"hidden_size": 48}, "gives 257 of 48"), ({"image_size": 64}, "gives 17 of 32")):
        encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**{**TINY_VISION, **change}))
        with pytest.raises(CheckpointError, match=f"does not fit this ID image encoder: .*{words}"):
            fresh_adapter.check_image_encoder(encoder)
