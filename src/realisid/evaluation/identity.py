"""Face-identity similarity behind one backend interface, backends found by name.

Built in: ``"dlib"`` (offline, from registry packages) and ``"facenet"`` (the paper's metric,
weights from a path). Other packages add backends through the ``realisid.identity_backends``
entry-point group, each a ``factory(weights: Path | None) -> IdentityBackend`` (the toy world's
``"synthetic"`` metric comes this way), so this library never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path

from ..errors import RealisIDError
from ..faces.photo import PhotoSource, load_photo
from .identity_backend import IdentityBackend

ENTRY_POINTS = "realisid.identity_backends"
"""The entry-point group of identity backends that other packages provide."""


@lru_cache(maxsize=1)
def _dlib_backend() -> IdentityBackend:
    from .dlib_backend import DlibBackend

    return DlibBackend()


def _facenet_backend(weights: Path | None) -> IdentityBackend:
    from .facenet_backend import FaceNetBackend

    return FaceNetBackend(weights)


BUILT_IN: dict[str, Callable[[Path | None], IdentityBackend]] = {
    "dlib": lambda weights: _dlib_backend(),
    "facenet": _facenet_backend,
}


def backend_names() -> list[str]:
    """Every backend name: the built-in ones, then those of installed entry points."""
    return [*BUILT_IN, *sorted(ep.name for ep in entry_points(group=ENTRY_POINTS) if ep.name not in BUILT_IN)]


def load_backend(name: str, weights: str | Path | None = None) -> IdentityBackend:
    """The backend called ``name``, with its ``weights`` (a file or folder; ``facenet`` and the
    toy world's ``synthetic`` need them, ``dlib`` carries its own)."""
    weights = None if weights is None else Path(weights)
    if name in BUILT_IN:
        return BUILT_IN[name](weights)
    found = [ep for ep in entry_points(group=ENTRY_POINTS) if ep.name == name]
    if not found:
        raise RealisIDError(f"unknown identity backend {name!r}; choose one of {', '.join(backend_names())}")
    return found[0].load()(weights)


def face_similarity(
    image_a: PhotoSource, image_b: PhotoSource, backend: str | IdentityBackend = "dlib"
) -> float | None:
    """Identity similarity of the largest faces in two images, ``None`` if either has no face."""
    backend = load_backend(backend) if isinstance(backend, str) else backend
    face_a = backend.find_face(load_photo(image_a))
    if face_a is None:
        return None
    face_b = backend.find_face(load_photo(image_b))
    if face_b is None:
        return None
    return backend.similarity(face_a.embedding, face_b.embedding)
