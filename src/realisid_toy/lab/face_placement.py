"""Does a trained adapter put the face where its box asks? The placement check of the toy reproduction.

Each held-out person is asked for at the check's face box (:func:`~.face_keeping.centred_box`)
moved left or right of the centre (person ``k``: left for even ``k``), and drawn by the adapter on
its base; the identity metric's face finder locates the face drawn. Its IoU with the asked box,
against its IoU with the *mirrored* box (the asked one reflected through the vertical midline:
"the wrong side"), says whether the branches steer the face's place and size: an adapter that
ignores its boxes scores the same for both. The same person rendered at the asked box gives the
ceiling (how well the finder's box matches the renderer's). ``realisid toy-check face-placement``
runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from tqdm.auto import tqdm

from realisid.boxes import Box
from realisid.errors import RealisIDError
from realisid.evaluation.identity_backend import IdentityBackend
from realisid.sampling import SamplingOptions

from ..world.render import render_scene
from ..world.scenes import Scene
from ..world.traits import Paint
from .check_sampling import CHECK_SAMPLING
from .evaluation import SIZE, reference_rendering
from .face_keeping import FIRST_PERSON, centred_box, draw_person


@dataclass(frozen=True)
class Placed:
    """Where the found faces are, against the asked and the mirrored boxes."""

    asked: float
    """Mean IoU of the found face's box with the asked box (over outputs with a face found)."""
    mirrored: float
    """The same with the mirrored box: the scale of "not where asked"."""
    missed: int
    """Outputs in which the metric found no face."""
    count: int


def placement_boxes(relative_size: float, offset: float, left: bool, size: int = SIZE) -> tuple[Box, Box]:
    """The asked box (:func:`centred_box` moved by ``offset`` of the width, to the left or right)
    and its mirror through the vertical midline."""
    centred = centred_box(relative_size, size)
    shift = offset * size * (-1 if left else 1)
    asked = Box(centred.x0 + shift, centred.y0, centred.size)
    mirrored = Box(size - asked.x0 - asked.size, asked.y0, asked.size)
    for box in (asked, mirrored):
        if box.x0 < 0 or box.x0 + box.size > size:
            raise RealisIDError(
                f"a face of {relative_size:.3g} moved by {offset:.3g} of the width leaves the {size}-px image"
            )
    return asked, mirrored


@torch.no_grad()
def face_placement(
    base: str | Path,
    adapter: str | Path,
    metric: IdentityBackend,
    relative_size: float = 1 / 2,
    offset: float = 0.2,
    people: int = 8,
    seeds: tuple[int, ...] = (0, 1),
    sampling: SamplingOptions = CHECK_SAMPLING,
    device: str | torch.device = "cpu",
    paint: Paint = "none",
    image_size: int = SIZE,
) -> tuple[dict[str, Placed], list[list[Image.Image]]]:
    """Placement of ``people`` held-out faces (wearing ``paint``) by the adapter folder ``adapter`` on
    ``base``, in pictures ``image_size`` pixels wide: ``{"renderer": Placed, "adapter": Placed}`` (the
    renderer's own images at the asked box are the ceiling), and a sheet (per person: rendering, then
    one output per seed, the asked box drawn in red and the found face's in green)."""
    from realisid.persons import Person

    from .evaluation import load_toy_pipeline
    from .shards import rendering_conditions

    if people < 1:
        raise RealisIDError(f"the check needs at least 1 person; got {people}")
    if not 0 < relative_size <= 1:
        raise RealisIDError(f"the relative face size must lie in (0, 1]; got {relative_size}")
    placement_boxes(relative_size, offset, left=True, size=image_size)  # refuses a box out of the image first
    pipe = load_toy_pipeline(base, adapter).to(device)
    scene = Scene("wall", "blue", "red", "sweater", 0)
    ious: dict[str, list[tuple[float, float] | None]] = {"renderer": [], "adapter": []}
    sheet = []
    for k in tqdm(range(people), desc="placement"):
        boxes = placement_boxes(relative_size, offset, left=k % 2 == 0, size=image_size)
        reference = reference_rendering(FIRST_PERSON + k, paint=paint)
        rendered = render_scene(reference.identity, boxes[0], scene=scene, size=image_size).image
        row = [_locate(metric, rendered, boxes, ious["renderer"])]
        person = Person(rendering_conditions(reference), box=boxes[0])
        for seed in seeds:
            image = draw_person(pipe, person, image_size, sampling, seed)
            row.append(_locate(metric, image, boxes, ious["adapter"]))
        sheet.append(row)
    return {name: _placed(pairs) for name, pairs in ious.items()}, sheet


def _placed(pairs: list[tuple[float, float] | None]) -> Placed:
    found = np.array([p for p in pairs if p is not None]).reshape(-1, 2)
    asked, mirrored = found.mean(0) if len(found) else (np.nan, np.nan)
    return Placed(float(asked), float(mirrored), len(pairs) - len(found), len(pairs))


def _locate(
    metric: IdentityBackend, image: Image.Image, boxes: tuple[Box, Box], ious: list[tuple[float, float] | None]
) -> Image.Image:
    """Appends the found face's IoU with the asked and the mirrored box (``None``: no face) to
    ``ious``; returns ``image`` with the asked box in red and the found one in green."""
    face = metric.find_face(image)
    ious.append(None if face is None else (face.box.iou(boxes[0]), face.box.iou(boxes[1])))
    image = image.copy()
    draw = ImageDraw.Draw(image)
    for box, colour in ((boxes[0], (255, 0, 0)), (face.box if face else None, (0, 255, 0))):
        if box is not None:
            draw.rectangle([box.x0, box.y0, box.x0 + box.size - 1, box.y0 + box.size - 1], outline=colour)
    return image


def markdown_table(placed: dict[str, Placed]) -> str:
    """One row per source: IoU of the found face with the asked and with the mirrored box."""
    lines = ["| drawn by | IoU with the asked box | with the mirrored box | faces missed |", "|---|---|---|---|"]
    lines += [
        f"| {name} | {p.asked:.3f} | {p.mirrored:.3f} | {p.missed}/{p.count} |" for name, p in placed.items()
    ]
    return "\n".join(lines)
