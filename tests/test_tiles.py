"""The tiled-paint world: tiles drawn and posed with the head, the other worlds unchanged, the captions
of a person, the CLI switch and the CLIP-style pre-trained ID encoder."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import pytest
import torch
from transformers import CLIPVisionModelWithProjection

from realisid.boxes import Box
from realisid.cli import build_parser
from realisid.loading import clip_tokenizer
from realisid.models import face_features
from realisid_toy.lab.evaluation import reference_rendering
from realisid_toy.lab.id_encoder import RECORD, EncoderPretraining, pretrain_id_encoder
from realisid_toy.lab.shards import rendering_conditions
from realisid_toy.world import Identity, Pose, identity_caption, render_scene, sample_rendering
from realisid_toy.world.head import build_head
from realisid_toy.world.identity_net import TrainingConfig, train_identity_net, verification_accuracy
from realisid_toy.world.traits import NEUTRAL, PAINT_COLORS, TILE_COLORS, TILE_GRID

RECORDED = {
    ("regions", 0): "180853347507a154",
    ("regions", 1): "7a73e899fa764755",
    ("regions", 2): "809aa5a9cd688557",
    ("regions", 3): "cdd81bb517f1e0c7",
    ("none", 0): "826ef0fe4f15702a",
    ("none", 1): "4a71fef3eed94907",
}
"""Pixel-and-caption hashes of random scenes of the plain and the painted-regions worlds, recorded
before the three-way paint setting replaced the face-paint flag: both must draw exactly as they did."""
BOX = Box(24.0, 16.0, 80.0)


def test_plain_and_regions_worlds_draw_exactly_as_before():
    for (paint, seed), expected in RECORDED.items():
        rendering = sample_rendering(seed, size=96, paint=paint)
        pixels = np.asarray(rendering.image).tobytes() + rendering.caption.encode()
        assert hashlib.sha256(pixels).hexdigest()[:16] == expected, (paint, seed)


def test_tiles_are_added_to_the_same_person_in_the_tile_colours():
    plain, tiled = Identity.sample(10), Identity.sample(10, "tiles")
    assert dataclasses.replace(tiled, paint="none", paint_colors=()) == plain
    assert len(tiled.paint_colors) == TILE_GRID**2 and set(tiled.paint_colors) <= set(TILE_COLORS)
    assert len({Identity.sample(seed, "tiles").paint_colors for seed in range(40)}) == 40


def _tile_centres(identity: Identity, pose: Pose) -> np.ndarray:
    """Image pixels ``(16, 2)`` of the centre of each posed tile of ``identity`` drawn at :data:`BOX`."""
    outlines = build_head(identity, pose, NEUTRAL).paint
    return np.array([BOX.x0, BOX.y0]) + np.array([outline.mean(axis=0) for outline in outlines]) * BOX.size


@pytest.mark.parametrize("pose", [Pose(), Pose(yaw=30, pitch=10, roll=-10)])
def test_tiles_are_drawn_where_the_posed_head_puts_them(pose):
    identity = Identity.sample(4, "tiles")
    pixels = np.asarray(render_scene(identity, BOX, pose).image, dtype=int)
    centres = _tile_centres(identity, pose)
    drawn = [
        np.abs(pixels[int(y), int(x)] - PAINT_COLORS[color]).max() < 16
        for (x, y), color in zip(centres, identity.paint_colors, strict=True)
    ]
    assert sum(drawn) >= 10  # the rest lie under an eye, the nose or the mouth
    if pose != Pose():
        moved = np.abs(centres - _tile_centres(identity, Pose())).max()
        assert moved > 0.08 * BOX.size  # the tiles turned with the head


def test_tiles_tell_people_apart_inside_the_face_only():
    person = Identity.sample(6, "tiles")
    others = dataclasses.replace(person, paint_colors=tuple(reversed(person.paint_colors)))
    plain = render_scene(dataclasses.replace(person, paint="none", paint_colors=()), BOX, Pose(yaw=15))
    one, other = (render_scene(p, BOX, Pose(yaw=15)) for p in (person, others))
    face = one.face_mask == 1
    assert np.array_equal(one.face_mask, plain.face_mask) and np.array_equal(one.landmarks, plain.landmarks)
    for rendering in (one, other):
        changed = np.abs(np.asarray(rendering.image, dtype=int) - np.asarray(plain.image, dtype=int)).max(-1)
        changed = changed > 0
        assert not changed[one.face_mask == 0].any() and changed[face].mean() > 0.4
    differ = np.abs(np.asarray(one.image, dtype=int) - np.asarray(other.image, dtype=int)).max(-1) > 60
    assert differ[face].mean() > 0.2


def test_the_scene_caption_says_tiled_paint_and_the_identity_caption_names_every_tile():
    person = Identity.sample(6, "tiles")
    plain = dataclasses.replace(person, paint="none", paint_colors=())
    tiled = render_scene(person, BOX).caption
    assert tiled.replace(", tiled face paint", "") == render_scene(plain, BOX).caption
    text = identity_caption(person)
    assert text.startswith(tiled.split(",")[0] + ", ") and f"{person.eye_color} eyes" in text
    rows = text.split("tiles: ")[1].split(", ")
    assert [color for row in rows for color in row.split()] == list(person.paint_colors)
    assert "tiles" not in identity_caption(plain)
    assert "forehead" in identity_caption(Identity.sample(2, "regions"))


def test_identity_captions_fit_the_text_encoder():
    longest = dataclasses.replace(
        Identity.sample(0, "tiles"), hair_style="bun", hair_color="dark brown", glasses="gold", beard=True,
        eye_color="dark brown", skin=(141, 94, 62), paint_colors=("yellow",) * TILE_GRID**2,
    )
    people = [longest, *(Identity.sample(seed, "tiles") for seed in range(200))]
    tokens = clip_tokenizer()([identity_caption(p) for p in people], truncation=False)["input_ids"]
    assert max(len(ids) for ids in tokens) <= 77 and len(tokens[0]) == max(len(ids) for ids in tokens)


def test_tiled_paint_is_a_cli_choice_exclusive_of_painted_regions(capsys):
    parser = build_parser()
    assert parser.parse_args(["toy-reproduce", "--out", "x", "--face-tiles"]).paint == "tiles"
    assert parser.parse_args(["toy-check", "face-keeping", "--face-paint"]).paint == "regions"
    assert parser.parse_args(["toy-check", "face-keeping"]).paint is None  # the world's, once it runs
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["toy-reproduce", "--out", "x", "--face-paint", "--face-tiles"])
    assert exit_.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_a_tiny_identity_metric_tells_tiled_people_apart():
    torch.manual_seed(0)
    net = train_identity_net(TrainingConfig(identities=30, per_identity=6, epochs=6, batch_size=32, width=8),
                             paint="tiles")
    assert verification_accuracy(net, identities=10, per_identity=4, paint="tiles").test_accuracy > 0.65


def test_pretrained_id_encoder_learns_and_loads_as_the_pipelines_image_encoder(tmp_path):
    config = EncoderPretraining.smoke()
    folder = pretrain_id_encoder(config, tmp_path / "encoder", log=lambda line: None)
    losses = json.loads((folder / RECORD).read_text())["losses"]
    assert len(losses) == config.epochs and losses[-1] < 0.8 * math.log(config.batch_size) < losses[0]
    encoder = CLIPVisionModelWithProjection.from_pretrained(folder).eval()
    references = (reference_rendering(seed, paint="tiles") for seed in (2_000_000, 2_000_001))
    faces = [rendering_conditions(reference).masked_crop for reference in references]
    features = face_features(encoder, faces)
    assert features.shape == (2, 257, 32) and not torch.allclose(features[0], features[1])
