"""The toy reproduction's parts: shards from renderings, proxies, the InstantID-style baseline, the toy VAE."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from realisid.boxes import Box
from realisid.errors import CheckpointError
from realisid.evaluation.protocol import GenerationRequest
from realisid.loading import tiny_adapter_config
from realisid.models import InstantIDStyleAdapter, RealisIDAdapter, load_adapter
from realisid.models.geometry import crop
from realisid.persons import Person
from realisid.pipeline import RealisIDPipeline
from realisid.training.dataset import Batches, ShardStream, list_shards
from realisid.training.samples import PrepareSettings
from realisid_toy.lab import base_model
from realisid_toy.lab.base_model import (
    TOY_UNET,
    TOY_UNET_ATTENTION_AT_EVERY_LEVEL,
    BaseTraining,
    encode_images,
    fine_tune_vae,
    images_tensor,
    random_crops,
    random_zoom_boxes,
    reconstruction_loss,
    rescale_loss,
    resize_images,
    resize_latents,
    sdxl_pipeline,
    toy_stack,
    train_unet,
    train_vae,
    zoom_loss,
)
from realisid_toy.lab.evaluation import (
    reference_conditions,
    reference_rendering,
    renderer_generator,
    toy_prompts,
    write_references,
)
from realisid_toy.lab.proxies import attribute_agreement, clothing_and_wall, prompt_colors
from realisid_toy.lab.shards import rendering_conditions, write_shards
from realisid_toy.world import Identity, Scene, render_scene, sample_rendering

from .conftest import perturb_zero_convs


def test_shards_from_renderings_read_back_with_exact_boxes(tmp_path):
    renderings = [sample_rendering(seed) for seed in range(5)]
    settings = PrepareSettings(resolution=128, crop_size=64, landmark_size=128, min_face=0.0)
    manifest = write_shards(renderings, tmp_path, settings, shard_size=3)
    assert manifest["samples"] == 5 and len(manifest["shards"]) == 2
    batch = next(Batches(ShardStream(list_shards(tmp_path, 128), seed=0, buffer=1), 5, 128))
    by_key = dict(zip(batch.keys, range(5)))
    for index, rendering in enumerate(renderings):
        row = by_key[f"{index:09d}"]
        assert torch.allclose(batch.boxes[row], torch.tensor(list(rendering.box)))
        assert batch.captions[row] == rendering.scene_caption  # the face's traits left to the ID
    assert batch.landmark_images.shape == (5, 3, 128, 128) and batch.faces.shape == (5, 3, 64, 64)
    assert batch.pixels.shape == (5, 3, 128, 128)


def test_rendering_conditions_mask_the_face_only():
    rendering = render_scene(Identity.sample(3), Box(32, 20, 64), size=128)
    conditions = rendering_conditions(rendering, crop_size=64)
    assert conditions.box == rendering.box and conditions.relative_box == pytest.approx((0.5, 0.40625, 0.5))
    mask = conditions.mask
    assert mask[32, 32] == 1.0 and mask[0, 0] == 0.0  # centre of the face, corner of the box
    masked = np.asarray(conditions.masked_crop)
    assert masked[0, 0].sum() == 0 and masked[32, 32].sum() > 0


def test_attribute_proxy_reads_the_renderers_colours():
    prompt = toy_prompts(3)[1]
    clothing, wall = prompt_colors(prompt)
    box = Box(40, 16, 40)
    rendering = render_scene(Identity.sample(5), box, scene=Scene("wall", wall, clothing, "sweater", 1), size=128)
    assert clothing_and_wall(rendering.image, box) == (clothing, wall)
    assert attribute_agreement(rendering.image, box, prompt) == 1.0
    other = render_scene(Identity.sample(5), box, scene=Scene("wall", "pink", "black", "sweater", 1), size=128)
    assert attribute_agreement(other.image, box, prompt) == 0.0


def test_references_round_trip_to_exact_conditions(tmp_path):
    path = write_references(tmp_path, 2)[1]
    conditions = reference_conditions(path)
    assert conditions.image_size == (128, 128) and conditions.landmarks.shape == (478, 3)
    assert conditions.crop.size == (128, 128) and conditions.box == Box(32.0, 19.2, 64.0)


def test_references_keep_their_face_paint(tmp_path):
    path = write_references(tmp_path, 1, paint="regions")[0]
    painted = reference_rendering(2_000_000, paint="regions")
    crop = np.asarray(reference_conditions(path).crop)
    assert np.array_equal(crop, np.asarray(rendering_conditions(painted).crop))
    assert not np.array_equal(np.asarray(painted.image), np.asarray(reference_rendering(2_000_000).image))
    request = GenerationRequest("renderer", path, toy_prompts(1)[0], (0.5, 0.4, 0.5), 0, 128, 128)
    face = np.s_[30:75, 45:85]  # inside the face oval of the reference's box
    drawn = np.asarray(renderer_generator({})(request), dtype=int)[face]
    assert np.array_equal(drawn, np.asarray(painted.image, dtype=int)[face])


def test_fresh_instantid_style_adapter_leaves_the_base_model_alone_and_round_trips(stack, fresh_adapter, tmp_path):
    torch.manual_seed(2)
    baseline = InstantIDStyleAdapter.from_unet(stack.unet, tiny_adapter_config()).eval()
    reference = rendering_conditions(render_scene(Identity.sample(1), Box(32, 20, 64), size=128))
    images = []
    for adapter in (fresh_adapter, baseline):
        pipe = RealisIDPipeline(**vars(stack), adapter=adapter)
        pipe.set_progress_bar_config(disable=True)
        images.append(pipe("a person", [Person(reference, box=(0.5, 0.5, 0.2))], height=64, width=64,
                           num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt").images)
    assert torch.equal(images[0], images[1])  # zero convolutions: both give the base model's image

    with torch.no_grad():
        for conv in baseline.global_branch.net.controlnet_down_blocks:
            conv.weight.normal_(0, 0.05)
    baseline.save_pretrained(tmp_path / "instantid")
    fresh_adapter.save_pretrained(tmp_path / "realisid")
    loaded = load_adapter(tmp_path / "instantid", unet=stack.unet)  # either folder, by its format tag
    assert type(loaded) is InstantIDStyleAdapter and type(load_adapter(tmp_path / "realisid")) is RealisIDAdapter
    with pytest.raises(CheckpointError, match="of format 'realisid-adapter' \\(it says 'realisid-instantid-style'"):
        RealisIDAdapter.from_pretrained(tmp_path / "instantid")
    for (name, a), b in zip(baseline.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    latents = torch.randn(1, 4, 8, 8)
    args = (latents, 10, loaded.null_id(1)[:, None], torch.rand(1, 1, 3, 128, 128), torch.tensor([[[8.0, 8.0, 24.0]]]),
            {"text_embeds": torch.zeros(1, 32), "time_ids": torch.zeros(1, 6)})
    assert loaded(*args).down[0].abs().sum() > 0 and loaded(*args, global_scale=0.0) is None


@torch.no_grad()
@pytest.mark.parametrize("kind", [RealisIDAdapter, InstantIDStyleAdapter])
def test_without_pooled_text_the_branches_do_not_read_the_prompt(stack, kind):
    """The pipeline runs one branch pass for both null-ID slots when ``branch_pooled_text`` is off:
    for either adapter, two prompts must then give the same residuals (and different ones when on)."""
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(3)
    adapter = kind.from_unet(stack.unet, tiny_adapter_config()).eval()
    for branch in adapter.branches.values():
        for conv in (*branch.net.controlnet_down_blocks, branch.net.controlnet_mid_block):
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.05)
    args = (torch.randn(1, 4, 8, 8, generator=generator), 10, adapter.null_id(1)[:, None],
            torch.rand(1, 1, 3, 128, 128, generator=generator), torch.tensor([[[8.0, 8.0, 24.0]]]))
    prompts = [{"text_embeds": torch.randn(1, 32, generator=generator), "time_ids": torch.zeros(1, 6)} for _ in range(2)]
    for pooled in (True, False):
        adapter.config = dataclasses.replace(adapter.config, branch_pooled_text=pooled)
        first, second = (adapter(*args, added).mid for added in prompts)  # down[0] precedes the time embedding
        assert first.abs().sum() > 0 and torch.equal(first, second) is not pooled


def test_vae_training_crops_are_latent_aligned_windows():
    pixels = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    generator = torch.Generator().manual_seed(0)
    crops = random_crops(pixels, 16, generator)
    assert crops.shape == (2, 3, 16, 16)
    for image, window in zip(pixels, crops):
        y, x = divmod(int(window[0, 0, 0] - image[0, 0, 0]), 32)
        assert y % 8 == 0 and x % 8 == 0 and torch.equal(window, image[:, y : y + 16, x : x + 16])
    assert random_crops(pixels, 32, generator) is pixels


def test_vae_loss_weights_the_face_region():
    pixels = torch.zeros(1, 3, 8, 8)
    face = torch.zeros(1, 1, 8, 8)
    face[..., 2:4, 2:4] = 1  # 4 of 64 pixels
    uniform = torch.ones(1, 1, 8, 8)
    error_in_face, error_outside = pixels.clone(), pixels.clone()
    error_in_face[..., 2, 2] = 0.5
    error_outside[..., 6, 6] = 0.5
    plain = torch.nn.functional.l1_loss(error_in_face, pixels) + torch.nn.functional.mse_loss(error_in_face, pixels)
    assert reconstruction_loss(error_in_face, pixels, uniform) == pytest.approx(plain.item())
    weights = 1 + 10 * face  # mean weight 1 + 10 * 4 / 64
    mean = 1 + 10 * 4 / 64
    assert reconstruction_loss(error_in_face, pixels, weights) == pytest.approx(plain.item() * 11 / mean)
    assert reconstruction_loss(error_outside, pixels, weights) == pytest.approx(plain.item() / mean)


def test_vae_training_crops_carry_the_face_weights_with_the_pixels():
    rendering = sample_rendering(3, size=64, rel_size=(0.4, 0.5))
    pixels = images_tensor(np.asarray(rendering.image)[None])
    weights = torch.from_numpy(rendering.face_mask)[None, None]
    crops = random_crops(torch.cat([pixels, weights], 1), 32, torch.Generator().manual_seed(0))
    y, x = next((y, x) for y in range(0, 33, 8) for x in range(0, 33, 8)
                if torch.equal(crops[0, :3], pixels[0, :, y : y + 32, x : x + 32]))
    assert torch.equal(crops[0, 3], weights[0, 0, y : y + 32, x : x + 32])


def test_toy_stack_latents_have_sixteen_channels_and_start_nearly_deterministic():
    stack = toy_stack(0)
    assert stack.vae.config.latent_channels == stack.unet.config.in_channels == stack.unet.config.out_channels == 16
    images = np.stack([np.asarray(sample_rendering(seed, size=64).image) for seed in range(2)])
    vae = train_vae(stack.vae, images, BaseTraining(vae_steps=0))
    posterior = vae.encode(images_tensor(images)).latent_dist
    assert posterior.mean.shape == (2, 16, 8, 8)
    assert posterior.logvar.mean().item() == pytest.approx(-10, abs=0.5) and posterior.std.max() < 0.02
    assert vae.config.scaling_factor == pytest.approx(1 / posterior.mean.std().item(), rel=1e-4)


def test_fine_tuning_starts_from_a_vae_folder_keeps_its_posterior_variance_and_rescales_the_latents(tmp_path):
    vae = toy_stack(0).vae
    with torch.no_grad():
        vae.quant_conv.bias[16:].fill_(-7.0)
    vae.save_pretrained(tmp_path)
    images = np.stack([np.asarray(sample_rendering(seed, size=64).image) for seed in range(2)])
    config = BaseTraining(vae_steps=2, vae_batch=2, vae_crop=32, vae_rescale_weight=1.0)
    tuned = fine_tune_vae(tmp_path, images, config, log=lambda line: None)
    assert tuned.quant_conv.bias[16:].sub(-7.0).abs().max() < 0.01  # not reset to initial_logvar
    assert not torch.equal(tuned.decoder.conv_out.weight, vae.decoder.conv_out.weight)
    means, _ = encode_images(tuned, images)
    assert tuned.config.scaling_factor == pytest.approx(1 / means.std().item(), rel=1e-4)


def test_latents_are_resized_as_the_local_branch_resamples_its_crop():
    latents = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    doubled = torch.nn.functional.interpolate(latents, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(resize_latents(latents, 16), doubled)
    torch.testing.assert_close(resize_latents(latents, 4), torch.nn.functional.avg_pool2d(latents, 2))
    torch.testing.assert_close(resize_latents(latents, 8), latents)


@torch.no_grad()
def test_the_rescale_term_compares_the_decoded_resized_latents_with_the_resized_pixels():
    vae = toy_stack(0).vae.eval()
    generator = torch.Generator().manual_seed(0)
    latents, pixels = torch.randn(1, 16, 4, 4, generator=generator), torch.rand(1, 3, 32, 32, generator=generator)
    weights = 1 + torch.rand(1, 1, 32, 32, generator=generator)
    plain = reconstruction_loss(vae.decode(latents).sample, pixels, weights)
    assert rescale_loss(vae, latents, pixels, weights, 4) == pytest.approx(plain.item())
    halved = reconstruction_loss(vae.decode(resize_latents(latents, 2)).sample, resize_images(pixels, 16),
                                 resize_images(weights, 16))
    assert rescale_loss(vae, latents, pixels, weights, 2) == pytest.approx(halved.item())
    flat = torch.full((1, 3, 32, 32), 0.3)
    assert torch.equal(resize_images(flat, 64), torch.full((1, 3, 64, 64), 0.3))


@torch.no_grad()
def test_the_zoom_term_up_samples_a_box_of_the_latents_as_the_local_branch_does():
    vae = toy_stack(0).vae.eval()
    generator = torch.Generator().manual_seed(0)
    latents, pixels = torch.randn(1, 16, 8, 8, generator=generator), torch.rand(1, 3, 64, 64, generator=generator)
    weights = torch.ones(1, 1, 64, 64)
    whole = torch.tensor([[0.0, 0.0, 8.0]])
    plain = reconstruction_loss(vae.decode(latents).sample, pixels, weights)
    assert zoom_loss(vae, latents, pixels, weights, whole, 8) == pytest.approx(plain.item(), rel=1e-5)
    box = torch.tensor([[2.0, 3.0, 2.0]])  # 2 cells up-sampled 8x: 16 cells, 128 px
    around = torch.nn.functional.interpolate(pixels[..., 16:48, 8:40], scale_factor=8, mode="bilinear")
    quarter = around[..., 64:192, 64:192]  # the box's 16 px, up-sampled with its neighbours, as crop samples
    zoomed = vae.decode(crop(latents, box, (8, 8), 16)).sample
    assert zoom_loss(vae, latents, pixels, weights, box, 16) == pytest.approx(
        reconstruction_loss(zoomed, quarter, torch.ones(1, 1, 128, 128)).item(), rel=1e-4)
    boxes = random_zoom_boxes(64, 8, (2.0, 8.0), torch.Generator().manual_seed(1))
    assert ((boxes[:, 2] >= 2 - 1e-6) & (boxes[:, 2] <= 8 + 1e-6)).all()
    assert (boxes[:, :2] >= 0).all() and (boxes[:, :2] + boxes[:, 2:] <= 8 + 1e-6).all()


@torch.no_grad()
@pytest.mark.parametrize("unet, first_level_reads_the_id", [(TOY_UNET, False), (TOY_UNET_ATTENTION_AT_EVERY_LEVEL, True)])
def test_the_id_tokens_reach_the_local_branchs_first_level_only_with_cross_attention_there(
    unet, first_level_reads_the_id
):
    stack = toy_stack(0, unet)
    config = dataclasses.replace(tiny_adapter_config(), local_size=32)
    branch = perturb_zero_convs(RealisIDAdapter.from_unet(stack.unet, config).eval()).local_branch
    assert hasattr(branch.net.down_blocks[0], "attentions") is first_level_reads_the_id
    generator = torch.Generator().manual_seed(0)
    latents, landmarks = torch.randn(1, 16, 32, 32, generator=generator), torch.rand(1, 3, 256, 256, generator=generator)
    added = {"text_embeds": torch.zeros(1, 32), "time_ids": torch.zeros(1, 6)}
    first, second = (
        branch(latents, 500, torch.randn(1, 4, 64, generator=generator), landmarks, torch.tensor([[96.0, 48.0, 37.0]]),
               (256, 256), added)
        for _ in range(2)
    )
    first_level = [i for i, level in enumerate(branch.levels[:-1]) if level == 0][1:]  # after conv_in's
    difference = max((first.down[i] - second.down[i]).abs().max().item() for i in first_level)
    assert (difference > 0) is first_level_reads_the_id  # exactly 0 without cross-attention there
    assert (first.mid - second.mid).abs().max() > 0  # the deeper levels read the ID either way


def test_the_toy_unet_for_256_pixels_has_32_latent_cells_and_cross_attends_at_every_level():
    unet = toy_stack(0, TOY_UNET_ATTENTION_AT_EVERY_LEVEL).unet
    assert unet.config.sample_size == 32 and all(hasattr(block, "attentions") for block in unet.down_blocks)
    assert all(hasattr(block, "attentions") for block in unet.up_blocks)


def test_a_base_run_cut_off_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    monkeypatch.setattr(base_model, "CHECKPOINT_EVERY", 2)
    images = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    config, checkpoint = BaseTraining(unet_steps=5, unet_batch=2), tmp_path / "run" / "checkpoint.pt"

    def trained(log, saved_to=None):
        pipe = sdxl_pipeline(toy_stack(0))
        train_unet(pipe, images, ["a person"] * 4, config, log, checkpoint=saved_to)
        return pipe.unet.state_dict()

    def cut_off_at_the_first_save(line):
        if "checkpoint saved" in line:
            raise KeyboardInterrupt

    whole = trained(lambda line: None)
    with pytest.raises(KeyboardInterrupt):
        trained(cut_off_at_the_first_save, checkpoint)
    lines = []
    resumed = trained(lines.append, checkpoint)
    assert f"unet step 2: resumed from {checkpoint}" in lines
    assert all(torch.allclose(resumed[name], whole[name], atol=1e-6) for name in whole)
    lines.clear()
    trained(lines.append, checkpoint)  # the last save was at step 4 by this configuration, so it resumes there ...
    assert lines[0] == f"unet step 4: resumed from {checkpoint}"
    config = dataclasses.replace(config, seed=1)  # ... and not by another
    trained(lines.append, checkpoint)
    assert f"{checkpoint} was saved by another configuration: starting from step 0" in lines
