"""Turning a method's config into a ``Generator`` (``GenerationRequest -> PIL.Image``).

A method's ``kind`` picks the factory:

* ``realisid`` (default) — ``realisid.pipeline.RealisIDPipeline`` (see ``realisid_generator``);
* ``python`` — any callable: ``target: "package.module:factory"``, where ``factory(options)``
  returns a ``Generator``. Baselines (InstantID, PhotoMaker, ...) plug in this way; a baseline that
  cannot place a face ignores ``request.box`` and is configured with ``sets_face_size: false``, so
  that its requests for small faces carry the paper's "a full-body people image" in the prompt.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from PIL import Image

from ..errors import RealisIDError
from ..sampling import SamplingOptions
from .protocol import GenerationRequest, Generator


def make_generator(method_config: Mapping[str, Any]) -> Generator:
    """The generator for one method's options (its config mapping without ``name``/``label``)."""
    return FACTORIES[_kind(method_config)](method_config)


def check_method(method_config: Mapping[str, Any]) -> None:
    """The one-line error :func:`make_generator` would give for these options, before any model loads."""
    if _kind(method_config) == "realisid":
        _realisid_sampling(method_config)
    else:
        _python_factory(method_config)


def _kind(method_config: Mapping[str, Any]) -> str:
    kind = method_config.get("kind", "realisid")
    if kind not in FACTORIES:
        raise RealisIDError(f"unknown method kind {kind!r}; choose one of {', '.join(FACTORIES)}")
    return kind


def python_generator(method_config: Mapping[str, Any]) -> Generator:
    """``target: "module:factory"``; ``factory(method_config)`` returns the generator."""
    return _python_factory(method_config)(method_config)


def _python_factory(method_config: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], Generator]:
    target = method_config.get("target")
    module_name, _, attribute = str(target).partition(":")
    if not target or not attribute:
        raise RealisIDError(f"a `python` method needs target: 'module:factory', got {target!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise RealisIDError(f"cannot import generator factory {target!r}: {error}") from error
    return factory


LOAD_OPTIONS = ("kind", "preset", "seed", "base", "adapter", "image_encoder", "dtype", "device")
DTYPES = ("float16", "bfloat16", "float32")
CALL_OPTIONS = ("negative_prompt", *SamplingOptions.names())
"""What a method's config may give each call: the negative prompt and the sampling options."""


def realisid_generator(method_config: Mapping[str, Any]) -> Generator:
    """RealisID through ``RealisIDPipeline`` (the place to change how RealisID is generated).

    Loading: ``preset: tiny`` (offline tiny stack, ``realisid.pipeline.tiny_pipeline(seed)``; optional
    ``adapter`` folder) or ``base`` (SDXL folder or hub id) + ``adapter`` (checkpoint folder)
    [+ ``image_encoder``, ``dtype``: float16/bfloat16/float32, ``device``]. Sampling options
    (``num_inference_steps``, ``text_scale``, ``id_scale``, ``id_start``, ``id_stop``, ``local_scale``,
    ``global_scale``, ``negative_prompt``) go to every call; ``local_scale: 0`` / ``global_scale: 0``
    are the paper's branch ablations. Each request gives one person: the reference photo at the
    relative box, seeded with ``request.seed``.
    """
    import torch

    from ..persons import Person

    sampling = _realisid_sampling(method_config)
    device = method_config.get("device", "cuda" if torch.cuda.is_available() else "cpu")
    pipe = _load_pipeline(method_config, device)
    pipe.set_progress_bar_config(disable=True)

    def generate(request: GenerationRequest) -> Image.Image:
        output = pipe(
            prompt=request.prompt,
            persons=[Person(reference=request.reference, box=request.box)],
            negative_prompt=method_config.get("negative_prompt"),
            height=request.height,
            width=request.width,
            sampling=sampling,
            generator=torch.Generator().manual_seed(request.seed),  # CPU noise: as `realisid generate --seed`
        )
        return output.images[0]

    return generate


def _realisid_sampling(options: Mapping[str, Any]) -> SamplingOptions:
    """A realisid method's sampling options, its other options checked (a one-line error)."""
    unknown = set(options) - set(LOAD_OPTIONS) - set(CALL_OPTIONS)
    if unknown:
        raise RealisIDError(f"unknown options for a realisid method: {', '.join(sorted(unknown))}")
    preset = options.get("preset")
    if preset not in (None, "tiny"):
        raise RealisIDError(f"unknown preset {preset!r}; the only preset is 'tiny'")
    if preset is None and ("base" not in options or "adapter" not in options):
        raise RealisIDError("a realisid method needs `base` (SDXL) and `adapter` (checkpoint), or preset: tiny")
    if options.get("dtype", "float32") not in DTYPES:
        raise RealisIDError(f"dtype must be one of {', '.join(DTYPES)}, got {options['dtype']!r}")
    return SamplingOptions.from_mapping(options)


def _load_pipeline(options: Mapping[str, Any], device: str):
    import torch

    from ..pipeline import RealisIDPipeline, tiny_pipeline

    dtype = options.get("dtype", "float32")
    if options.get("preset") == "tiny":
        pipe = tiny_pipeline(options.get("seed", 0), options.get("adapter")).to(dtype=getattr(torch, dtype))
    else:
        pipe = RealisIDPipeline.from_pretrained(
            options["base"], options["adapter"], options.get("image_encoder"), getattr(torch, dtype)
        )
    return pipe.to(device)


FACTORIES: dict[str, Callable[[Mapping[str, Any]], Generator]] = {
    "realisid": realisid_generator,
    "python": python_generator,
}
