"""Does the toy base model keep a face it is given? The img2img check of a base model.

A held-out person is rendered with the face box centred (red sweater, blue wall), encoded by the
base's VAE, noised to img2img strength ``s`` (the schedule's point ``t ≈ 1000·s``) and denoised by
the base model alone, with the scene's prompt; the identity metric compares the result with the
person's reference and with the next person's. Strength 0 is the VAE round trip: the most any
latent of this base can hold. An adapter can only show identity above the no-ID floor on a base
that keeps a face from mid-schedule, so this is how the toy reproduction judges a base model before
training adapters on it (``docs/notes/painted-worlds.md``). :func:`caption_drawing` asks the other half:
does the base, from pure noise, draw the person its caption describes? :func:`adapter_keeping` asks
the same of a trained adapter: does its ID draw the person, against the same adapter without it?
:func:`blending_pairs`: do two people in one picture keep their own faces?
``realisid toy-check face-keeping | caption-drawing | adapter-keeping | blending`` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from realisid.boxes import Box
from realisid.errors import RealisIDError
from realisid.evaluation.identity_backend import IdentityBackend
from realisid.sampling import SamplingOptions

from ..world.render import Rendering, render_scene
from ..world.scenes import Scene, caption
from ..world.traits import NEUTRAL, Identity, Paint
from .check_sampling import CHECK_PROMPT, CHECK_SAMPLING
from .evaluation import REFERENCE_SEED, SIZE, reference_rendering, vae_round_trip
from .verdict import id_conditions, size_label

FIRST_PERSON = REFERENCE_SEED + 20
"""The check's people: held-out identities after the demo's and the evaluation's references."""


@dataclass(frozen=True)
class Kept:
    """Identity similarities of the outputs at one face size and strength."""

    own: float
    """Mean similarity to the person's reference (over outputs with a face found)."""
    own_std: float
    other: float
    """Mean similarity to another held-out person's reference: the scale of "nobody in particular"."""
    margin: float
    """Mean over outputs with a face found of (to the person − to the other): how much more each is its
    person. A diagnostic: the study's :class:`~.verdict.Margin` scores a missed face 0 instead."""
    margin_se: float
    """Standard error of ``margin`` (paired per output, so a picture's quality cancels out)."""
    missed: int
    """Outputs in which the metric found no face."""
    count: int

    @classmethod
    def from_pairs(cls, pairs: list[tuple[float, float] | None]) -> Kept:
        """From each output's (to the person, to the other) similarities, ``None`` where no face was found."""
        found = np.array([p for p in pairs if p is not None], dtype=float).reshape(-1, 2)
        missed = len(pairs) - len(found)
        if not len(found):
            return cls(*(np.nan,) * 5, missed=missed, count=len(pairs))
        own, other = found.T
        margins = own - other
        se = margins.std(ddof=1) / np.sqrt(len(margins)) if len(margins) > 1 else np.nan
        return cls(own.mean(), own.std(), other.mean(), margins.mean(), se, missed, len(pairs))


def centred_box(relative_size: float, size: int = SIZE) -> Box:
    """The check's face box: centred horizontally, near the top (a small face sits lower, as in a
    portrait framed at the chest)."""
    side = size * relative_size
    top = size * 0.3 - side / 2 if relative_size < 0.2 else size / 8
    return Box(size / 2 - side / 2, top, side)


def check_scene(identity: Identity, relative_size: float, image_size: int, seed: int) -> Image.Image:
    """``identity`` at the check's :func:`centred_box` in a red sweater before a blue wall (:data:`CHECK_PROMPT`)."""
    scene = Scene("wall", "blue", "red", "sweater", seed)
    return render_scene(identity, centred_box(relative_size, image_size), scene=scene, size=image_size).image


@torch.no_grad()
def face_keeping(
    base: str | Path,
    metric: IdentityBackend,
    relative_sizes: tuple[float, ...] = (1 / 4, 1 / 7),
    strengths: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7),
    people: int = 8,
    seeds: tuple[int, ...] = (0, 1),
    text_scale: float = CHECK_SAMPLING.text_scale,
    steps: int = CHECK_SAMPLING.num_inference_steps,
    device: str | torch.device = "cpu",
    paint: Paint = "none",
    image_size: int = SIZE,
) -> tuple[dict[tuple[float, float], Kept], list[list[Image.Image]]]:
    """How much of ``people`` held-out faces (wearing ``paint``) the base
    folder ``base`` keeps in scenes ``image_size`` pixels wide, per (relative size, strength), over
    ``seeds``; and a sheet of images (per person at seed ``seeds[0]``: rendering, then one output
    per strength)."""
    from diffusers import StableDiffusionXLImg2ImgPipeline

    if any(not 0 <= s < 1 for s in strengths):
        raise RealisIDError(f"img2img strengths must lie in [0, 1); got {strengths}")
    _check_sizes(relative_sizes)
    if any(0 < s and int(steps * s) < 1 for s in strengths):
        raise RealisIDError(
            f"{steps} steps at strengths {strengths} leave no denoising step for some strength"
        )
    renderings, references = held_out_people(metric, people, paint)
    pipe = _pipeline(StableDiffusionXLImg2ImgPipeline, base, device)
    scores: dict[tuple[float, float], list[tuple[float, float] | None]] = {}
    sheet = []
    for relative_size in relative_sizes:
        for k, reference in enumerate(tqdm(renderings, desc=f"faces at {size_label(relative_size)}")):
            pair = (references[k], references[(k + 1) % people])  # the person, and the next one for scale
            for seed in seeds:
                image = check_scene(reference.identity, relative_size, image_size, seed)
                row = [image]
                for strength in strengths:
                    if strength == 0:
                        output = vae_round_trip(pipe.vae, image)
                    else:
                        generator = torch.Generator().manual_seed(seed)
                        output = pipe(
                            CHECK_PROMPT,
                            image=image,
                            strength=strength,
                            num_inference_steps=steps,
                            guidance_scale=text_scale,
                            generator=generator,
                        ).images[0]
                    row.append(output)
                    scores.setdefault((relative_size, strength), []).append(similarities(metric, output, pair))
                if seed == seeds[0]:
                    sheet.append(row)
    return {key: Kept.from_pairs(pairs) for key, pairs in scores.items()}, sheet


@torch.no_grad()
def caption_drawing(
    base: str | Path,
    metric: IdentityBackend,
    people: int = 8,
    seeds: tuple[int, ...] = (0, 1),
    text_scale: float = CHECK_SAMPLING.text_scale,
    steps: int = CHECK_SAMPLING.num_inference_steps,
    device: str | torch.device = "cpu",
    paint: Paint = "none",
    image_size: int = SIZE,
) -> tuple[dict[str, Kept], list[list[Image.Image]]]:
    """Whether the base folder ``base`` draws, from pure noise, the person its caption describes:
    each held-out person's full caption (hair, glasses, beard, face paint; red sweater, blue wall)
    against the scene caption alone, which is the same for everyone, scored against the person and
    the next one. Returns ``{"full caption": Kept, "scene caption": Kept}`` and a sheet (references,
    then the full and the scene caption's samples at ``seeds[0]``). The full caption's score above
    the scene caption's is what the base's own conditioning can steer in a face; an adapter's ID
    steers the same base."""
    pairs, sheet = caption_drawing_pairs(base, metric, people, seeds, text_scale, steps, device, paint, image_size)
    return {name: Kept.from_pairs(found) for name, found in pairs.items()}, sheet


@torch.no_grad()
def caption_drawing_pairs(
    base: str | Path,
    metric: IdentityBackend,
    people: int = 8,
    seeds: tuple[int, ...] = (0, 1),
    text_scale: float = CHECK_SAMPLING.text_scale,
    steps: int = CHECK_SAMPLING.num_inference_steps,
    device: str | torch.device = "cpu",
    paint: Paint = "none",
    image_size: int = SIZE,
) -> tuple[dict[str, list[tuple[float, float] | None]], list[list[Image.Image]]]:
    """:func:`caption_drawing`'s pictures scored one by one (``None``: no face found) and its sheet."""
    from diffusers import StableDiffusionXLPipeline

    renderings, references = held_out_people(metric, people, paint)
    pipe = _pipeline(StableDiffusionXLPipeline, base, device)
    scene = Scene("wall", "blue", "red", "sweater", 0)
    scores: dict[str, list[tuple[float, float] | None]] = {"full caption": [], "scene caption": []}
    sheet: list[list[Image.Image]] = [[r.image for r in renderings], [], []]
    for k, reference in enumerate(tqdm(renderings, desc="captions")):
        pair = (references[k], references[(k + 1) % people])
        for row, (name, face) in enumerate((("full caption", True), ("scene caption", False)), start=1):
            for seed in seeds:
                image = pipe(
                    caption(reference.identity, NEUTRAL, scene, face=face),
                    height=image_size,
                    width=image_size,
                    num_inference_steps=steps,
                    guidance_scale=text_scale,
                    generator=torch.Generator().manual_seed(seed),
                ).images[0]
                scores[name].append(similarities(metric, image, pair))
                if seed == seeds[0]:
                    sheet[row].append(image)
    return scores, sheet


def adapter_keeping(
    base: str | Path,
    adapter: str | Path,
    metric: IdentityBackend,
    relative_sizes: tuple[float, ...] = (1 / 2, 1 / 4, 1 / 7),
    people: int = 8,
    seeds: tuple[int, ...] = (0, 1),
    sampling: SamplingOptions = CHECK_SAMPLING,
    device: str | torch.device = "cpu",
    paint: Paint = "none",
    image_size: int = SIZE,
) -> tuple[dict[tuple[float, str], Kept], list[list[Image.Image]]]:
    """How much of each held-out person the adapter folder ``adapter`` on ``base`` draws at the
    check's centred box in pictures ``image_size`` pixels wide, per relative size, with the person's
    ID (``sampling``, key ``"ID"``) and without it (``id_scale`` 0, key ``"no ID"``: the same
    landmarks and box, nobody in particular).
    ``sampling``'s ``local_scale`` / ``global_scale`` 0 switch a branch off: which branch carries the
    ID at each size. Returns the scores and a sheet (per person at ``seeds[0]``: reference, then
    with and without the ID at each size)."""
    pairs, sheet = adapter_pairs(
        base, adapter, metric, relative_sizes, people, seeds, sampling, device, paint, image_size
    )
    return {key: Kept.from_pairs(found) for key, found in pairs.items()}, sheet


@torch.no_grad()
def adapter_pairs(
    base: str | Path,
    adapter: str | Path,
    metric: IdentityBackend,
    relative_sizes: tuple[float, ...],
    people: int,
    seeds: tuple[int, ...],
    sampling: SamplingOptions,
    device: str | torch.device,
    paint: Paint,
    image_size: int,
) -> tuple[dict[tuple[float, str], list[tuple[float, float] | None]], list[list[Image.Image]]]:
    """:func:`adapter_keeping`'s pictures scored one by one: per (size, ``"ID"`` / ``"no ID"``), each
    picture's (to the person, to the next person) similarities, ``None`` where no face was found, in
    the same order for every adapter (size, person, seed), so two adapters' pictures pair up."""
    from realisid.persons import Person

    from .evaluation import load_toy_pipeline
    from .shards import rendering_conditions

    _check_sizes(relative_sizes)
    renderings, references = held_out_people(metric, people, paint)
    pipe = load_toy_pipeline(base, adapter).to(device)
    conditions = [rendering_conditions(r) for r in renderings]
    scores: dict[tuple[float, str], list[tuple[float, float] | None]] = {}
    sheet = [[r.image] for r in renderings]
    for relative_size in relative_sizes:
        for k in tqdm(range(people), desc=f"adapter at {size_label(relative_size)}"):
            pair = (references[k], references[(k + 1) % people])
            person = Person(conditions[k], box=centred_box(relative_size, image_size))
            for seed in seeds:
                for name, options in id_conditions(sampling).items():
                    image = draw_person(pipe, person, image_size, options, seed)
                    scores.setdefault((relative_size, name), []).append(similarities(metric, image, pair))
                    if seed == seeds[0]:
                        sheet[k].append(image)
    return scores, sheet


TWO_PERSON_BOXES = ((0.28, 0.3), (0.72, 0.3))
"""Centres (over the image side) of the two faces of :func:`blending_pairs`, a box apart at 1/4."""


@torch.no_grad()
def blending_pairs(
    base: str | Path,
    adapter: str | Path,
    metric: IdentityBackend,
    people: int,
    seeds: tuple[int, ...],
    sampling: SamplingOptions,
    device: str | torch.device,
    paint: Paint,
    image_size: int,
    relative_size: float = 1 / 4,
) -> tuple[list[tuple[float, float] | None], list[list[Image.Image]]]:
    """Two people in one picture: person ``k`` left and ``k + 1`` right; for each face, its
    similarity to its own person and to the other person of the picture (``None``: no face found in
    a window twice the box around it), the left face then the right one of each picture. Identity
    blending shows as the second approaching the first. Also a sheet (per pair at ``seeds[0]``: both
    references, then the picture)."""
    from realisid.persons import Person

    from .evaluation import load_toy_pipeline
    from .shards import rendering_conditions

    _check_sizes((relative_size,))
    renderings, references = held_out_people(metric, people, paint)
    pipe = load_toy_pipeline(base, adapter).to(device)
    conditions = [rendering_conditions(r) for r in renderings]
    boxes = [Box.from_relative(cx, cy, relative_size, image_size, image_size) for cx, cy in TWO_PERSON_BOXES]
    scores: list[tuple[float, float] | None] = []
    sheet = []
    for k in tqdm(range(people), desc="two people"):
        pair = (k, (k + 1) % people)
        persons = [Person(conditions[i], box=box) for i, box in zip(pair, boxes)]
        for seed in seeds:
            image = pipe(
                CHECK_PROMPT, persons=persons, height=image_size, width=image_size, sampling=sampling,
                generator=torch.Generator().manual_seed(seed),
            ).images[0]
            for own, other, box in ((*pair, boxes[0]), (*pair[::-1], boxes[1])):
                window = box.expanded(2.0)
                crop = image.crop((round(window.x0), round(window.y0), round(window.x0 + window.size),
                                   round(window.y0 + window.size)))
                scores.append(similarities(metric, crop, (references[own], references[other])))
            if seed == seeds[0]:
                sheet.append([renderings[pair[0]].image, renderings[pair[1]].image, image])
    return scores, sheet


def blending_table(found: dict[str, list[tuple[float, float] | None]]) -> str:
    """One row per condition of :func:`blending_pairs`' faces: similarity to the own person, to the other
    person of the picture, own − other (a missed face scores 0) with its 95 % interval, and the faces
    missed, also at each box (a model that draws one person of two misses every face at the other box)."""
    from .verdict import blending_estimate

    lines = ["| two people | to the own person | to the other person | own − other | faces missed (left · right) |",
             "|---|---|---|---|---|"]
    for name, pairs in found.items():
        kept = Kept.from_pairs(pairs)
        left, right = (sum(face is None for face in pairs[box::2]) for box in (0, 1))
        lines.append(f"| {name} | {kept.own:.3f} | {kept.other:.3f} | {blending_estimate([pairs])} | "
                     f"{kept.missed}/{kept.count} ({left} · {right}) |")
    return "\n".join(lines)


def draw_person(pipe, person, size: int, sampling: SamplingOptions, seed: int) -> Image.Image:
    """The check's scene (:data:`CHECK_PROMPT`) with ``person``, ``size`` pixels square, seeded on the CPU."""
    return pipe(
        CHECK_PROMPT, persons=[person], height=size, width=size, sampling=sampling,
        generator=torch.Generator().manual_seed(seed),
    ).images[0]


def _check_sizes(relative_sizes: tuple[float, ...]) -> None:
    if any(not 0 < r <= 1 for r in relative_sizes):
        raise RealisIDError(f"relative face sizes must lie in (0, 1]; got {relative_sizes}")


def _pipeline(pipeline_class, base: str | Path, device: str | torch.device):
    """A diffusers pipeline of ``base`` in fp32 (the shipped weights are fp16 on disk), quiet."""
    from realisid.loading import load_pretrained

    pipe = load_pretrained(pipeline_class, base, "the toy SDXL", dtype=torch.float32).to(device)
    pipe.vae.register_to_config(force_upcast=False)  # already fp32; diffusers' img2img would re-cast, warning each call
    pipe.set_progress_bar_config(disable=True)
    return pipe


def held_out_people(
    metric: IdentityBackend, people: int, paint: Paint
) -> tuple[list[Rendering], list[np.ndarray]]:
    """The check's held-out people as reference renderings, and the metric's embeddings of them."""
    if people < 2:
        raise RealisIDError(
            f"the check needs at least 2 people (each is compared with the next); got {people}"
        )
    seeds = range(FIRST_PERSON, FIRST_PERSON + people)
    renderings = [reference_rendering(seed, paint=paint) for seed in seeds]
    return renderings, [reference_embedding(metric, r.image) for r in renderings]


def similarities(
    metric: IdentityBackend, image: Image.Image, references: tuple[np.ndarray, ...]
) -> tuple[float, ...] | None:
    """The metric's similarity of the face in ``image`` to each reference, or ``None`` without a face."""
    face = metric.find_face(image)
    return None if face is None else tuple(metric.similarity(r, face.embedding) for r in references)


def reference_embedding(metric: IdentityBackend, image: Image.Image) -> np.ndarray:
    """The metric's embedding of the face in a reference rendering (an error if it finds none)."""
    face = metric.find_face(image)
    if face is None:
        raise RealisIDError(
            "the identity metric finds no face in a reference rendering: wrong metric weights?"
        )
    return face.embedding


def markdown_table(kept: dict[tuple[float, float | str], Kept]) -> str:
    """One row per face size, one column per strength (or per ``"ID"`` / ``"no ID"`` of
    :func:`adapter_keeping`): mean ± std to the person (to another; the paired margin ± its
    standard error)."""
    columns = list(dict.fromkeys(column for _, column in kept))
    if all(isinstance(c, float) for c in columns):
        columns.sort()
    titles = {0.0: "VAE round trip", "ID": "with the ID", "no ID": "no ID (id_scale 0)"}
    lines = [
        "| face size | "
        + " | ".join(titles.get(c) or f"from t ≈ {1000 * c:.0f}" for c in columns)
        + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for size in sorted({r for r, _ in kept}, reverse=True):
        cells = []
        for column in columns:
            k = kept[size, column]
            missed = f", {k.missed}/{k.count} missed" if k.missed else ""
            cells.append(f"{k.own:.3f} ± {k.own_std:.3f} ({k.other:.3f}; margin {_margin(k)}{missed})")
        lines.append(f"| {size_label(size)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def caption_table(drawn: dict[str, Kept]) -> str:
    """One row per caption kind: similarity to the person (mean ± std), to the next person, the
    paired margin, faces missed."""
    lines = [
        "| caption | to the person | to the next person | margin ± s.e. | faces missed |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {k.own:.3f} ± {k.own_std:.3f} | {k.other:.3f} | {_margin(k)} | {k.missed}/{k.count} |"
        for name, k in drawn.items()
    ]
    return "\n".join(lines)


def _margin(kept: Kept) -> str:
    return f"{kept.margin:+.3f} ± {kept.margin_se:.3f}"


def save_sheet(sheet: list[list[Image.Image]], path: str | Path) -> None:
    """The sheet's rows one under another, every picture at the largest one's size (the 128-px
    references beside larger outputs)."""
    from diffusers.utils import make_image_grid

    images = [image for row in sheet for image in row]
    side = max(max(image.size) for image in images)
    make_image_grid(images, len(sheet), len(sheet[0]), resize=side).save(path)
