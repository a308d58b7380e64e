"""``realisid toy-reproduce --smoke``: every stage of the toy reproduction runs, and its products load."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionXLPipeline
from transformers import CLIPVisionModelWithProjection

from realisid.cli import build_parser, main
from realisid.commands.toy_reproduce import recipe_config
from realisid.evaluation import face_similarity
from realisid.persons import Person
from realisid_toy.lab.base_model import BaseTraining, toy_stack, train_base_model
from realisid_toy.lab.evaluation import reference_rendering
from realisid_toy.lab.recipe import STAGES, Recipe, RecipeConfig, evaluation_config
from realisid_toy.lab.shards import rendering_conditions
from realisid_toy.shipped import WEIGHTS, toy_metric, toy_pipeline


class ToyReproduceParser:
    """``realisid toy-reproduce``'s own argument parser."""

    def parse_args(self, argv: list[str]) -> argparse.Namespace:
        return build_parser().parse_args(["toy-reproduce", *argv])


def test_face_sizes_set_the_world_and_bad_ones_are_one_line_errors(capsys):
    parser = ToyReproduceParser()
    portraits = recipe_config(parser.parse_args(["--out", "x", "--face-paint", "--face-sizes", "0.5,0.9"]))
    assert portraits.rel_size == (0.5, 0.9) and portraits.paint == "regions"
    assert portraits.scenes == RecipeConfig().scenes
    smoke = recipe_config(parser.parse_args(["--out", "x", "--smoke"]))
    assert smoke.rel_size == RecipeConfig().rel_size and smoke.scenes == RecipeConfig.smoke().scenes
    for bad in ("0.9,0.5", "half,1", "0.5", "0,0.5"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--out", "x", "--face-sizes", bad])
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert "face sizes" in error and repr(bad) in error


def test_image_size_sets_the_scenes_and_the_evaluation_and_bad_ones_are_one_line_errors(tmp_path, capsys):
    parser = ToyReproduceParser()
    assert recipe_config(parser.parse_args(["--out", "x"])).image_size == 128
    for bad in ("100", "0", "-64", "big"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--out", "x", "--image-size", bad])
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert "image size" in error and repr(bad) in error

    out = tmp_path / "small"
    assert main(["toy-reproduce", "--out", str(out), "--smoke", "--image-size", "64", "--stages", "data"]) == 0
    assert np.load(out / "data" / "images.npy").shape[1:] == (64, 64, 3)
    assert json.loads((out / "data" / "shards" / "prepare.json").read_text())["settings"]["resolution"] == 64
    config = recipe_config(parser.parse_args(["--out", str(out), "--smoke", "--image-size", "64"]))
    evaluation = evaluation_config(out, 0, config)
    assert (evaluation["height"], evaluation["width"]) == (64, 64)
    # resumed in another world, the run refuses before any stage mixes into this one
    capsys.readouterr()
    assert main(["toy-reproduce", "--out", str(out), "--smoke", "--face-paint", "--stages", "data"]) == 2
    assert "holds stages made with paint none, not regions; image_size 64, not 128: choose" in capsys.readouterr().err
    assert json.loads((out / "world.json").read_text()) == {"paint": "none", "image_size": 64, "face_sizes": [0.12, 0.5]}


def test_base_from_must_be_a_trained_base_and_sets_the_base_stage(tmp_path, capsys):
    parser = ToyReproduceParser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", "x", "--base-from", str(tmp_path)])
    assert "not a trained base folder" in capsys.readouterr().err
    (tmp_path / "model_index.json").write_text("{}")
    args = ["--out", "x", "--base-from", str(tmp_path), "--base-steps", "7", "--base-lr", "3e-4"]
    config = recipe_config(parser.parse_args(args))
    assert config.base_from == tmp_path and config.base.unet_steps == 7 and config.base.unet_lr == 3e-4
    assert config.base.unet_batch == RecipeConfig().base.unet_batch
    assert recipe_config(parser.parse_args(["--out", "x"])).base_from is None


def test_weights_go_to_the_run_folder_unless_the_package_is_named(tmp_path):
    parser = ToyReproduceParser()
    assert parser.parse_args(["--out", "x"]).ship_to is None
    assert Recipe(tmp_path, RecipeConfig()).ship_to == tmp_path / "weights"
    assert parser.parse_args(["--out", "x", "--ship-to", "package"]).ship_to == WEIGHTS.resolve()
    assert parser.parse_args(["--out", "x", "--ship-to", "elsewhere"]).ship_to == Path("elsewhere").resolve()


@pytest.mark.parametrize(("option", "value", "error"), [
    ("--base-steps", "0", "expected a whole number above 0, got '0'"),
    ("--base-steps", "-100", "expected a whole number above 0, got '-100'"),
    ("--base-lr", "-1", "expected a number above 0, got '-1'"),
    ("--base-lr", "nan", "expected a number above 0, got 'nan'"),
    ("--threads", "-1", "expected a whole number above 0, got '-1'"),
])
def test_bad_sizes_are_one_line_errors_before_any_stage(option, value, error, capsys):
    with pytest.raises(SystemExit):
        ToyReproduceParser().parse_args(["--out", "x", option, value])
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(f"argument {option}: {error}")


def test_an_out_inside_a_file_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["toy-reproduce", "--out", str(tmp_path / "file"), "--smoke"]) == 2
    assert capsys.readouterr().err == f"realisid toy-reproduce: error: --out {tmp_path / 'file'}: {tmp_path / 'file'} is a file, not a folder\n"


def test_smoke_recipe_runs_every_stage_and_ships_loadable_weights(tmp_path, capsys):
    out = tmp_path / "toy"
    assert main(["toy-reproduce", "--out", str(out), "--smoke"]) == 0
    assert list(json.loads((out / "timings.json").read_text())) == list(STAGES)
    images, masks = np.load(out / "data" / "images.npy"), np.load(out / "data" / "face_masks.npy")
    assert masks.shape == images.shape[:3] and masks.dtype == np.uint8 and (masks.reshape(len(masks), -1).max(1) == 255).all()

    base = StableDiffusionXLPipeline.from_pretrained(out / "base")
    assert base.unet.config.sample_size == 16 and base.vae.config.scaling_factor != 0.13025  # set from the data
    assert base.vae.config.latent_channels == base.unet.config.in_channels == 16
    schedule = base.scheduler.config
    assert schedule.prediction_type == "v_prediction" and schedule.rescale_betas_zero_snr
    untrained = toy_stack(0)  # the text encoders learn with the U-Net; the ID image encoder stays random
    for name in ("text_encoder", "text_encoder_2"):
        pairs = zip(getattr(base, name).parameters(), getattr(untrained, name).parameters())
        assert any(not torch.equal(a, b) for a, b in pairs)
    image_encoder = CLIPVisionModelWithProjection.from_pretrained(out / "base" / "image_encoder")
    pairs = zip(image_encoder.parameters(), untrained.image_encoder.parameters())
    assert all(torch.equal(a, b) for a, b in pairs)
    assert (out / "base-samples.png").is_file()

    tables = (out / "tables.md").read_text()
    for row in ("RealisID (full)", "w/o B_global", "w/o B_local", "InstantID-style", "renderer (ceiling)"):
        assert row in tables
    assert "1/7" in tables and " ± " in tables and (out / "identity_vs_size.png").is_file()
    for seed in (0, 1, 2):
        assert (out / "evaluate" / f"seed-{seed}" / "report.md").is_file()

    # The shipped copy (fp16 on disk) loads in fp32 and generates; the metric scores it.
    pipe = toy_pipeline(out / "weights")
    assert pipe.unet.dtype == torch.float32
    reference = reference_rendering(2_000_100)
    image = pipe("a person", [Person(rendering_conditions(reference), box=(0.5, 0.4, 0.25))], height=128,
                 width=128, num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (128, 128)
    similarity = face_similarity(reference.image, reference.image, toy_metric(out / "weights"))
    assert similarity is None or abs(similarity - 1) < 1e-4

    # A base fine-tuned from the smoke base starts from its weights, not from the random init:
    # at learning rate 0 it is that base exactly.
    frozen = BaseTraining(unet_steps=1, unet_batch=2, unet_lr=0.0)
    captions = json.loads((out / "data" / "captions.json").read_text())
    train_base_model(images[:4], captions[:4], out / "vae", tmp_path / "tuned", frozen, init=out / "base")
    tuned = StableDiffusionXLPipeline.from_pretrained(tmp_path / "tuned")
    for name in ("unet", "text_encoder", "text_encoder_2"):
        pairs = zip(getattr(tuned, name).parameters(), getattr(base, name).parameters())
        assert all(torch.equal(a, b) for a, b in pairs)
    assert not torch.equal(tuned.unet.conv_in.weight, untrained.unet.conv_in.weight)

    # A second run finds every stage done and redoes nothing.
    capsys.readouterr()
    assert main(["toy-reproduce", "--out", str(out), "--smoke"]) == 0
    assert capsys.readouterr().out.count("done before") == len(STAGES)
