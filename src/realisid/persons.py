"""What a user asks for each person, and its resolution into model conditions.

A :class:`Person` is one or more reference photos (or their precomputed conditions) plus optional
placement (``box``), pose/expression (a driving photo, or yaw/pitch/roll edits) and, optionally, its
ID encoder features computed beforehand (before the projection to ``p_id``). :func:`resolve_persons`
turns a list of them into reference faces, boxes and landmarks for one image size.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .boxes import Box
from .errors import RealisIDError, whole_number
from .faces import (
    FaceConditions,
    detect_faces,
    extract_conditions,
    face_conditions,
    load_photo,
    pick_face,
    rotate_landmarks,
    transfer_pose,
)
from .faces.detection import overlap

PhotoOrConditions = str | Path | Image.Image | np.ndarray | FaceConditions


@dataclass
class Person:
    """One person to generate.

    Attributes:
        reference: photo of the person (path, PIL image or array), or its :class:`FaceConditions`; or a
            list of them, several photos of the same person, whose ID tokens are averaged (see
            :meth:`~realisid.pipeline.RealisIDPipeline.encode_persons`). The first gives the default
            box and the landmarks.
        box: where the face goes: a :class:`Box` in output pixels, or a relative ``(cx, cy, size)``
            tuple (centre as fractions of width/height, size over the long edge). ``None`` keeps the
            first reference's own relative box.
        pose: a driving photo (or conditions) whose landmarks set head pose and expression.
        yaw, pitch, roll: degrees by which to turn the reference's (or driving) 3-D landmarks.
        id_embedding: precomputed CLIP penultimate features of the masked face crop, ``(T, D)``, or
            of several crops, ``(R, T, D)``, used instead of encoding the references.
        face: which face of a reference photo is the person, 0 = the largest, in order of size; one
            index for every photo or a list with one per reference (ignored for given conditions).
    """

    reference: PhotoOrConditions | Sequence[PhotoOrConditions] | None
    box: Box | tuple[float, float, float] | None = None
    pose: PhotoOrConditions | None = None
    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None
    id_embedding: torch.Tensor | None = None
    face: int | Sequence[int] = 0


@dataclass(frozen=True)
class ReferenceFace:
    """One reference of a person: its face's conditions and, for a photo, which face of it that is."""

    conditions: FaceConditions
    face: int | None = None
    """Index among the photo's faces, largest first; ``None`` when the conditions were given."""
    faces_found: int | None = None
    """How many faces the photo shows; ``None`` when the conditions were given."""

    def describe(self) -> str:
        """``"face 0 of 2"`` (or ``"given conditions"``), the choice in words for logs and pages."""
        return "given conditions" if self.face is None else f"face {self.face} of {self.faces_found}"


@dataclass
class ResolvedPerson:
    """A person ready for the model: its reference faces (the first set the defaults), ``box`` in output
    pixels, ``landmarks (N, 3)`` normalised to it."""

    references: list[ReferenceFace]
    box: Box
    landmarks: np.ndarray
    id_embedding: torch.Tensor | None


def as_conditions(photo: PhotoOrConditions, role: str) -> FaceConditions:
    if isinstance(photo, FaceConditions):
        return photo
    try:
        return extract_conditions(photo)
    except RealisIDError as error:
        raise type(error)(f"{role}: {error}") from None


def reference_faces(person: Person, index: int = 0) -> list[ReferenceFace]:
    """The faces of ``person``'s reference photos (person ``index`` in messages), in the order given.

    Each photo's faces are found once; ``person.face`` picks one (:class:`~realisid.faces.FaceIndexError`
    when the photo has fewer).
    """
    if person.reference is None:
        raise RealisIDError(f"person {index} has no reference photo")
    several = isinstance(person.reference, (list, tuple))
    photos = list(person.reference) if several else [person.reference]
    if not photos:
        raise RealisIDError(f"person {index} has no reference photo")
    indices = _face_indices(person.face, len(photos), index)
    return [
        _reference_face(photo, face, f"person {index} reference {r}" if several else f"person {index} reference")
        for r, (photo, face) in enumerate(zip(photos, indices))
    ]


def _face_indices(face: int | Sequence[int], count: int, index: int) -> list[int]:
    """One face index per reference photo, checked: whole numbers from 0."""
    indices = list(face) if isinstance(face, (list, tuple)) else [face] * count
    if len(indices) != count:
        raise RealisIDError(f"person {index}: face gives {len(indices)} indices for {count} reference photo(s)")
    return [whole_number(f"person {index}: face (0: the largest)", value, 0) for value in indices]


def _reference_face(photo: PhotoOrConditions, face: int, role: str) -> ReferenceFace:
    if isinstance(photo, FaceConditions):
        return ReferenceFace(photo)
    try:
        image = load_photo(photo)
        faces = detect_faces(image)
        return ReferenceFace(face_conditions(image, pick_face(faces, face, image.size)), face, len(faces))
    except RealisIDError as error:
        raise type(error)(f"{role}: {error}") from None


def resolve_persons(persons: list[Person], width: int, height: int) -> list[ResolvedPerson]:
    """Extracts each person's reference faces once and places them in a ``width×height`` image; the first
    reference gives the default box and the landmarks."""
    if not persons:
        raise RealisIDError("at least one person is needed")
    resolved = []
    for index, person in enumerate(persons):
        if not isinstance(person, Person):
            raise RealisIDError(f"person {index}: expected a realisid.Person, got {type(person).__name__}")
        references = reference_faces(person, index)
        conditions = references[0].conditions
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
        resolved.append(ResolvedPerson(references, box, landmarks, person.id_embedding))
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
