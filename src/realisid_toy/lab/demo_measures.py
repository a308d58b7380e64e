"""What ``realisid demo`` measures in its toy pictures, beyond one seed's identity similarity.

* :func:`people_margins`: the paired identity margin of held-out people, one per sampling seed, with
  the ID and without it (``id_scale`` 0), scored as the toy lab scores its checks.
* :func:`face_side`: the side of the face the metric's face finder sees, against the box asked for.
* :func:`head_pose`: head turn (yaw) and mouth opening from MediaPipe's face mesh on the found face's
  crop up-sampled to 256 px (:func:`head_pose_at`: on a given box); a face the mesh does not recognise (a toy model's featureless head, a face
  under paint tiles) gives no reading, not a guess.
* :func:`pose_likeness`: which of two poses a drawn face is closer to, by its correlation with the
  person rendered in each: a reading that needs no face mesh, for faces the mesh cannot read.

:func:`reading_errors` measures :func:`face_side` and :func:`head_pose` on renderings of known box and pose.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from realisid.boxes import Box
from realisid.errors import RealisIDError
from realisid.evaluation.identity_backend import IdentityBackend
from realisid.faces.face import default_landmarker
from realisid.persons import Person
from realisid.sampling import SamplingOptions

from ..world.head import build_head
from ..world.mesh import MODELLED
from ..world.render import render_scene
from ..world.sampling import random_box
from ..world.scenes import Scene
from ..world.traits import FRONTAL, NEUTRAL, Expression, Identity, Paint, Pose, sample_pose
from .face_keeping import similarities
from .verdict import Margin, id_conditions

SIDE_TOLERANCE = 0.25
"""A drawn face whose side is off its box's by more than this fraction is flagged."""
_FIT_POINTS = np.array([i for i in MODELLED if i < 468])
"""Mesh points the yaw fit uses: those the renderer models exactly (the rest are interpolated)."""
_INNER_LIP_PAIRS = ((13, 14), (82, 87), (312, 317))
"""Upper and lower inner-lip points: the middle of the mouth and either side of it."""
_FOREHEAD, _CHIN = 10, 152


@torch.no_grad()
def people_margins(
    pipe,
    metric: IdentityBackend,
    prompt: str,
    people: Sequence[Person],
    references: Sequence[np.ndarray],
    seeds: Sequence[int],
    sampling: SamplingOptions,
    size: int,
) -> tuple[dict[str, Margin], dict[str, list[Image.Image]]]:
    """Person ``k`` drawn by ``pipe`` at sampling seed ``seeds[k]``, with the ID (``sampling``, key ``"ID"``)
    and with ``id_scale`` 0 (``"no ID"``), scored against ``references[k]`` and the next person's, as the
    toy study scores its cells: one person per seed, so that no one person's likeness to another sets the
    margin. Returns the margins and the pictures, per condition."""
    if not len(people) == len(references) == len(seeds) >= 2:
        raise RealisIDError(
            f"one person and reference per seed, at least 2: got {len(people)}, {len(references)}, {len(seeds)}"
        )
    margins, images = {}, {}
    with tqdm(total=2 * len(people), desc="identity margins") as progress:
        for name, options in id_conditions(sampling).items():
            images[name], pairs = [], []
            for k, (person, seed) in enumerate(zip(people, seeds)):
                image = pipe(
                    prompt, [person], height=size, width=size, sampling=options,
                    generator=torch.Generator().manual_seed(seed),
                ).images[0]
                pairs.append(similarities(metric, image, (references[k], references[(k + 1) % len(people)])))
                images[name].append(image)
                progress.update()
            margins[name] = Margin.from_pairs(pairs)
    return margins, images


def face_side(metric: IdentityBackend, image: Image.Image, asked: Box) -> tuple[float, float] | None:
    """The side (px) of the face the metric finds in ``image`` and its relative error against
    ``asked``'s side (``+0.1``: 10 % larger), or ``None`` when it finds no face."""
    face = metric.find_face(image)
    return None if face is None else (face.box.size, face.box.size / asked.size - 1)


@dataclass(frozen=True)
class HeadPose:
    """A face's head turn and mouth opening as read from its landmarks."""

    yaw: float
    """Degrees, positive with the nose towards the image right (as :class:`~realisid_toy.world.Pose`)."""
    mouth: float
    """Gap between the inner lips over the face's height (forehead to chin): 0 for a closed mouth."""


def landmark_pose(landmarks: np.ndarray) -> HeadPose:
    """The head pose of ``(478, 3)`` (or 468) landmarks in any pixel frame (``z`` unused).

    Yaw comes from a weak-perspective fit of the 2-D points to the toy world's average frontal head
    in 3-D: the image's x axis is a scaled first row of the head's rotation, whose depth part is
    ``-sin(yaw)`` (pitch and roll move it by their cosines' and sines' products: a few degrees)."""
    canonical = _frontal_head()[_FIT_POINTS]
    points = landmarks[_FIT_POINTS, :2]
    fit, *_ = np.linalg.lstsq(canonical - canonical.mean(0), points - points.mean(0), rcond=None)
    x_row = fit[:, 0]
    yaw = float(np.degrees(np.arcsin(np.clip(-x_row[2] / np.linalg.norm(x_row), -1.0, 1.0))))
    gap = np.mean([landmarks[lower, 1] - landmarks[upper, 1] for upper, lower in _INNER_LIP_PAIRS])
    return HeadPose(yaw, float(gap / (landmarks[_CHIN, 1] - landmarks[_FOREHEAD, 1])))


@functools.cache
def _frontal_head(people: int = 20) -> np.ndarray:
    """``(478, 3)`` landmarks of the frontal, neutral head averaged over ``people`` training identities."""
    heads = [build_head(Identity.sample(seed), FRONTAL, NEUTRAL).landmarks for seed in range(people)]
    return np.mean(heads, axis=0)


def head_pose(metric: IdentityBackend, image: Image.Image) -> HeadPose | None:
    """The head pose of the face ``metric`` finds in ``image`` (:func:`head_pose_at` its box); ``None``
    when either finds no face."""
    face = metric.find_face(image)
    return None if face is None else head_pose_at(image, face.box)


def head_pose_at(image: Image.Image, box: Box) -> HeadPose | None:
    """The head pose MediaPipe's face mesh reads on ``box`` widened twice and up-sampled to 256 px;
    ``None`` when the mesh recognises no face there."""
    landmarks = default_landmarker()(image, box)
    return None if landmarks is None else landmark_pose(landmarks)


def pose_likeness(
    image: Image.Image, box: Box, identity: Identity, poses: Sequence[tuple[Pose, Expression]]
) -> list[float]:
    """The correlation of the face at ``box`` in ``image`` with ``identity`` rendered at that box in each
    of ``poses`` (grey levels, zero mean over the renderings' face masks, on a plain wall); the
    largest names the pose the drawn face is closest to."""
    scene = Scene("wall", "white", "grey", "sweater", 0)
    renderings = [render_scene(identity, box, *pose, scene, image.width) for pose in poses]
    mask = np.maximum.reduce([r.face_mask for r in renderings]) > 0.5
    drawn = _face_pixels(image, mask)
    return [_correlation(drawn, _face_pixels(r.image, mask)) for r in renderings]


def _face_pixels(image: Image.Image, mask: np.ndarray) -> np.ndarray:
    """Grey levels of ``image`` inside ``mask``, zero mean."""
    values = np.asarray(image.convert("L"), dtype=float)[mask]
    return values - values.mean()


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


@dataclass(frozen=True)
class ReadingErrors:
    """How well :func:`face_side` and :func:`head_pose` read renderings of known box and pose."""

    side: float
    """Mean absolute relative error of the found face's side (``0.05``: 5 %), over the faces found."""
    yaw: float
    """Mean absolute yaw error (degrees) against the pose rendered, over the faces read."""
    mouth: float
    """Mean absolute mouth error against :func:`landmark_pose` of the renderer's exact landmarks."""
    mouth_range: tuple[float, float]
    """The exact mouth openings of the faces read, their range, for scale."""
    found: int
    """Renderings whose face the metric found."""
    read: int
    """Renderings whose face the mesh read too (none under paint tiles)."""
    count: int


def reading_errors(
    metric: IdentityBackend, relative_size: float, count: int = 36, size: int = 128, seed: int = 0,
    paint: Paint = "none",
) -> ReadingErrors:
    """:func:`face_side` and :func:`head_pose` on ``count`` renderings of held-out people wearing ``paint``
    (yaw within ±30°, pitch and roll within ±15°, every other mouth open, any smile) with faces
    ``relative_size`` of the ``size``-px image at random places, against the boxes and poses rendered."""
    rng = np.random.default_rng([seed, round(relative_size * 1000)])
    sides, poses, exact_mouths = [], [], []
    for k in range(count):
        box, pose = random_box(rng, size, (relative_size, relative_size)), sample_pose(rng, max_yaw=30.0)
        expression = Expression(smile=rng.uniform(0, 1), mouth_open=rng.uniform(0, 1) if k % 2 else 0.0)
        identity = Identity.sample(4_000_000 + k, paint)
        rendering = render_scene(identity, box, pose, expression, scene=k, size=size)
        found = face_side(metric, rendering.image, box)
        read = None if found is None else head_pose(metric, rendering.image)
        if found is not None:
            sides.append(abs(found[1]))
        if read is not None:
            exact_mouths.append(landmark_pose(rendering.landmarks).mouth)
            poses.append((abs(read.yaw - pose.yaw), abs(read.mouth - exact_mouths[-1])))
    side = float(np.mean(sides)) if sides else np.nan
    yaw, mouth = np.mean(poses, axis=0).tolist() if poses else (np.nan, np.nan)
    spread = (min(exact_mouths), max(exact_mouths)) if exact_mouths else (np.nan, np.nan)
    return ReadingErrors(side, yaw, mouth, spread, len(sides), len(poses), count)
