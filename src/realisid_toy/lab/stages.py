"""Resumable runs made of named stages (each a method, timed into ``OUT/timings.json``), and the adapter
training their stages share."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import yaml

from realisid.errors import RealisIDError

if TYPE_CHECKING:
    from realisid.training import TrainResult

    from ..world.identity_net import TrainingConfig, Verification
    from ..world.traits import Paint

LOG = "log.txt"
"""Every line a run logged, each with its time, in its output folder."""
WORLD = "world.json"
"""What an output folder's stages were made in (:meth:`StagedRun.world`)."""


def run_device(device: str | None) -> str:
    """``device``, by default cuda when there is one (its matmuls in TF32, as training's are), else cpu."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    return device


class StagedRun:
    """Runs the stages of :attr:`STAGES` not done yet, in order, over one output folder.

    A stage is done when :meth:`done` says so (by default: it has a timing); subclasses whose
    results live in the repository ask for their files instead, so a fresh clone resumes.
    """

    STAGES: tuple[str, ...] = ()
    UNRECORDED: ClassVar[dict[str, Any]] = {}
    """What a world record written before a key of :meth:`world` existed stands for there."""

    def __init__(self, out: str | Path, log: Callable[[str], None] = print, device: str = "cpu"):
        self.out, self._show, self.device = Path(out), log, device
        self.timings_path = self.out / "timings.json"

    def log(self, line: str) -> None:
        """Shows ``line`` and appends it, timed, to ``OUT/log.txt``: a run's losses outlive its terminal."""
        self._show(line)
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / LOG, "a") as record:
            record.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def timings(self) -> dict[str, float]:
        return json.loads(self.timings_path.read_text()) if self.timings_path.is_file() else {}

    def done(self, name: str) -> bool:
        return name in self.timings()

    def stage(self, name: str) -> None:
        """Runs stage ``name`` (by default the method of that name)."""
        getattr(self, name)()

    def world(self) -> dict[str, Any]:
        """What every stage's results depend on (the world drawn, the sizes), as JSON reads it back."""
        return {}

    def prepare(self) -> None:
        """Refuses, before any stage runs, a folder whose stages were made in another :meth:`world` (mixing
        them would go unnoticed); else records this one in ``OUT/world.json``."""
        world, record = self.world(), self.out / WORLD
        made = {**world, **self.UNRECORDED, **json.loads(record.read_text())} if record.is_file() else world
        changed = [f"{key} {made[key]}, not {value}" for key, value in world.items() if made[key] != value]
        if changed:
            raise RealisIDError(f"{self.out} holds stages made with {'; '.join(changed)}: choose another folder")
        record.write_text(json.dumps(world) + "\n")

    def run(self, stages: tuple[str, ...] | None = None) -> dict[str, float]:
        """Runs the ``stages`` (default all) not yet done; returns every stage's seconds so far."""
        unknown = [name for name in stages or () if name not in self.STAGES]
        if unknown:
            raise RealisIDError(f"unknown stages {', '.join(unknown)}; choose from {', '.join(self.STAGES)}")
        self.out.mkdir(parents=True, exist_ok=True)
        self.prepare()
        for name in stages or self.STAGES:
            if self.done(name):
                self.log(f"[{name}] done before ({self.timings().get(name, 0):.0f} s)")
                continue
            self.log(f"[{name}] ...")
            (self.out / name).mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            self.stage(name)
            timings = {**self.timings(), name: round(time.perf_counter() - start, 1)}
            self.timings_path.write_text(json.dumps(timings, indent=2) + "\n")
            self.log(f"[{name}] {timings[name]:.0f} s")
        return self.timings()

    def train_metric(self, config: TrainingConfig, segmenter_images: int, paint: Paint) -> Verification:
        """The world's identity metric trained into ``OUT/metric``, and its held-out verification (also
        kept there, in ``verification.json``)."""
        from ..world.backend import train_backend
        from ..world.identity_net import verification_accuracy

        backend = train_backend(self.out / "metric", config, segmenter_images, paint)
        result = verification_accuracy(backend.embedder, paint=paint)
        (self.out / "metric" / "verification.json").write_text(str(result) + "\n")
        return result

    def train_adapter(
        self, folder: Path, init: Path, branches: list[str], data: Path, base: Path, precomputed: Path,
        resume: bool = False, **settings: Any,
    ) -> TrainResult:
        """``realisid train`` of the adapter in ``init`` with ``branches`` on ``base`` and the shards in ``data``, into
        ``folder/run``: the settings the recipe and the study share (frozen outputs precomputed, one checkpoint
        at the end) changed by ``settings`` (``max_steps``, ``resolution``, ``batch_size``, ``learning_rate``,
        any other), all kept as ``folder/train.yaml``. Reuses the frozen outputs in ``precomputed`` when there
        are any (hard links); ``resume``: from its last checkpoint."""
        from realisid.training import load_config, train

        overrides = {
            "data": str(data), "output_dir": str(folder / "run"), "base": str(base), "init_adapter": str(init),
            "branches": branches, "precompute": True, "checkpoint_every": settings["max_steps"], "keep_checkpoints": 1,
            "log_every": 50, **settings,
        }
        own = folder / "run" / "precomputed"
        if precomputed.is_dir() and not own.exists():
            shutil.copytree(precomputed, own, copy_function=os.link)
        (folder / "train.yaml").write_text(yaml.safe_dump(overrides))
        if self.device == "cpu":  # realisid train runs under accelerate, which takes a GPU when it sees one
            os.environ["ACCELERATE_USE_CPU"] = "true"
        return train(load_config(overrides={**overrides, "resume": "latest"} if resume else overrides))
