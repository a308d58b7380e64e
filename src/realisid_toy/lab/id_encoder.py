"""The toy ID encoder, pre-trained the way CLIP is: face crops of painted people against captions naming them.

A real ID encoder (IP-Adapter's CLIP ViT-H) comes pre-trained on images and text; a random one holds
little of who a face is. :func:`pretrain_id_encoder` trains a small ``CLIPModel`` with CLIP's
symmetric InfoNCE loss and learned temperature on the crops the pipeline gives the ID encoder
(:func:`encoder_crop`) of identities wearing the world's paint from :data:`PRETRAINING_SEED` on (none of them the metric's
or the evaluation's), each in several scenes, poses and expressions, against their
:func:`~realisid_toy.world.scenes.identity_caption`; it saves the vision half as the
``CLIPVisionModelWithProjection`` folder that :func:`realisid.loading.load_stack` loads as
``image_encoder``, frozen from then on.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from transformers import CLIPConfig, CLIPModel, CLIPVisionModelWithProjection

from realisid.boxes import Box
from realisid.errors import RealisIDError
from realisid.loading import clip_tokenizer
from realisid.models.id_encoder import clip_pixels
from realisid.presets import TINY_TEXT_ENCODER, TINY_VISION

from ..world.identity_net import render_faces
from ..world.render import Rendering
from ..world.scenes import identity_caption
from ..world.traits import Identity, Paint
from .shards import rendering_conditions

PRETRAINING_SEED = 3_000_000
"""Identities of the pre-training: seeds from here on, disjoint from the metric's and the evaluation's."""
CROP_SIZE = 128
"""Side of the face crops, as the toy shards and references give them to the ID encoder."""
RECORD = "pretraining.json"
"""The file in the saved folder that records the config, the loss per epoch and the time taken."""


@dataclass(frozen=True)
class EncoderPretraining:
    """Data, model widths and optimisation of :func:`pretrain_id_encoder` (defaults: the real run)."""

    identities: int = 3000
    renderings: int = 4
    """Scenes (box, pose, expression, background) per identity; each epoch shows one of them."""
    epochs: int = 16
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.1
    vision_width: int = 32
    """Hidden size of the vision tower (:data:`~realisid.presets.TINY_VISION`'s), with a 2x MLP."""
    text_width: int = 32
    """Hidden size of the text tower (:data:`~realisid.presets.TINY_TEXT_ENCODER`'s), with a 2x MLP."""
    jitter: float = 0.05
    soften: float = 0.3
    """Fraction of crops that lose detail, as a small or soft reference face has."""
    seed: int = 0
    paint: Paint = "tiles"
    """What the identities wear on the face, as in the world the encoder serves."""

    @classmethod
    def smoke(cls) -> EncoderPretraining:
        """Seconds on a CPU: checks that the run works, not what it learns."""
        return cls(identities=24, renderings=2, epochs=30, batch_size=12, lr=3e-3)


def encoder_crop(rendering: Rendering, box: Box, size: int) -> Image.Image:
    """The face at ``box`` as the pipeline gives it to the ID encoder: the box's crop, background zeroed."""
    return rendering_conditions(dataclasses.replace(rendering, box=box), size).masked_crop


def clip_model(config: EncoderPretraining) -> CLIPModel:
    """A randomly initialised CLIP whose vision tower takes the pipeline's ID-encoder input unchanged."""
    torch.manual_seed(config.seed)
    widths = {"vision": config.vision_width, "text": config.text_width}
    towers = {
        name: dict(preset, hidden_size=widths[name], intermediate_size=2 * widths[name])
        for name, preset in (("vision", TINY_VISION), ("text", TINY_TEXT_ENCODER))
    }
    text, vision, projection = towers["text"], towers["vision"], TINY_VISION["projection_dim"]
    return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection))


def _faces(config: EncoderPretraining) -> torch.Tensor:
    """Encoder crops ``(identities, renderings, 3, S, S)`` ``uint8``, a hundred identities at a time."""
    seeds = range(PRETRAINING_SEED, PRETRAINING_SEED + config.identities)
    chunks = []
    for start in range(0, len(seeds), 100):
        faces, _ = render_faces(
            seeds[start : start + 100], config.renderings, config.seed * 1000 + start, CROP_SIZE,
            config.jitter, config.soften, paint=config.paint, crop=encoder_crop,
        )
        chunks.append(((faces + 1) * 127.5).round().to(torch.uint8))
    return torch.cat(chunks).unflatten(0, (len(seeds), config.renderings))


def _captions(config: EncoderPretraining) -> dict[str, torch.Tensor]:
    """The identities' captions, tokenized and padded to the longest: ``input_ids`` and ``attention_mask``."""
    seeds = range(PRETRAINING_SEED, PRETRAINING_SEED + config.identities)
    captions = [identity_caption(Identity.sample(seed, config.paint)) for seed in seeds]
    return dict(clip_tokenizer()(captions, padding=True, truncation=True, return_tensors="pt"))


def pretrain_id_encoder(
    config: EncoderPretraining,
    output: str | Path,
    log: Callable[[str], None] = print,
    device: str | torch.device = "cpu",
) -> Path:
    """Pre-trains a toy ID encoder (module docstring) on ``device`` and saves its vision half, with
    :data:`RECORD`, into the folder ``output``; returns it."""
    if config.identities < config.batch_size:
        raise RealisIDError(
            f"pre-training needs a batch of identities ({config.batch_size}) or more; got {config.identities}"
        )
    start = time.perf_counter()
    faces, captions = _faces(config), _captions(config)
    log(f"rendered {faces.shape[0]} x {faces.shape[1]} faces in {time.perf_counter() - start:.0f} s")
    model = clip_model(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    batches = len(faces) // config.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, config.lr, total_steps=max(1, config.epochs * batches), pct_start=0.1
    )
    generator = torch.Generator().manual_seed(config.seed)
    image_size = model.config.vision_config.image_size
    losses = []
    for epoch in range(config.epochs):
        order = torch.randperm(len(faces), generator=generator)
        shown = torch.randint(config.renderings, (len(faces),), generator=generator)
        total = 0.0
        for batch in range(batches):
            index = order[batch * config.batch_size : (batch + 1) * config.batch_size]
            pixels = clip_pixels(faces[index, shown[index]].to(device).float() / 255, image_size)
            loss = model(
                input_ids=captions["input_ids"][index].to(device),
                attention_mask=captions["attention_mask"][index].to(device),
                pixel_values=pixels,
                return_loss=True,
            ).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))  # CLIP's cap on the learned temperature
            total += loss.item()
        losses.append(total / batches)
        log(f"epoch {epoch + 1}/{config.epochs}: loss {losses[-1]:.3f}, "
            f"logit scale {model.logit_scale.exp().item():.1f}, {time.perf_counter() - start:.0f} s")
    return _save_vision(model, config, losses, time.perf_counter() - start, Path(output))


def _save_vision(
    model: CLIPModel, config: EncoderPretraining, losses: list[float], seconds: float, output: Path
) -> Path:
    """The vision tower and projection as a ``CLIPVisionModelWithProjection`` folder, and :data:`RECORD`."""
    vision = CLIPVisionModelWithProjection(model.config.vision_config)
    vision.vision_model.load_state_dict(model.vision_model.state_dict())
    vision.visual_projection.load_state_dict(model.visual_projection.state_dict())
    vision.eval().save_pretrained(output, safe_serialization=True)
    record = {"config": dataclasses.asdict(config), "losses": losses, "seconds": round(seconds, 1)}
    (output / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return output
