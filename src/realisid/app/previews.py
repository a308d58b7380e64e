"""What the page shows before generating: a reference photo's faces and conditions, a person's landmark
drawing, and the layout of every box on the output canvas with its legend."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..boxes import SMALL_FACE, Box
from ..errors import RealisIDError
from ..faces import FaceConditions, detect_faces, draw_landmarks, face_conditions, load_photo, pick_face
from ..faces.preview import preview
from ..layout import draw_layout
from ..persons import Person, resolve_persons

PREVIEW_SIDE = 512
"""Long side of the layout canvas shown in the page, in pixels."""


def reference_preview(
    photo: Image.Image | np.ndarray | str | Path, face: int = 0
) -> tuple[FaceConditions, Image.Image, str]:
    """Face ``face`` of ``photo`` (0 = the largest, in order of size): its conditions, a picture of every
    face's numbered box with the chosen one's crop and ``c_p&e``, and a one-line summary. Raises
    :class:`~realisid.faces.NoFaceError` or :class:`~realisid.faces.FaceIndexError`."""
    image = load_photo(photo)
    faces = detect_faces(image)
    chosen = pick_face(faces, face, image.size)
    conditions = face_conditions(image, chosen)
    which = "the largest" if face == 0 else f"face {face}"
    summary = f"{len(faces)} face(s) found; using {which} ({chosen.relative_size:.2f} of the long edge)"
    if len(faces) > 1:
        summary += "; set Face to another box's number to use it"
    return conditions, preview(image, faces, [conditions], height=256), summary


def person_landmarks(person: Person) -> np.ndarray:
    """The landmarks ``(N, 3)`` the pipeline draws for ``person`` (reference, pose photo, yaw/pitch/roll);
    empty while it has no reference. They are normalised to the box, so any box gives the same."""
    if person.reference is None:
        return np.zeros((0, 3), np.float32)
    return resolve_persons([replace(person, box=(0.5, 0.5, 1.0))], 1, 1)[0].landmarks


def landmark_preview(person: Person, size: int = 256) -> Image.Image | None:
    """``person``'s pose-expression drawing ``c_p&e``, or ``None`` without a reference."""
    if person.reference is None:
        return None
    return draw_landmarks(person_landmarks(person), size)


def layout_preview(
    persons: list[Person], width: int, height: int, max_side: int = PREVIEW_SIDE
) -> tuple[Image.Image, list[str]]:
    """Every person's box and landmarks on the ``width×height`` canvas, drawn with its long side at
    ``max_side``, and one message per box that cannot place a face (not drawn). Boxes are relative
    ``(cx, cy, size)``."""
    scale = max_side / max(width, height)
    entries, problems = [], []
    for index, person in enumerate(persons):
        box = Box.from_relative(*person.box, width, height)
        try:
            box.validate(width, height)
        except RealisIDError as error:
            problems.append(f"person {index}: {error}")
            continue
        entries.append((box.scaled(scale), person_landmarks(person)))
    return draw_layout(round(width * scale), round(height * scale), entries), problems


def box_legend(persons: list[Person], width: int, height: int) -> str:
    """One line naming each person's face size in pixels and relative to the long edge."""
    parts = []
    for index, person in enumerate(persons):
        relative = person.box[2]
        small = " (small face)" if relative <= SMALL_FACE else ""
        parts.append(f"person {index}: {relative * max(width, height):.0f} px, {relative:.2f}{small}")
    return f"{width}×{height} px output · " + " · ".join(parts)
