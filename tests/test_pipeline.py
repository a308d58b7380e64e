"""RealisIDPipeline on the tiny stack: guidance, delayed ID, multi-person rule, locality, bad input."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import accelerate.hooks
import numpy as np
import pytest
import torch
from diffusers import StableDiffusionXLPipeline

from realisid import Box, Person
from realisid.errors import CheckpointError, RealisIDError
from realisid.faces import extract_conditions
from realisid.faces.samples import astronaut, grace_hopper
from realisid.layout import BOX_COLORS
from realisid.models import face_features, location_mask
from realisid.persons import resolve_persons
from realisid.pipeline import RealisIDPipeline, tiny_pipeline

from .conftest import perturb_zero_convs

H, W = 96, 128
PROMPT = "a photo of a person in a red coat, in a park"


@pytest.fixture(scope="module")
def references():
    return extract_conditions(astronaut()), extract_conditions(grace_hopper())


@pytest.fixture
def pipe():
    return tiny_pipeline(seed=0)


@pytest.fixture
def trained_pipe(pipe):
    perturb_zero_convs(pipe.adapter, seed=1, std=0.2)
    return pipe


def generate(pipe, persons, steps=3, **kwargs):
    kwargs = {"height": H, "width": W, "num_inference_steps": steps, "output_type": "np", **kwargs}
    return pipe(PROMPT, persons, generator=torch.Generator().manual_seed(7), **kwargs).images


def two_persons(references):
    return [Person(references[0], box=(0.3, 0.45, 0.3)), Person(references[1], box=(0.72, 0.5, 0.2))]


def test_fresh_branches_give_plain_sdxl(pipe, references):
    """With zero-initialised branches the ID terms vanish: the image is SDXL's with guidance λ_t."""
    ours = generate(pipe, two_persons(references), text_scale=6.0)
    sdxl = StableDiffusionXLPipeline(**{k: v for k, v in pipe.components.items() if k != "adapter"})
    theirs = sdxl(
        PROMPT, height=H, width=W, num_inference_steps=3, guidance_scale=6.0, output_type="np",
        generator=torch.Generator().manual_seed(7),
    ).images
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)


def capture_unet_residuals(pipe, step: int):
    """Records the residuals the U-Net receives at denoising ``step``."""
    seen, calls = {}, []
    original = pipe.unet.forward

    def forward(*args, **kwargs):
        if len(calls) == step and "mid_block_additional_residual" in kwargs:
            seen["down"] = kwargs["down_block_additional_residuals"]
            seen["mid"] = kwargs["mid_block_additional_residual"]
            seen["input"], seen["t"] = args[0], args[1]
            seen["added"] = kwargs["added_cond_kwargs"]
        calls.append(1)
        return original(*args, **kwargs)

    pipe.unet.forward = forward
    return seen


def test_two_persons_are_the_sum_and_mean_of_per_person_residuals(trained_pipe, references):
    persons = two_persons(references)
    seen = capture_unet_residuals(trained_pipe, step=2)
    generate(trained_pipe, persons, steps=3, id_start=0.0)
    people = resolve_persons(persons, W, H)
    tokens = trained_pipe.encode_persons(people)
    null = trained_pipe.adapter.null_id(1).expand_as(tokens)
    ids = torch.stack([null, null, tokens])  # (3 slots, P, n, C)
    landmarks = trained_pipe.landmark_images(people)
    boxes = torch.tensor([list(p.box) for p in people])
    rows = seen["input"].shape[0]
    assert rows == 3

    def one(p, local_scale, global_scale):
        return trained_pipe.adapter(
            seen["input"], seen["t"], ids[:, p : p + 1], landmarks[p : p + 1].expand(rows, 1, -1, -1, -1),
            boxes[p : p + 1].expand(rows, 1, 3), seen["added"], local_scale=local_scale, global_scale=global_scale,
        )

    with torch.no_grad():
        local = [one(p, 1.0, 0.0) for p in range(2)]
        glob = [one(p, 0.0, 1.0) for p in range(2)]
    expected_mid = local[0].mid + local[1].mid + (glob[0].mid + glob[1].mid) / 2
    torch.testing.assert_close(seen["mid"], expected_mid, atol=1e-5, rtol=1e-4)
    for level, got in enumerate(seen["down"]):
        expected = local[0].down[level] + local[1].down[level] + (glob[0].down[level] + glob[1].down[level]) / 2
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_one_person_multi_person_path_equals_single_branch_calls(trained_pipe, references):
    """P = 1 through the batched sum/mean equals the two branches called directly."""
    seen = capture_unet_residuals(trained_pipe, step=1)
    persons = [Person(references[0], box=(0.5, 0.5, 0.4))]
    generate(trained_pipe, persons, steps=2, id_start=0.0)
    person = resolve_persons(persons, W, H)[0]
    tokens = trained_pipe.encode_persons([person])
    null = trained_pipe.adapter.null_id(1)
    ids = torch.cat([null, null, tokens])  # (3, n, C)
    box = torch.tensor([list(person.box)] * 3)
    adapter = trained_pipe.adapter
    with torch.no_grad():
        local = adapter.local_branch(
            seen["input"], seen["t"], ids, trained_pipe.landmark_images([person]).expand(3, -1, -1, -1), box, (H, W),
            seen["added"],
        )
        glob = adapter.global_branch(seen["input"], seen["t"], ids, location_mask(box, (H, W), (H, W)), seen["added"])
    torch.testing.assert_close(seen["mid"], local.mid + glob.mid, atol=1e-6, rtol=1e-5)


def test_local_residuals_stay_in_each_box_and_follow_it(trained_pipe, references):
    recorded = []
    original = trained_pipe.adapter.local_branch.forward

    def record(*args, **kwargs):
        out = original(*args, **kwargs)
        recorded.append((args[4].clone(), out))
        return out

    trained_pipe.adapter.local_branch.forward = record
    persons = two_persons(references)
    generate(trained_pipe, persons, steps=2, id_start=0.0)
    moved = [Person(references[0], box=(0.6, 0.6, 0.3)), persons[1]]
    generate(trained_pipe, moved, steps=2, id_start=0.0)
    (boxes, before), (_, after) = recorded[0], recorded[2]
    levels = trained_pipe.adapter.local_branch.levels
    for index, (residual, level) in enumerate(zip((*before.down, before.mid), levels)):
        support = location_mask(boxes, (H, W), (H // 8, W // 8), level)[:, 0].bool()  # (rows, h, w)
        energy = residual.abs().sum(1)
        assert torch.count_nonzero(energy[~support]) == 0, f"residual {index} leaks outside its box"
        assert torch.count_nonzero(energy[support]) > 0
    assert not torch.equal(before.mid[0], after.mid[0])  # person 0 moved
    torch.testing.assert_close(before.mid[1], after.mid[1])  # person 1 did not


def test_delayed_or_zero_id_gives_the_text_only_result(trained_pipe, references):
    persons = two_persons(references)
    delayed = generate(trained_pipe, persons, id_start=1.0)
    no_id = generate(trained_pipe, persons, id_scale=0.0)
    with_id = generate(trained_pipe, persons, id_start=0.0)
    np.testing.assert_array_equal(delayed, no_id)
    assert np.abs(with_id - delayed).max() > 1e-3


def test_id_start_counts_two_then_three_slots(trained_pipe, references):
    rows = []
    original = trained_pipe.unet.forward
    trained_pipe.unet.forward = lambda *a, **k: (rows.append(a[0].shape[0]), original(*a, **k))[1]
    generate(trained_pipe, [Person(references[0])], steps=10, id_start=0.2)
    assert rows == [2, 2] + [3] * 8


def test_id_stop_limits_the_id_row_to_an_interval(trained_pipe, references, monkeypatch):
    """``id_stop`` 1 is the paper's sampling; below 1 the ID row stops there and the two remaining rows
    both carry the ID: (empty text, ID), (text, ID). The U-Net rows and the adapter's ID tokens per step."""
    rows, ids = [], []
    unet = trained_pipe.unet.forward
    monkeypatch.setattr(trained_pipe.unet, "forward", lambda *a, **k: (rows.append(a[0].shape[0]), unet(*a, **k))[1])
    forward = type(trained_pipe.adapter).forward
    monkeypatch.setattr(type(trained_pipe.adapter), "forward",
                        lambda self, x, t, id_tokens, *a, **k: (ids.append(id_tokens), forward(self, x, t, id_tokens, *a, **k))[1])
    persons = [Person(references[0])]
    paper = generate(trained_pipe, persons, steps=5, id_start=0.2, id_stop=1.0)
    assert rows == [2, 3, 3, 3, 3]
    rows.clear()
    ids.clear()
    limited = generate(trained_pipe, persons, steps=5, id_start=0.2, id_stop=0.6)
    assert rows == [2, 3, 3, 2, 2]
    null, id_row = ids[0][0], ids[1][2]
    assert not torch.equal(null, id_row)
    assert torch.equal(ids[0][1], null)
    assert all(torch.equal(step[0], id_row) and torch.equal(step[1], id_row) for step in ids[3:])
    assert np.abs(limited - paper).max() > 1e-4
    with pytest.raises(RealisIDError, match="id_stop"):
        generate(trained_pipe, persons, id_start=0.5, id_stop=0.4)


def test_precomputed_embedding_equals_the_photo(trained_pipe, references):
    features = face_features(trained_pipe.image_encoder, [references[0].masked_crop])[0]
    from_photo = generate(trained_pipe, [Person(references[0], box=(0.5, 0.5, 0.3))], id_start=0.0)
    from_embedding = generate(
        trained_pipe, [Person(references[0], box=(0.5, 0.5, 0.3), id_embedding=features)], id_start=0.0
    )
    np.testing.assert_array_equal(from_photo, from_embedding)


def test_pixel_and_relative_boxes_agree(trained_pipe, references):
    relative = generate(trained_pipe, [Person(references[0], box=(0.5, 0.5, 0.25))], steps=2)
    pixels = generate(trained_pipe, [Person(references[0], box=Box(64 - 16, 48 - 16, 32))], steps=2)
    np.testing.assert_array_equal(relative, pixels)


def test_layout_picture_outlines_each_box_in_its_colour_around_its_landmarks(pipe, references):
    persons = two_persons(references)
    out = pipe(PROMPT, persons, height=H, width=W, num_inference_steps=1, return_layout=True)
    layout = np.asarray(out.layout)
    assert out.layout.size == (W, H)
    background = layout[-1, -1]
    assert (layout[-10:, -10:] == background).all()  # outside every box the canvas stays plain
    for index, person in enumerate(persons):
        box = Box.from_relative(*person.box, W, H)
        x0, y0, side = round(box.x0), round(box.y0), round(box.size)
        edge = layout[y0 + side // 2, x0 - 1 : x0 + 2]  # the outline's left edge, give or take a pixel
        assert (edge == BOX_COLORS[index]).all(axis=-1).any()
        inside = layout[y0 + 2 : y0 + side - 2, x0 + 2 : x0 + side - 2]
        assert (inside != background).any(axis=-1).mean() > 0.02  # its landmarks are drawn in it


def test_bad_input_gives_clear_errors(pipe, references, tmp_path):
    with pytest.raises(RealisIDError, match="no reference"):
        generate(pipe, [Person(None)])
    with pytest.raises(RealisIDError, match="outside"):
        generate(pipe, [Person(references[0], box=Box(500, 10, 40))])
    with pytest.raises(RealisIDError, match="size must be positive"):
        generate(pipe, [Person(references[0], box=(0.5, 0.5, 0.0))])
    with pytest.raises(RealisIDError, match="multiples of 8"):
        generate(pipe, [Person(references[0])], height=100)
    with pytest.raises(RealisIDError, match="id_start"):
        generate(pipe, [Person(references[0])], id_start=1.5)
    with pytest.raises(RealisIDError, match="at least one person"):
        generate(pipe, [])
    with pytest.raises(RealisIDError, match="no face"):
        generate(pipe, [Person(np.zeros((64, 64, 3), np.uint8))])
    with pytest.raises(RealisIDError, match="id_embedding"):
        generate(pipe, [Person(references[0], id_embedding=torch.zeros(3, 3))])
    with pytest.raises(CheckpointError, match="does not exist"):
        RealisIDPipeline.from_pretrained(tmp_path / "sdxl-missing", adapter=tmp_path / "no-adapter")
    with pytest.warns(UserWarning, match="same place"):
        generate(pipe, [Person(references[0]), Person(references[0])], steps=1)
    with pytest.warns(UserWarning, match="tokens long"):
        pipe(" ".join(["word"] * 90), [Person(references[0])], height=H, width=W, num_inference_steps=1)


def test_condition_encoders_run_once_per_phase_and_change_nothing(trained_pipe, references, monkeypatch):
    """Reusing the c_p&e / c_loc encodings across steps is bit-exact with recomputing them."""
    calls = []
    for branch in (trained_pipe.adapter.local_branch, trained_pipe.adapter.global_branch):
        memo = branch.condition_memo
        compute = memo.compute
        monkeypatch.setattr(memo, "compute", lambda c, compute=compute: (calls.append(1), compute(c))[1])
    persons = two_persons(references)
    reused = generate(trained_pipe, persons, steps=5, id_start=0.4)
    assert len(calls) == 2 * 2  # two branches × two phases (2 slots, then 3 slots), not 2 × 5 steps
    calls.clear()
    monkeypatch.setattr(type(trained_pipe.adapter), "reusing_conditions", lambda self: contextlib.nullcontext())
    recomputed = generate(trained_pipe, persons, steps=5, id_start=0.4)
    assert len(calls) == 2 * 5
    np.testing.assert_array_equal(reused, recomputed)


def test_vae_tiling_decodes_large_images(pipe, references):
    """Memory savers come from diffusers: VAE tiling keeps working."""
    pipe.vae.enable_tiling()
    image = pipe(PROMPT, [Person(references[0])], height=256, width=320, num_inference_steps=1).images[0]
    assert image.size == (320, 256)


def fake_accelerator_moves(pipe, monkeypatch) -> list[tuple[str, str]]:
    """Model CPU offload on a CPU-only machine, ``cpu:0`` playing the accelerator: no weight moves, so each
    component's ``to`` records where it would be and accelerate's hooks read that place as its parameters'.

    Returns the log of moves, ``(component, "cpu" or "cpu:0")``, filled in as the pipeline runs.
    """
    place, owner, moves = {}, {}, []
    for name, module in pipe.components.items():
        if isinstance(module, torch.nn.Module):
            place[name] = torch.device("cpu")
            owner[id(next(module.parameters()))] = name

            def to(*args, name=name, original=module.to, **kwargs):
                device = torch._C._nn._parse_to(*args, **kwargs)[0]
                if device is not None and device != place[name]:
                    place[name] = device
                    moves.append((name, str(device)))
                return original(*args, **kwargs)

            monkeypatch.setattr(module, "to", to)

    def first_parameter(parameters):  # accelerate's hooks ask `next(module.parameters()).device`
        parameter = next(parameters)
        name = owner.get(id(parameter))
        return parameter if name is None else SimpleNamespace(device=place[name])

    monkeypatch.setattr(accelerate.hooks, "next", first_parameter, raising=False)
    pipe.enable_model_cpu_offload(device="cpu")
    return moves


def test_model_cpu_offload_keeps_unet_and_adapter_resident_through_the_loop(trained_pipe, references, monkeypatch):
    """No device move of the U-Net or the adapter after the first step; the adapter leaves before the VAE."""
    persons = two_persons(references)
    plain = generate(trained_pipe, persons, steps=4, id_start=0.5)
    moves = fake_accelerator_moves(trained_pipe, monkeypatch)
    per_step = []

    def mark(pipe, step, t, tensors):
        per_step.append(moves[:])
        moves.clear()
        return tensors

    offloaded = generate(trained_pipe, persons, steps=4, id_start=0.5, callback_on_step_end=mark)
    np.testing.assert_array_equal(offloaded, plain)
    assert ("unet", "cpu:0") in per_step[0] and ("adapter", "cpu:0") in per_step[0]
    assert [m for step in per_step[1:] for m in step if m[0] in ("unet", "adapter")] == []
    after_loop = [m for m in moves if m[0] in ("unet", "adapter", "vae")][:3]
    assert after_loop == [("adapter", "cpu"), ("unet", "cpu"), ("vae", "cpu:0")]


def test_leaf_level_group_offload_gives_the_same_image(trained_pipe, references):
    """The low-memory mode: diffusers' group offloading, leaf by leaf (the ID projection runs outside
    the adapter's forward, so it must be onloaded by its own leaves' hooks)."""
    persons = two_persons(references)
    plain = generate(trained_pipe, persons, steps=2, id_start=0.0)
    with pytest.raises(RealisIDError, match="leaf_level"):
        trained_pipe.enable_group_offload(torch.device("cpu"), offload_type="block_level")
    trained_pipe.enable_group_offload(torch.device("cpu"))
    np.testing.assert_array_equal(generate(trained_pipe, persons, steps=2, id_start=0.0), plain)


def test_channels_last_keeps_the_output(trained_pipe, references):
    persons = two_persons(references)
    reference = generate(trained_pipe, persons, steps=2, id_start=0.0)
    for module in (trained_pipe.unet, trained_pipe.adapter):
        module.to(memory_format=torch.channels_last)
    np.testing.assert_allclose(generate(trained_pipe, persons, steps=2, id_start=0.0), reference, atol=1e-4, rtol=0)


def test_null_slots_share_one_branch_pass_without_pooled_text(trained_pipe, references, monkeypatch):
    """With ``branch_pooled_text=False`` slot 0 reuses slot 1's branch residuals: same image, fewer rows
    (the efficient mode's path, ``id_stop`` included)."""
    trained_pipe.adapter.config.branch_pooled_text = False
    persons = two_persons(references)
    rows = []
    forward = type(trained_pipe.adapter).forward
    monkeypatch.setattr(type(trained_pipe.adapter), "forward",
                        lambda self, latents, *a, **k: (rows.append(latents.shape[0]), forward(self, latents, *a, **k))[1])
    shared = generate(trained_pipe, persons, steps=4, id_start=0.5, id_stop=0.75)
    assert rows == [1, 1, 2, 1]  # after id_stop both rows carry the ID: shared as well
    monkeypatch.setattr(trained_pipe.adapter.config, "branch_pooled_text", True)
    original = type(trained_pipe.adapter).forward

    def zero_pooled(self, latents, timestep, ids, landmarks, boxes, added, **kwargs):
        added = {**added, "text_embeds": torch.zeros_like(added["text_embeds"])}
        return original(self, latents, timestep, ids, landmarks, boxes, added, **kwargs)

    monkeypatch.setattr(type(trained_pipe.adapter), "forward", zero_pooled)
    separate = generate(trained_pipe, persons, steps=4, id_start=0.5, id_stop=0.75)
    np.testing.assert_allclose(shared, separate, atol=1e-5, rtol=0)  # batch-size rounding only


def test_half_precision_runs_and_stays_close(trained_pipe, references):
    """bf16 (CPU) follows fp32; box geometry is computed in float32 whatever the model dtype."""
    persons = [Person(references[0], box=(0.5, 0.5, 0.3))]
    full = generate(trained_pipe, persons, steps=2, id_start=0.0)
    half = generate(trained_pipe.to(torch.bfloat16), persons, steps=2, id_start=0.0)
    assert np.abs(half - full).mean() < 0.02


def test_from_pretrained_loads_every_part_in_one_dtype():
    from realisid_toy.shipped import WEIGHTS

    pipe = RealisIDPipeline.from_pretrained(WEIGHTS / "base", WEIGHTS / "realisid")  # saved in fp16
    parts = ("unet", "vae", "text_encoder", "text_encoder_2", "image_encoder", "adapter")
    assert {name: getattr(pipe, name).dtype for name in parts} == dict.fromkeys(parts, torch.float32)
