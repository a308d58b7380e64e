"""The study's gates on the shipped toy VAE and identity metric (a handful of painted faces)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL

from realisid.models.geometry import crop
from realisid.training.probe import Errors
from realisid_toy.lab.face_keeping import centred_box, face_keeping
from realisid_toy.lab.gates import Margin, probe_gate, rescale_gate, upsample_gate, vae_gate
from realisid_toy.shipped import WEIGHTS, toy_metric
from realisid_toy.world import sample_rendering

PEOPLE = 3


@pytest.fixture(scope="module")
def vae():
    return AutoencoderKL.from_pretrained(WEIGHTS / "base" / "vae", torch_dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def metric():
    return toy_metric()


def test_the_rescale_gate_scores_the_round_trip_above_the_rescaled_decodes(vae):
    images = np.stack([np.asarray(sample_rendering(2_000_000 + i, size=128, paint="regions").image) for i in range(2)])
    gate = rescale_gate(vae, images, max_drop_db=0.0)
    assert gate.round_trip > 25 and 15 < min(gate.halved, gate.doubled) < gate.round_trip
    drop = gate.round_trip - gate.doubled  # the gate holds the up-sampled decodes only to its limit
    assert not rescale_gate(vae, images, max_drop_db=drop - 0.01).passed
    assert rescale_gate(vae, images, max_drop_db=drop + 0.01).passed


def test_the_vae_gate_is_face_keepings_round_trip_and_keeps_each_painted_person_at_a_seventh(vae, metric):
    gate = vae_gate(vae, metric, min_margin=0.05, people=PEOPLE, paint="regions")
    kept, _ = face_keeping(WEIGHTS / "base", metric, (1 / 7,), (0.0,), PEOPLE, (0,), paint="regions", image_size=256)
    round_trip = kept[1 / 7, 0.0]
    assert gate.round_trip.missed == round_trip.missed == 0 and gate.round_trip.count == PEOPLE
    assert gate.round_trip.mean == pytest.approx(round_trip.margin, abs=1e-5)
    assert gate.round_trip.mean > 0.05 and gate.passed
    assert not vae_gate(vae, metric, min_margin=gate.round_trip.mean + 0.01, people=PEOPLE, paint="regions").passed


def test_the_upsample_gate_finds_and_recognises_the_up_sampled_faces(vae, metric):
    gate = upsample_gate(vae, metric, min_ratio=0.5, people=PEOPLE, paint="regions")
    assert gate.upsampled.missed == 0 and gate.upsampled.count == PEOPLE and gate.upsampled.mean > 0
    assert gate.pixels_upsampled.missed == 0 and gate.pixels_upsampled.mean > 0.1  # the ceiling: no VAE
    assert gate.round_trip == vae_gate(vae, metric, min_margin=0.0, people=PEOPLE, paint="regions").round_trip
    assert gate.ratio == pytest.approx(gate.upsampled.mean / gate.round_trip.mean) and gate.passed == (gate.ratio >= 0.5)


def test_the_upsample_gates_framed_crop_holds_the_local_branchs_crop_in_its_middle():
    latents = torch.randn(1, 16, 32, 32, generator=torch.Generator().manual_seed(0))
    box = centred_box(1 / 7, 256)
    local = crop(latents, torch.tensor([box]), (256, 256), 32)
    framed = crop(latents, torch.tensor([box.expanded(2)]), (256, 256), 64)
    torch.testing.assert_close(framed[..., 16:48, 16:48], local)


def test_a_face_the_metric_misses_scores_a_zero_margin():
    margin = Margin.from_pairs([(0.6, 0.2), None, (0.5, 0.3)])
    assert margin.mean == pytest.approx(0.2) and (margin.missed, margin.count) == (1, 3)
    assert margin.se == pytest.approx(np.std([0.4, 0.0, 0.2], ddof=1) / math.sqrt(3))


def test_the_probe_gate_asks_another_ids_face_term_to_grow_by_the_margin():
    errors = {"own conditions": Errors(0.5, 0.20), "another's ID": Errors(0.5, 0.25), "base alone": Errors(0.6, 0.3)}
    gate = probe_gate(errors, min_increase=0.2)
    assert (gate.own, gate.another_id) == (0.20, 0.25) and gate.increase == pytest.approx(0.25) and gate.passed
    assert not probe_gate(errors, min_increase=0.3).passed
    assert not probe_gate({**errors, "another's ID": Errors(0.5, 0.19)}, min_increase=0.0).passed
