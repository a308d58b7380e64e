"""What a user asks for each person, and its resolution into model conditions.

A :class:`Person` is a reference photo (or its precomputed conditions) plus optional placement
(``box``), pose/expression (a driving photo, or yaw/pitch/roll edits) and, optionally, its ID
encoder features computed beforehand (before the projection to ``p_id``). :func:`resolve_persons`
turns a list of them into boxes and landmarks for one image size.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .boxes import Box
from .errors import RealisIDError
from .faces import FaceConditions, extract_conditions, rotate_landmarks, transfer_pose
from .faces.detection import overlap

PhotoOrConditions = str | Path | Image.Image | np.ndarray | FaceConditions


@dataclass
class Person:
    """One person to generate.

    Attributes:
        reference: photo of the person (path, PIL image or array), or its :class:`FaceConditions`.
        box: where the face goes: a :class:`Box` in output pixels, or a relative ``(cx, cy, size)``
            tuple (centre as fractions of width/height, size over the long edge). ``None`` keeps the
            reference's own relative box.
        pose: a driving photo (or conditions) whose landmarks set head pose and expression.
        yaw, pitch, roll: degrees by which to turn the reference's (or driving) 3-D landmarks.
        id_embedding: precomputed CLIP penultimate features ``(T, D)`` of the masked face crop,
            used instead of encoding the reference.
    """

    reference: PhotoOrConditions | None
    box: Box | tuple[float, float, float] | None = None
    pose: PhotoOrConditions | None = None
    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None
    id_embedding: torch.Tensor | None = None


@dataclass
class ResolvedPerson:
    """A person ready for the model: ``box`` in output pixels, ``landmarks (N, 3)`` normalised to it."""

    conditions: FaceConditions
    box: Box
    landmarks: np.ndarray
    id_embedding: torch.Tensor | None


def as_conditions(photo: PhotoOrConditions, role: str) -> FaceConditions:
    if isinstance(photo, FaceConditions):
        return photo
    try:
        return extract_conditions(photo)
    except RealisIDError as error:
        raise RealisIDError(f"{role}: {error}") from None


def resolve_persons(persons: list[Person], width: int, height: int) -> list[ResolvedPerson]:
    """Extracts each person's conditions once and places them in a ``width×height`` image."""
    if not persons:
        raise RealisIDError("at least one person is needed")
    resolved = []
    for index, person in enumerate(persons):
        if not isinstance(person, Person):
            raise RealisIDError(f"person {index}: expected a realisid.Person, got {type(person).__name__}")
        if person.reference is None:
            raise RealisIDError(f"person {index} has no reference photo")
        conditions = as_conditions(person.reference, f"person {index} reference")
        if person.box is None:
            box = Box.from_relative(*conditions.relative_box, width, height)
        elif isinstance(person.box, Box):
            box = person.box
        else:
            if len(person.box) != 3:
                raise RealisIDError(f"person {index}: a relative box is (cx, cy, size), got {person.box}")
            box = Box.from_relative(*map(float, person.box), width, height)
        try:
            box.validate(width, height)
        except RealisIDError as error:
            raise RealisIDError(f"person {index}: {error}") from None
        for name in ("yaw", "pitch", "roll"):
            angle = getattr(person, name)
            if angle is not None and not _is_finite_number(angle):
                raise RealisIDError(
                    f"person {index}: {name} must be a finite number of degrees, got {angle!r}"
                )
        landmarks = conditions.landmarks
        if person.pose is not None:
            landmarks = transfer_pose(as_conditions(person.pose, f"person {index} pose"))
        if any(angle for angle in (person.yaw, person.pitch, person.roll)):
            landmarks = rotate_landmarks(landmarks, person.yaw or 0.0, person.pitch or 0.0, person.roll or 0.0)
        resolved.append(ResolvedPerson(conditions, box, landmarks, person.id_embedding))
    _warn_on_stacked_defaults(persons, resolved)
    return resolved


def _is_finite_number(value: object) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)


def _warn_on_stacked_defaults(persons: list[Person], resolved: list[ResolvedPerson]) -> None:
    """Several persons left at their references' own boxes may land on one spot: say so."""
    defaulted = [r.box for p, r in zip(persons, resolved) if p.box is None]
    for i, a in enumerate(defaulted):
        for b in defaulted[i + 1 :]:
            if overlap(a, b) > 0.5:
                warnings.warn(
                    "two persons without a box fall on the same place (their references' own boxes); "
                    "give each person a box",
                    stacklevel=3,
                )
                return
