"""The study's gates: does a stage's model carry a small face's identity far enough for the next stage?

Each gate returns a small dataclass of its numbers and ``passed`` against a threshold the caller gives:

- :func:`rescale_gate`: PSNR of the VAE's decode of rescaled latents against the rescaled image;
- :func:`vae_gate`: identity margin of the VAE round trip of a face at one size;
- :func:`upsample_gate`: identity margin of what the local branch sees of a small face (its box
  cropped from the latent and up-sampled to ``L×L``), decoded, against the round trip's;
- :func:`probe_gate`: how much Eq. 7's face term grows when the adapter is given another's ID.

A margin is paired per face (similarity to the person's reference minus to the next person's), and a
face the metric does not find scores 0: a decode that loses the face is no better than anyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import AutoencoderKL
from diffusers.image_processor import VaeImageProcessor
from PIL import Image
from torch import Tensor

from realisid.evaluation.identity_backend import IdentityBackend
from realisid.models.config import VAE_SCALE
from realisid.models.geometry import crop
from realisid.training.probe import Errors

from ..world.traits import Paint
from .base_model import encode_images, images_tensor, resize_images, resize_latents
from .face_keeping import caption_drawing_pairs, centred_box, check_scene, held_out_people, similarities
from .verdict import Margin


@dataclass(frozen=True)
class RescaleGate:
    """Mean PSNR (dB) of decodes against their targets; passed if the up-sampled one is within the
    allowed drop of the round trip's (the local branch up-samples; ½ is reported beside it)."""

    round_trip: float
    """Decoded latents against the image."""
    halved: float
    """Latents resized to ½ (bilinear, as the local branch resamples), decoded, against the image at ½."""
    doubled: float
    """Latents up-sampled 2× the same way, decoded, against the image up-sampled 2×."""
    passed: bool


@dataclass(frozen=True)
class VaeGate:
    round_trip: Margin
    passed: bool


@dataclass(frozen=True)
class UpsampleGate:
    upsampled: Margin
    """Of the up-sampled face crops, decoded."""
    round_trip: Margin
    """Of the round trips of the same scenes."""
    pixels_upsampled: Margin
    """Of the same windows of the scenes up-sampled in pixels (bicubic): what a perfect VAE would give."""
    ratio: float
    """``upsampled.mean / round_trip.mean`` (NaN unless the round trip's margin is positive)."""
    passed: bool


@dataclass(frozen=True)
class ProbeGate:
    """Eq. 7's face term with each sample's own ID and with another sample's (the probe's rows)."""

    own: float
    another_id: float
    increase: float
    """``(another_id − own) / own``: how much worse another's ID makes the face, relative."""
    passed: bool


@torch.no_grad()
def rescale_gate(vae: AutoencoderKL, images: np.ndarray, max_drop_db: float, batch: int = 8) -> RescaleGate:
    """PSNRs of ``vae`` on ``images (N, H, H, 3)`` uint8 (``H`` a multiple of 8): the round trip, and
    posterior means resized ½ and 2× then decoded, against the images resized so (:func:`resize_images`)."""
    scores: dict[str, list[float]] = {"round_trip": [], "halved": [], "doubled": []}
    for start in range(0, len(images), batch):
        pixels = images_tensor(images[start : start + batch]).to(vae.device, vae.dtype)
        means, _ = encode_images(vae, images[start : start + batch])
        cells = means.shape[-1]
        for name, rescaled in (("round_trip", cells), ("halved", cells // 2), ("doubled", 2 * cells)):
            decoded = vae.decode(resize_latents(means, rescaled)).sample.clamp(-1, 1)
            scores[name] += _psnr(decoded, resize_images(pixels, rescaled * VAE_SCALE)).tolist()
    mean = {name: float(np.mean(values)) for name, values in scores.items()}
    passed = mean["doubled"] >= mean["round_trip"] - max_drop_db
    return RescaleGate(**mean, passed=passed)


def _psnr(decoded: Tensor, target: Tensor) -> Tensor:
    """``(N,)`` PSNR in dB of images ``(N, 3, H, W)`` in ``[-1, 1]`` (peak-to-peak 2)."""
    mse = (decoded.float() - target.float()).square().flatten(1).mean(1)
    return 10 * torch.log10(4 / mse)


@torch.no_grad()
def vae_gate(
    vae: AutoencoderKL,
    metric: IdentityBackend,
    min_margin: float,
    relative_size: float = 1 / 7,
    image_size: int = 256,
    people: int = 8,
    paint: Paint = "tiles",
) -> VaeGate:
    """The identity margin of ``vae``'s round trip (posterior mean) of ``people`` held-out faces at
    ``relative_size`` of ``image_size``-px scenes (``face_keeping``'s scenes, at strength 0)."""
    round_trip = Margin.from_pairs(_face_pairs(vae, metric, relative_size, image_size, people, paint)[0])
    return VaeGate(round_trip, passed=round_trip.mean >= min_margin)


@torch.no_grad()
def upsample_gate(
    vae: AutoencoderKL,
    metric: IdentityBackend,
    min_ratio: float,
    relative_size: float = 1 / 7,
    image_size: int = 256,
    local_size: int = 32,
    people: int = 8,
    paint: Paint = "tiles",
) -> UpsampleGate:
    """Whether what the local branch sees of a face still holds its identity: the face box of each scene
    of :func:`vae_gate`, cropped from the latent and resampled so the box spans ``local_size`` cells
    (:func:`realisid.models.geometry.crop`, Eq. 5), decoded and scored against the round trip's margin.

    The crop is taken twice the box's side around it, at twice ``local_size``: its middle half is the
    local branch's ``L×L`` crop sample for sample, framed by context as the metric's references are
    (a face filling the whole image is no face to its detector).
    """
    pairs = _face_pairs(vae, metric, relative_size, image_size, people, paint, local_size)
    round_trip, upsampled, pixels = map(Margin.from_pairs, pairs)
    positive = round_trip.mean > 0
    ratio = upsampled.mean / round_trip.mean if positive else float("nan")
    return UpsampleGate(upsampled, round_trip, pixels, ratio, passed=bool(positive and ratio >= min_ratio))


def _face_pairs(
    vae: AutoencoderKL,
    metric: IdentityBackend,
    relative_size: float,
    image_size: int,
    people: int,
    paint: Paint,
    local_size: int | None = None,
) -> list[list[tuple[float, float] | None]]:
    """Each face's similarities to its person and the next (:func:`similarities`) after the round trip
    of the check's scene, and with ``local_size`` after :func:`upsample_gate`'s crop and for the same
    window up-sampled in pixels."""
    renderings, references = held_out_people(metric, people, paint)
    window = centred_box(relative_size, image_size).expanded(2)
    boxes = torch.tensor([window])
    pairs: list[list[tuple[float, float] | None]] = [[], [], []] if local_size else [[]]
    for k, rendering in enumerate(renderings):
        image = check_scene(rendering.identity, relative_size, image_size, seed=0)
        means, _ = encode_images(vae, np.asarray(image)[None])
        latents = [means]
        if local_size:
            latents.append(crop(means, boxes.to(means.device), (image_size, image_size), 2 * local_size))
        decoded = [VaeImageProcessor().postprocess(vae.decode(z).sample.float().cpu())[0] for z in latents]
        if local_size:
            corners = (window.x0, window.y0, window.x0 + window.size, window.y0 + window.size)
            side = 2 * local_size * VAE_SCALE
            decoded.append(image.resize((side, side), Image.BICUBIC, box=corners))
        for scores, picture in zip(pairs, decoded):
            scores.append(similarities(metric, picture, (references[k], references[(k + 1) % people])))
    return pairs


def probe_gate(errors: Mapping[str, Errors], min_increase: float) -> ProbeGate:
    """Whether a trained adapter reads its ID: the face term of :func:`realisid.training.probe.probe`'s
    rows ``"own conditions"`` and ``"another's ID"`` must grow by ``min_increase`` (relative) or more."""
    own, another = errors["own conditions"].face, errors["another's ID"].face
    increase = (another - own) / own
    return ProbeGate(own, another, increase, passed=increase >= min_increase)


@dataclass(frozen=True)
class CaptionGate:
    """The base's samples for each held-out person's full caption and for the scene caption alone."""

    full_caption: Margin
    scene_caption: Margin
    passed: bool


@torch.no_grad()
def caption_gate(
    base, metric: IdentityBackend, min_gain: float, people: int = 16, image_size: int = 256, paint: Paint = "tiles",
    device: str | torch.device = "cpu",
) -> CaptionGate:
    """Whether the base draws the person its caption names: the full caption's margin must exceed the
    scene caption's (the same for everyone: the floor) by ``min_gain`` (``face_keeping.caption_drawing``)."""
    pairs, _ = caption_drawing_pairs(base, metric, people, (0, 1), device=device, paint=paint, image_size=image_size)
    full, scene = Margin.from_pairs(pairs["full caption"]), Margin.from_pairs(pairs["scene caption"])
    return CaptionGate(full, scene, passed=full.mean - scene.mean >= min_gain)
