"""Errors for bad photos and missing faces; each is a :class:`RealisIDError` the CLI prints as one line."""

from ..errors import RealisIDError


class PhotoError(RealisIDError):
    """A photo is missing, unreadable, empty or of a pixel format that cannot be converted to RGB."""


class NoFaceError(RealisIDError):
    """No face was found in a photo."""


class FaceIndexError(RealisIDError):
    """A face index was asked for that the photo does not have."""
