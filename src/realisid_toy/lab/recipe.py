"""The toy reproduction, end to end: data → identity metric → VAE → base U-Net → RealisID → tables.

Run by ``realisid toy-reproduce --out DIR [--preset cpu|gpu|smoke] [--device cuda]``. Each stage writes its results into ``DIR`` and a line to ``DIR/timings.json``; a stage whose
results exist is not redone, so an interrupted run resumes. ``--preset smoke`` (``--smoke``) runs
every stage with tiny step counts (a CI test); the default sizes fit under 3 hours on a 2-core CPU;
``gpu`` trains the VAE longer (the shipped weights). Every stage runs on ``--device``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from realisid.models import IdentityAdapter, RealisIDAdapter

from ..world.identity_net import TrainingConfig
from ..world.traits import Paint
from .base_model import BaseTraining, toy_stack, train_base_model, train_vae
from .stages import StagedRun, run_device

STAGES = ("data", "metric", "vae", "base", "adapter", "local_only", "global_only", "instantid", "evaluate", "ship")
"""The stages in order; each is a method of :class:`Recipe`."""
PRECOMPUTED = Path("adapter", "run", "precomputed")
"""Where the ``adapter`` stage's ``realisid train`` encodes the frozen outputs every adapter trains on."""


@dataclass(frozen=True)
class RecipeConfig:
    """The world and the sizes of every stage (defaults: the full run)."""

    paint: Paint = "none"
    """What every person wears on the face (:func:`~realisid_toy.world.traits.sample_identity`): painted
    regions or tiles make identities that differ in blocks of colour, not only in the shapes of eyes, nose
    and mouth."""
    scenes: int = 6000
    image_size: int = 128
    """Side of every image: 128 gives 16×16 latents (16 channels), where L = 16 up-samples every face
    box; 256 gives 32×32, where the VAE keeps a 1/7 face."""
    rel_size: tuple[float, float] = (0.12, 0.5)
    metric: TrainingConfig = field(default_factory=TrainingConfig)
    segmenter_images: int = 1500
    base: BaseTraining = field(default_factory=BaseTraining)
    base_from: Path | None = None
    """A trained base folder the ``base`` stage fine-tunes instead of training from scratch."""
    adapter_steps: int = 1000
    adapter_batch: int = 16
    adapter_lr: float = 3e-4
    eval_identities: int = 5
    eval_prompts: int = 2
    eval_seeds: tuple[int, ...] = (0, 1, 2)
    inference_steps: int = 20

    @classmethod
    def gpu(cls) -> RecipeConfig:
        """The shipped weights' sizes: the VAE trained 2.5x longer on twice the crops (minutes on one
        GPU); every other stage as the default."""
        return cls(base=BaseTraining(vae_steps=5000, vae_batch=32))

    @classmethod
    def smoke(cls) -> RecipeConfig:
        return cls(
            scenes=64,
            metric=TrainingConfig(identities=20, per_identity=4, epochs=1),
            segmenter_images=240,
            base=BaseTraining(vae_steps=2, vae_batch=4, unet_steps=2, unet_batch=4),
            adapter_steps=2,
            adapter_batch=2,
            eval_identities=1,
            eval_prompts=1,
            eval_seeds=(0, 1, 2),
            inference_steps=2,
        )


PRESETS = {"cpu": RecipeConfig, "gpu": RecipeConfig.gpu, "smoke": RecipeConfig.smoke}
"""``realisid toy-reproduce --preset``: the default fits 3 hours of 2 CPU cores; ``gpu`` made the shipped weights."""


class Recipe(StagedRun):
    """The stages over one output folder; :meth:`run` runs those not done yet."""

    def __init__(
        self,
        out: str | Path,
        config: RecipeConfig,
        ship_to: str | Path | None = None,
        log: Callable[[str], None] = print,
        device: str = "cpu",
    ):
        super().__init__(out, log, device)
        self.config = config
        self.ship_to = Path(ship_to) if ship_to else self.out / "weights"

    def world(self) -> dict:
        """The face paint, image side and face sizes every stage's renderings and models are made in."""
        config = self.config
        return {"paint": config.paint, "image_size": config.image_size, "face_sizes": list(config.rel_size)}

    # ------------------------------------------------------------------------------------ stages
    def data(self) -> None:
        """Random scenes of random people: images and captions for the base model, shards for RealisID."""
        from .shards import render_world

        config = self.config
        render_world(self.out / "data", range(config.scenes), config.image_size, config.rel_size, config.paint, 16)

    def metric(self) -> None:
        """The identity metric, trained on its own renderings; verification on held-out identities."""
        result = self.train_metric(self.config.metric, self.config.segmenter_images, self.config.paint)
        self.log(f"identity metric verification on held-out identities: {result}")

    def vae(self) -> None:
        """The toy SDXL's VAE, trained from scratch on crops of the scenes."""
        vae = toy_stack(self.config.base.seed).vae
        images, masks = np.load(self.out / "data" / "images.npy"), np.load(self.out / "data" / "face_masks.npy")
        train_vae(vae, images, self.config.base, self.log, masks, self.device)
        vae.save_pretrained(self.out / "vae", safe_serialization=True)

    def base(self) -> None:
        """The toy SDXL's U-Net and text encoders, trained on the VAE from scratch (or from ``base_from``);
        samples for a look."""
        images = np.load(self.out / "data" / "images.npy")
        captions = json.loads((self.out / "data" / "captions.json").read_text())
        config = self.config
        train_base_model(
            images, captions, self.out / "vae", self.out / "base", config.base, self.log, self.device, config.base_from
        )
        save_base_samples(self.out / "base", self.out / "base-samples.png", captions[:8], config.image_size)

    def adapter(self) -> None:
        """RealisID trained by the project's own loop (``realisid train``) on the toy base model."""
        self._train_adapter("adapter", ["local", "global"])

    def local_only(self) -> None:
        """The local branch trained alone (the global one stays at zero): "w/o B_global"."""
        self._train_adapter("local_only", ["local"])

    def global_only(self) -> None:
        """The global branch trained alone (the local one stays at zero): "w/o B_local"."""
        self._train_adapter("global_only", ["global"])

    def instantid(self) -> None:
        """The InstantID-style baseline (one whole-latent ControlNet), trained the same way."""
        from realisid.models import InstantIDStyleAdapter

        self._train_adapter("instantid", ["global"], InstantIDStyleAdapter)

    def _train_adapter(self, stage: str, branches: list[str], kind: type[IdentityAdapter] = RealisIDAdapter) -> None:
        """``realisid train`` of a fresh adapter of ``kind`` with ``branches`` into ``OUT/stage/run``,
        reusing the frozen outputs the ``adapter`` stage precomputed (the same samples for every row)."""
        from realisid.loading import tiny_adapter_config

        from .base_model import load_unet

        base, folder = self.out / "base", self.out / stage
        kind.from_unet(load_unet(base), tiny_adapter_config()).save_pretrained(folder / "init")
        config = self.config
        result = self.train_adapter(
            folder, folder / "init", branches, self.out / "data" / "shards", base, self.out / PRECOMPUTED,
            max_steps=config.adapter_steps, resolution=config.image_size, batch_size=config.adapter_batch,
            learning_rate=config.adapter_lr,
        )
        (folder / "losses.json").write_text(json.dumps(result.losses) + "\n")

    def evaluate(self) -> None:
        """The evaluation harness once per seed, then the tables with their spread over seeds."""
        from realisid.evaluation import EvaluationConfig, evaluate

        from .evaluation import toy_prompts, write_references
        from .proxies import DenoisingLoss
        from .tables import scored_records, write_sample_sheet, write_tables

        folder = self.out / "evaluate"
        write_references(folder / "identities", self.config.eval_identities, paint=self.config.paint)
        (folder / "prompts.txt").write_text("\n".join(toy_prompts(self.config.eval_prompts)) + "\n")
        configs = []
        for seed in self.config.eval_seeds:
            path = folder / f"seed-{seed}.yaml"
            path.write_text(yaml.safe_dump(evaluation_config(self.out, seed, self.config, self.device)))
            configs.append(EvaluationConfig.from_yaml(path))
            self.log(f"report: {evaluate(configs[-1])}")
        harmony = DenoisingLoss(self.out / "base")
        runs = [scored_records(config, harmony) for config in configs]
        self.log(write_tables(configs, runs, self.out))
        write_sample_sheet(configs[0], self.out / "samples.png")

    def ship(self) -> None:
        """The base model and adapter as fp16 safetensors, and the metric, into ``ship_to``."""
        from ..shipped import ToyWorld, export_weights

        world = ToyWorld(self.config.paint, self.config.image_size, "realisid toy-reproduce")
        adapter = self.out / "adapter" / "run" / "adapter"
        export_weights(self.out / "base", adapter, self.out / "metric", world, self.ship_to)
        self.log(f"weights written to {self.ship_to}")

    STAGES = STAGES


METHODS = (
    {"name": "renderer", "label": "renderer (ceiling)", "target": "realisid_toy.lab.evaluation:renderer_generator"},
    {"name": "renderer-vae", "label": "renderer → VAE (ceiling in latent space)",
     "target": "realisid_toy.lab.evaluation:renderer_generator", "vae": "base/vae"},
    {"name": "realisid", "label": "RealisID (full)"},
    {"name": "local-trained", "label": "w/o B_global (local branch trained alone)", "adapter": "local_only/run/adapter"},
    {"name": "global-trained", "label": "w/o B_local (global branch trained alone)", "adapter": "global_only/run/adapter"},
    {"name": "local-only", "label": "full, global branch switched off", "global_scale": 0.0},
    {"name": "global-only", "label": "full, local branch switched off", "local_scale": 0.0},
    {"name": "no-id", "label": "no ID (id_scale 0)", "id_scale": 0.0},
    {"name": "id-from-start", "label": "full, ID from the first step (id_start 0)", "id_start": 0.0},
    {"name": "instantid", "label": "InstantID-style (one whole-latent ControlNet)", "adapter": "instantid/run/adapter"},
)
"""The rows: the full adapter, each branch trained alone, the full adapter with a branch or the ID
switched off at sampling or the ID joining from the first step (no delayed subject conditioning),
the InstantID-style baseline, and the renderer's ceilings."""


def evaluation_config(out: Path, seed: int, config: RecipeConfig, device: str = "cpu") -> dict:
    """The evaluation YAML of one seed (``realisid evaluate --config`` reads it too), written into ``out/evaluate``; the models sample on
    ``device`` with ``config.inference_steps`` at ``config.image_size``."""
    out = out.resolve()
    methods = []
    for method in METHODS:
        options = {"kind": "python", "target": "realisid_toy.lab.evaluation:toy_generator", "device": device,
                   "base": str(out / "base"), "adapter": str(out / "adapter" / "run" / "adapter"), "num_inference_steps": config.inference_steps}
        for key in ("adapter", "vae"):
            if key in method:
                method = {**method, key: str(out / method[key])}
        methods.append({**options, **method} if "target" not in method else {"kind": "python", **method})
    return {
        "identities": "identities",
        "prompts": "prompts.txt",
        "output_dir": f"seed-{seed}",
        "n_per_prompt": 1,
        "seed": seed,
        "height": config.image_size,
        "width": config.image_size,
        "scenarios": {"small": ["1/7", "1/6"]},
        "sizes": ["1/4", "1/5", "1/6", "1/7"],
        "ablation_scenarios": ["small"],
        "metrics": {"identity_backend": "synthetic", "identity_weights": "../metric"},
        "methods": methods,
        "ablations": [{"name": m["name"]} for m in METHODS],
    }


@torch.no_grad()
def save_base_samples(base: Path, path: Path, captions: list[str], size: int, steps: int = 30) -> None:
    """A row of ``size×size`` base-model samples for ``captions`` (seeded), saved as one image."""
    from diffusers import DDIMScheduler, StableDiffusionXLPipeline
    from diffusers.utils import make_image_grid

    pipe = StableDiffusionXLPipeline.from_pretrained(base)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    images = pipe(
        captions,
        height=size,
        width=size,
        num_inference_steps=steps,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(0),
    ).images
    make_image_grid(images, 1, len(images)).save(path)


def recipe_config(
    preset: str = "cpu",
    paint: Paint = "none",
    face_sizes: tuple[float, float] | None = None,
    image_size: int | None = None,
    base_from: Path | None = None,
    base_steps: int | None = None,
    base_lr: float | None = None,
) -> RecipeConfig:
    """The ``preset``'s sizes with the world (face paint, face sizes, image size) and the base
    training changed where given (``None`` keeps the preset's)."""
    config = PRESETS[preset]()
    changes = {"unet_steps": base_steps, "unet_lr": base_lr}
    base = dataclasses.replace(config.base, **{k: v for k, v in changes.items() if v is not None})
    return dataclasses.replace(
        config,
        paint=paint,
        image_size=image_size or config.image_size,
        rel_size=face_sizes or config.rel_size,
        base=base,
        base_from=base_from,
    )


def run_recipe(
    out: Path,
    config: RecipeConfig,
    ship_to: Path | None = None,
    stages: tuple[str, ...] | None = None,
    device: str | None = None,
) -> dict[str, float]:
    """Runs the ``stages`` (default all) of the recipe not done yet on ``device`` (default: cuda when
    there is one); returns every stage's seconds so far."""
    return Recipe(out, config, ship_to, device=run_device(device)).run(stages)
