"""The page's event handlers for uploads and generation: bad input becomes a message in the page (``gr.Error``,
``gr.Warning`` or a status line), never a traceback."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
from PIL import Image

from ..errors import RealisIDError, whole_number
from ..faces import FaceConditions
from ..persons import Person
from ..pipeline import RealisIDPipeline
from .controls import Sampling
from .generation import ProgressCallback, generate
from .previews import reference_preview


@contextmanager
def page_errors() -> Iterator[None]:
    """Bad input inside, raised as ``gr.Error``: a message in the page, no traceback on the server."""
    try:
        yield
    except RealisIDError as error:
        raise gr.Error(str(error), print_exception=False) from None


def message(text: str, error: bool = False) -> str:
    return f'<span class="status-error">⚠ {text}</span>' if error else text


def upload_face(
    photo: Image.Image | str | None, face: float | None = 0
) -> tuple[FaceConditions | None, Image.Image | None, str]:
    """Upload handler: conditions, preview and status of face ``face`` (0 = the largest) of a reference or
    pose photo."""
    if photo is None:
        return None, None, ""
    try:
        return reference_preview(photo, whole_number("Face", 0 if face is None else face))
    except RealisIDError as error:
        gr.Warning(str(error))
        return None, None, message(str(error), error=True)


def upload_more(paths: list[str] | None) -> tuple[list[FaceConditions], list[tuple[Image.Image, str]], str]:
    """Upload handler for further photos of a person: the conditions of each one's largest face, its
    masked crop captioned with the file name, and one status line per photo (a photo without a face is
    named and left out)."""
    found, crops, lines = [], [], []
    for path in paths or ():
        name = Path(path).name
        conditions, _, status = upload_face(path)
        if conditions is not None:
            found.append(conditions)
            crops.append((conditions.masked_crop, name))
        lines.append(f"{name}: {status}")
    return found, crops, "\n\n".join(lines)


def uploaded_file(payload: dict | None) -> str | None:
    """The cached file of an upload event's raw payload. Upload events skip Gradio's decoding, which
    fails on an unreadable file with a blank message; :func:`load_photo` names the problem instead."""
    return None if payload is None else payload["path"]


def upload_pose(photo: Image.Image | str | None) -> tuple[FaceConditions | None, str]:
    """Upload handler: conditions and status of a driving photo."""
    conditions, _, status = upload_face(photo)
    return conditions, status


def generate_in_page(
    pipe: RealisIDPipeline,
    prompt: str,
    persons: list[Person],
    sampling: Sampling,
    on_step: ProgressCallback | None = None,
) -> list[tuple[Image.Image, str]]:
    """Generate handler: :func:`generate`, with bad input raised as ``gr.Error`` (a message in the page,
    no traceback) and the pipeline's warnings (e.g. a prompt too long for CLIP) shown as ``gr.Warning``."""
    with page_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        items = generate(pipe, prompt, persons, sampling, on_step)
    for warning in caught:
        gr.Warning(str(warning.message))
    return items
