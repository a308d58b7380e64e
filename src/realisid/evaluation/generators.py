"""Turning a method's config into a ``Generator`` (``GenerationRequest -> PIL.Image``).

A method's ``kind`` picks the factory:

* ``realisid`` — RealisID through ``realisid.pipeline.RealisIDPipeline`` (see ``realisid_generator``);
* ``python`` — any callable: ``target: "package.module:factory"``, where ``factory(options)``
  returns a ``Generator``. Baselines (InstantID, PhotoMaker, ...) plug in this way; a baseline that
  cannot place a face ignores ``request.box`` (the paper then appends "a full-body people image" to
  the prompt for the small-face scenario).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

from ..errors import RealisIDError
from .protocol import Generator


def make_generator(method_config: Mapping[str, Any]) -> Generator:
    """The generator for one method's options (its config mapping without ``name``/``label``)."""
    kind = method_config.get("kind", "realisid")
    if kind not in FACTORIES:
        raise RealisIDError(f"unknown method kind {kind!r}; choose one of {', '.join(FACTORIES)}")
    return FACTORIES[kind](method_config)


def python_generator(method_config: Mapping[str, Any]) -> Generator:
    """``target: "module:factory"``; ``factory(method_config)`` returns the generator."""
    target = method_config.get("target")
    module_name, _, attribute = str(target).partition(":")
    if not target or not attribute:
        raise RealisIDError(f"a `python` method needs target: 'module:factory', got {target!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise RealisIDError(f"cannot import generator factory {target!r}: {error}") from error
    return factory(method_config)


def realisid_generator(method_config: Mapping[str, Any]) -> Generator:
    """RealisID's generator. EXTENSION POINT for ``realisid.pipeline.RealisIDPipeline``.

    To plug the pipeline in, build it once here from the options (``checkpoint``: adapter folder;
    ``base``: SDXL folder, or ``preset: tiny`` for ``realisid.presets.tiny_pipeline(seed)``; branch
    scales such as ``local_scale`` / ``global_scale`` for the ablations) and return a closure that
    maps a ``GenerationRequest`` to one image: reference photo ``request.reference``, text
    ``request.prompt``, face box ``Box.from_relative(*request.box, request.width, request.height)``,
    size ``request.height × request.width`` and a ``torch.Generator`` seeded with ``request.seed``.
    """
    try:
        importlib.import_module("realisid.pipeline")
    except ImportError as error:
        raise RealisIDError(
            "method kind 'realisid' needs realisid.pipeline, which is not available in this "
            "installation; use kind: python with a target factory meanwhile"
        ) from error
    raise RealisIDError(
        "realisid.pipeline exists but is not wired into realisid.evaluation.generators."
        "realisid_generator yet"
    )


FACTORIES: dict[str, Callable[[Mapping[str, Any]], Generator]] = {
    "realisid": realisid_generator,
    "python": python_generator,
}
