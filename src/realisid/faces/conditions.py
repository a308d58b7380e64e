"""The condition signals of one face of one photo (paper Fig. 2b), bundled for the ID encoder and
the local branch."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..boxes import Box
from .detection import FaceDetector
from .drawing import draw_landmarks
from .errors import FaceIndexError, NoFaceError
from .face import Face, detect_faces
from .parsing import FaceParser, MeshOvalParser
from .photo import PhotoSource, crop_square, load_photo

CROP_SIZE = 512
"""Side of the face crop in pixels; the ID encoder resizes it to its own input size."""


@dataclass(frozen=True)
class FaceConditions:
    """One face of one photo, ready for the model.

    * ``image_size``: the photo's ``(width, height)``; ``box``: the square face box in its pixels.
    * ``crop``: the box resampled to ``crop_size×crop_size`` RGB, black where the box leaves the photo.
    * ``mask``: ``(crop_size, crop_size)`` ``float32`` in ``[0, 1]``, 1 on the face, crop coordinates.
    * ``masked_crop``: ``crop`` times ``mask``: the ID encoder's input.
    * ``landmarks``: ``(N, 3)`` ``float32`` normalised to the box (``x, y`` in ``[0, 1]`` over it,
      ``z`` divided by its size).
    """

    image_size: tuple[int, int]
    box: Box
    score: float
    crop: Image.Image
    mask: np.ndarray
    masked_crop: Image.Image
    landmarks: np.ndarray

    @property
    def relative_box(self) -> tuple[float, float, float]:
        """``(cx, cy, rel_size)``: centre as fractions of width and height, size over the long edge."""
        return self.box.relative(*self.image_size)

    @property
    def crop_landmarks(self) -> np.ndarray:
        """Landmarks ``(N, 3)`` in crop pixels (``z`` in the same pixel scale)."""
        return self.landmarks * np.float32(self.crop.width)

    def landmark_image(self, size: int) -> Image.Image:
        """This face's ``c_p&e`` drawing at ``size×size``."""
        return draw_landmarks(self.landmarks, size)


@functools.cache
def _default_parser() -> MeshOvalParser:
    return MeshOvalParser()


def face_conditions(
    photo: PhotoSource, face: Face, parser: FaceParser | None = None, crop_size: int = CROP_SIZE
) -> FaceConditions:
    """The conditions of ``face``, one of the faces :func:`detect_faces` found in ``photo``."""
    image = load_photo(photo)
    box = face.box
    landmarks = ((face.landmarks - (box.x0, box.y0, 0.0)) / box.size).astype(np.float32)
    crop = crop_square(image, box, crop_size)
    mask = (parser or _default_parser())(crop, landmarks * np.float32(crop_size))
    masked = Image.fromarray(np.rint(np.asarray(crop) * mask[..., None]).astype(np.uint8))
    return FaceConditions(image.size, box, face.score, crop, mask, masked, landmarks)


def extract_conditions(
    photo: PhotoSource,
    face_index: int = 0,
    detector: FaceDetector | None = None,
    parser: FaceParser | None = None,
    crop_size: int = CROP_SIZE,
) -> FaceConditions:
    """The conditions of the ``face_index``-th largest face of ``photo``.

    Raises :class:`NoFaceError` when no face is found, :class:`FaceIndexError` when there are fewer.
    """
    image = load_photo(photo)
    return face_conditions(image, pick_face(detect_faces(image, detector), face_index, image.size), parser, crop_size)


def pick_face(faces: list[Face], face_index: int, image_size: tuple[int, int]) -> Face:
    """``faces[face_index]`` of a ``(width, height)`` photo's faces (largest first).

    Raises :class:`NoFaceError` when there is no face, :class:`FaceIndexError` when there are fewer.
    """
    if not faces:
        raise NoFaceError(f"no face found in the {image_size[0]}x{image_size[1]} photo")
    if not 0 <= face_index < len(faces):
        raise FaceIndexError(
            f"face index {face_index} does not exist: {len(faces)} face(s) found (indices 0 to {len(faces) - 1}, "
            "largest first)"
        )
    return faces[face_index]
