"""The toy world in the evaluation harness: reference people, prompts and a ``kind: python`` generator.

A reference is a rendering of a held-out identity, saved as ``<name>.png`` with ``<name>.json``
holding its identity seed (and the face paint of its world); the generator re-renders it to get the
exact box, landmarks and mask (MediaPipe is not used on drawings). Method options: ``base`` (toy
SDXL folder), ``adapter`` (RealisID folder), ``device`` (default ``cpu``) and the fields of
:class:`realisid.SamplingOptions`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from realisid.boxes import Box
from realisid.evaluation.protocol import SUBJECT, GenerationRequest, Generator
from realisid.faces import FaceConditions
from realisid.sampling import SamplingOptions

from ..world.render import Rendering, render_scene
from ..world.scenes import CLOTHING_COLORS, WALL_COLORS, Scene
from ..world.traits import FRONTAL, NEUTRAL, Expression, Identity, Paint, Pose
from .shards import rendering_conditions

REFERENCE_SEED = 2_000_000
"""Identities of the evaluation: seeds from here on, unseen by the base model, RealisID and the metric."""
SIZE = 128


def reference_rendering(
    identity_seed: int,
    size: int = SIZE,
    pose: Pose = FRONTAL,
    expression: Expression = NEUTRAL,
    paint: Paint = "none",
) -> Rendering:
    """A held-out identity wearing ``paint`` (frontal and neutral unless asked), face at half the image
    side, on a plain wall."""
    scene = Scene("wall", "white", "grey", "sweater", identity_seed)
    box = Box(size * 0.25, size * 0.15, size * 0.5)
    identity = Identity.sample(identity_seed, paint)
    return render_scene(identity, box, pose, expression, scene=scene, size=size)


def write_references(
    folder: str | Path, count: int, first: int = REFERENCE_SEED, size: int = SIZE, paint: Paint = "none"
) -> list[Path]:
    """``count`` reference people from identity ``first`` on, as ``id-<seed>.png`` + ``.json`` in
    ``folder`` (the JSON holds seed, size and paint, for :func:`reference_conditions`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(first, first + count):
        path = folder / f"id-{seed}.png"
        reference_rendering(seed, size, paint=paint).image.save(path)
        record = {"identity_seed": seed, "size": size, "paint": paint}
        path.with_suffix(".json").write_text(json.dumps(record) + "\n")
        paths.append(path)
    return paths


def _reference_record(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).with_suffix(".json").read_text())


def reference_conditions(path: str | Path) -> FaceConditions:
    """The exact conditions of a reference written by :func:`write_references`."""
    record = _reference_record(path)
    rendering = reference_rendering(record["identity_seed"], record["size"], paint=record["paint"])
    return rendering_conditions(rendering)


def toy_prompts(count: int) -> list[str]:
    """``count`` prompts naming a clothing colour and a wall colour (checked by the attribute proxy)."""
    clothes, walls = list(CLOTHING_COLORS), list(WALL_COLORS)
    return [
        f"{SUBJECT}, wearing {_article(clothes[(3 * i) % len(clothes)])} {clothes[(3 * i) % len(clothes)]} "
        f"sweater, in front of {_article(walls[(5 * i + 1) % len(walls)])} {walls[(5 * i + 1) % len(walls)]} wall"
        for i in range(count)
    ]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def load_toy_pipeline(base: str | Path, adapter: str | Path, dtype: torch.dtype = torch.float32):
    """RealisID (or the InstantID-style baseline) on the toy base model, with the base folder's
    frozen ID image encoder; no progress bars."""
    from realisid.pipeline import RealisIDPipeline

    pipe = RealisIDPipeline.from_pretrained(base, adapter=adapter, torch_dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def toy_generator(options: Mapping[str, Any]) -> Generator:
    """``kind: python, target: realisid_toy.lab.evaluation:toy_generator`` (see the module docstring)."""
    from realisid.persons import Person

    pipe = load_toy_pipeline(options["base"], options["adapter"]).to(options.get("device", "cpu"))
    sampling = SamplingOptions.from_mapping(options)

    def generate(request: GenerationRequest) -> Image.Image:
        person = Person(reference_conditions(request.reference), box=request.box)
        generator = torch.Generator().manual_seed(request.seed)
        return pipe(
            request.prompt, persons=[person], height=request.height, width=request.width, sampling=sampling,
            generator=generator,
        ).images[0]

    return generate


def renderer_generator(options: Mapping[str, Any]) -> Generator:
    """The oracle: the renderer draws the reference identity itself at the box, in the colours the
    prompt names (``target: realisid_toy.lab.evaluation:renderer_generator``). Its identity score at
    each size is the ceiling the metric allows there. With ``vae: FOLDER`` the drawing goes through
    that VAE (encode, decode): the ceiling of any image the base model's latents can hold."""
    from diffusers import AutoencoderKL

    from .proxies import prompt_colors

    vae = AutoencoderKL.from_pretrained(options["vae"]).eval() if options.get("vae") else None

    def generate(request: GenerationRequest) -> Image.Image:
        record = _reference_record(request.reference)
        identity = Identity.sample(record["identity_seed"], record["paint"])
        clothing, wall = prompt_colors(request.prompt)
        scene = Scene("wall", wall or "white", clothing or "grey", "sweater", request.seed)
        box = Box.from_relative(*request.box, request.width, request.height)
        image = render_scene(identity, box, scene=scene, size=request.width).image
        return image if vae is None else vae_round_trip(vae, image)

    return generate


@torch.no_grad()
def vae_round_trip(vae, image: Image.Image) -> Image.Image:
    """``image`` encoded by ``vae`` (posterior mean) and decoded again."""
    from diffusers.image_processor import VaeImageProcessor

    from .base_model import images_tensor

    latents = vae.encode(images_tensor(np.array(image)[None]).to(vae.device, vae.dtype)).latent_dist.mean
    return VaeImageProcessor().postprocess(vae.decode(latents).sample.float().cpu())[0]
