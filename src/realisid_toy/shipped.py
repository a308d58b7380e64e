"""The trained toy weights that ship with the package (``realisid_toy/weights/``).

Written by the ``ship`` stage of :mod:`realisid_toy.lab.recipe` (``realisid toy-reproduce``):
``base/`` (the toy SDXL folder with ``image_encoder/``) and ``realisid/`` (the adapter) in fp16,
``metric/`` (the identity metric) as trained. Loaded in fp32 by :func:`toy_pipeline`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from realisid.errors import RealisIDError

WEIGHTS = Path(__file__).with_name("weights")


def export_weights(run: str | Path, dest: str | Path = WEIGHTS) -> Path:
    """Copies a recipe run's base model and adapter (as fp16) and its metric into ``dest``."""
    import torch
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPVisionModelWithProjection

    from realisid.models import RealisIDAdapter
    from realisid.presets import IMAGE_ENCODER_FOLDER

    run, dest = Path(run), Path(dest)
    for part in ("base", "realisid", "metric"):
        shutil.rmtree(dest / part, ignore_errors=True)
    pipe = StableDiffusionXLPipeline.from_pretrained(run / "base").to(torch.float16)
    pipe.save_pretrained(dest / "base", safe_serialization=True)
    encoder = CLIPVisionModelWithProjection.from_pretrained(run / "base" / IMAGE_ENCODER_FOLDER)
    encoder.to(torch.float16).save_pretrained(dest / "base" / IMAGE_ENCODER_FOLDER, safe_serialization=True)
    RealisIDAdapter.from_pretrained(run / "adapter" / "run" / "adapter").half().save_pretrained(dest / "realisid")
    shutil.copytree(run / "metric", dest / "metric")
    return dest


def toy_pipeline(weights: str | Path = WEIGHTS, adapter: str | Path | None = None):
    """RealisID on the shipped toy weights (fp32 on the CPU), or ``adapter`` on the shipped toy base."""
    from .lab.evaluation import load_toy_pipeline

    weights = Path(weights)
    if not (weights / "realisid" / "config.json").is_file():
        raise RealisIDError(
            f"no toy weights in {weights}: run `realisid toy-reproduce --out DIR --ship-to package` (it writes them there)"
        )
    return load_toy_pipeline(weights / "base", adapter or weights / "realisid")


def toy_metric(weights: str | Path = WEIGHTS):
    """The shipped identity metric (``realisid.evaluation.load_backend("synthetic", WEIGHTS / "metric")``)."""
    from .world.backend import SyntheticIdentityBackend

    return SyntheticIdentityBackend.load(Path(weights) / "metric")
