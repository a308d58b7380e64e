"""The trained toy weights that ship with the package (``realisid_toy/weights/``).

Written by the ``ship`` stage of the small-face study (``realisid toy-study --ship-to package``) or of
the end-to-end recipe (``realisid toy-reproduce --ship-to package``): ``base/`` (the toy SDXL
folder with ``image_encoder/``) and ``realisid/`` (the adapter) in fp16, ``metric/`` (the identity
metric) as trained, and ``world.json`` (:class:`ToyWorld`). Loaded in fp32 by :func:`toy_pipeline`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from realisid.errors import RealisIDError

from .world.traits import Paint

WEIGHTS = Path(__file__).with_name("weights")
WORLD_RECORD = "world.json"


@dataclass(frozen=True)
class ToyWorld:
    """What a set of toy weights draws: people wearing ``paint`` in ``size``-px images; ``source`` names
    the run that trained them."""

    paint: Paint
    size: int
    source: str


def toy_world(weights: str | Path = WEIGHTS) -> ToyWorld:
    """The world of the toy weights in ``weights`` (an error naming the command that writes them)."""
    record = Path(weights) / WORLD_RECORD
    if not record.is_file():
        raise RealisIDError(
            f"no toy weights in {weights}: `realisid toy-study --ship-to package` writes them there"
        )
    world = json.loads(record.read_text())
    if set(world) != {field.name for field in dataclasses.fields(ToyWorld)}:
        raise RealisIDError(
            f"{weights} is a study's or a run's folder, not shipped toy weights: name the folder its ship stage "
            "wrote (by default its weights/)"
        )
    return ToyWorld(**world)


def shipping_folder(dest: str | Path) -> Path:
    """``dest`` resolved; refused when it holds anything but toy weights, which shipping replaces whole
    (``--ship-to .`` would delete the working tree)."""
    dest = Path(dest).resolve()
    if dest.exists() and not (dest.is_dir() and not any(dest.iterdir())):
        try:
            toy_world(dest)
        except RealisIDError:
            raise RealisIDError(
                f"cannot ship into {dest}: it holds something other than toy weights, which shipping would "
                "replace; name a new or empty folder"
            ) from None
    return dest


def export_weights(
    base: str | Path, adapter: str | Path, metric: str | Path, world: ToyWorld, dest: str | Path = WEIGHTS
) -> Path:
    """Copies a trained base folder (with ``image_encoder/``) and a RealisID adapter as fp16, an identity
    metric and ``world`` into ``dest`` (:func:`shipping_folder`), replacing what was there only once all of it
    is written."""
    import torch
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPVisionModelWithProjection

    from realisid.models import RealisIDAdapter
    from realisid.presets import IMAGE_ENCODER_FOLDER

    base, dest = Path(base), shipping_folder(dest)
    tmp = dest.with_name(f".tmp-{dest.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe = StableDiffusionXLPipeline.from_pretrained(base, dtype=torch.float16)
    pipe.save_pretrained(tmp / "base", safe_serialization=True)
    encoder = CLIPVisionModelWithProjection.from_pretrained(base / IMAGE_ENCODER_FOLDER, dtype=torch.float16)
    encoder.save_pretrained(tmp / "base" / IMAGE_ENCODER_FOLDER, safe_serialization=True)
    RealisIDAdapter.from_pretrained(adapter).half().save_pretrained(tmp / "realisid")
    shutil.copytree(metric, tmp / "metric", ignore=shutil.ignore_patterns("stage.json"))
    (tmp / WORLD_RECORD).write_text(json.dumps(dataclasses.asdict(world), indent=2) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def toy_pipeline(weights: str | Path = WEIGHTS, adapter: str | Path | None = None):
    """RealisID on the shipped toy weights (fp32 on the CPU), or ``adapter`` on the shipped toy base."""
    from .lab.evaluation import load_toy_pipeline

    toy_world(weights)
    return load_toy_pipeline(Path(weights) / "base", adapter or Path(weights) / "realisid")


def toy_metric(weights: str | Path = WEIGHTS):
    """The shipped identity metric (``realisid.evaluation.load_backend("synthetic", WEIGHTS / "metric")``)."""
    from .world.backend import SyntheticIdentityBackend

    return SyntheticIdentityBackend.load(Path(weights) / "metric")
