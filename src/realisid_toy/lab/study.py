"""The small-face study: a toy world where the paper's mechanism can show, and its arms, stage by stage.

Run by ``realisid toy-study [--out experiments/small-faces] [--device cuda]``. The world: 256-px
scenes of people whose identity is a 4×4 grid of face-paint tiles finer than a latent cell (plus
their shapes and colours; :meth:`StudyConfig.painted`: the fallback world, paint in four regions),
the toy VAE fine-tuned to decode rescaled latents, a toy U-Net with
cross-attention at its first level too (a documented deviation from SDXL: ID tokens reach a 1/7
face on 27 cells instead of 6) and an ID encoder pre-trained the way CLIP is. Then gates, the arms
(RealisID, the InstantID-style baseline, no crop, trained on large faces only, efficient switches;
two training seeds each) and the measurement fixed in :mod:`.verdict` before any arm ran.

Each stage writes ``OUT/<stage>/stage.json`` when it ends; its small weights (fp16) and numbers are
meant to be committed, so the study resumes from the last finished stage on a fresh clone. Renderings
and shards are not committed: they are rendered again from their seeds when missing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
import yaml

from realisid.errors import RealisIDError
from realisid.models import IdentityAdapter, InstantIDStyleAdapter, RealisIDAdapter, RealisIDConfig
from realisid.presets import EFFICIENT_ADAPTER, EFFICIENT_SAMPLING
from realisid.sampling import SamplingOptions

from ..world.identity_net import TrainingConfig
from ..world.traits import Paint
from .base_model import VAE_FINE_TUNES, BaseTraining
from .id_encoder import EncoderPretraining
from .stages import StagedRun, run_device
from .verdict import CONDITIONS, Estimate

IMAGE_SIZE = 256
"""Side of the study's scenes: 32×32 latents of the 16-channel 8x toy VAE."""
LOCAL_SIZE = 32
"""``L``: the local branch up-samples every face crop to the whole latent's side, as 128 does for SDXL."""
SIZES = (1 / 4, 1 / 5, 1 / 7)
"""Face sizes (box side over image side) the arms are measured at."""
SHEET_PEOPLE = 4
"""People (rows) in each arm's ``pictures.jpg``, at its first sampling seed."""
PHASES = "phases.json"
"""An arm's finished training phases and their looks (the learning curve)."""
LOOKED = "ID − no ID at 1/4"
"""The key a phase's look adds to its record."""
REACHED = "reached the bar"
"""Whether that look reached :attr:`StudyConfig.phase_bar` with its interval above 0."""
PHASE_SEEDS = 1000
"""Phase ``k`` of an arm at training seed ``s`` trains with seed ``s + k·PHASE_SEEDS``."""
SHIPPED_TO = "shipped to"
"""The key of the ``ship`` stage's record naming where it shipped, relative to the study's folder."""


@dataclass(frozen=True)
class Arm:
    """One way of training an adapter; each is trained at every seed of :attr:`StudyConfig.seeds`."""

    name: str
    kind: str = "realisid"
    """``realisid`` or ``instantid`` (the InstantID-style baseline)."""
    config: dict = field(default_factory=dict)
    """Changes to the adapter config (``local_crop``, ``local_size``, ``branch_pooled_text``)."""
    sampling: dict = field(default_factory=dict)
    """Changes to the sampling options it is measured with (``id_stop``)."""
    large_only: bool = False
    """Trained only on faces of 1/4 to 1/2 of the image (measured at all sizes)."""


ARMS = (
    Arm("realisid"),
    Arm("instantid", kind="instantid"),
    Arm("no-crop", config={"local_crop": False}),
    Arm("realisid-large", large_only=True),
    Arm("instantid-large", kind="instantid", large_only=True),
    Arm("efficient", config=EFFICIENT_ADAPTER, sampling=EFFICIENT_SAMPLING),
    Arm("small-L", config={"local_size": LOCAL_SIZE // 2}),
)
"""The arms, in the order they are trained (the verdict needs the first three)."""
COMPARISONS = {
    "realisid": "instantid", "realisid-large": "instantid-large", "efficient": "realisid", "small-L": "realisid"
}
"""Paired differences reported beside the verdict: RealisID against the baseline at every size, the scale
gap when both are trained on large faces only, and what each efficient switch costs in identity."""


@dataclass(frozen=True)
class StudyConfig:
    """Every size of the study (defaults: the full run; :meth:`smoke` for tests)."""

    paint: Paint = "tiles"
    """What the world's people wear on the face: ``tiles`` (finer than a latent cell) or ``regions``."""
    arms: tuple[str, ...] = tuple(arm.name for arm in ARMS)
    """The :data:`ARMS` trained, by name, in :data:`ARMS`' order."""
    scenes: int = 6000
    portraits: int = 6000
    metric: TrainingConfig = field(default_factory=TrainingConfig)
    segmenter_images: int = 1500
    id_encoder: EncoderPretraining = field(default_factory=EncoderPretraining)
    portrait_steps: int = 3000
    scene_steps: tuple[int, ...] = (1500, 1000, 1000, 1000)
    """Phases of the base's fine-tune on the scenes, each from where the last ended (warm restarts); the
    last three by the rule in ``docs/toy-reproduction.md``."""
    vae: tuple[BaseTraining, ...] = VAE_FINE_TUNES
    """The fine-tunes of the shipped toy VAE (their ``vae_*`` fields), each from where the last ended."""
    caption_gain: float = 0.09
    """Gate 3: the margin the full caption must add over the scene caption's floor (the first base's
    +0.058 plus one standard error)."""
    unet_batch: int = 32
    probe_steps: int = 300
    adapter_steps: int = 2000
    """Steps of each of an arm's training phases."""
    adapter_phases: int = 4
    """The most phases an arm trains, each from where the last ended and looked at (:meth:`Study.look`);
    every arm trains as many as RealisID seed 0 took to reach :attr:`phase_bar` (:meth:`Study.phases_needed`)."""
    phase_bar: float = 0.10
    """The look's ID − no ID at 1/4 that ends RealisID seed 0's phases (twice the verdict's validity line)."""
    adapter_batch: int = 16
    adapter_lr: float = 1e-3
    seeds: tuple[int, ...] = (0, 1)
    people: int = 32
    """Held-out people a cell is measured on; each at :attr:`picture_seeds`: 64 pictures a cell."""
    picture_seeds: tuple[int, ...] = (0, 1)
    gate_people: int = 16
    inference_steps: int = 20
    enforce_gates: bool = True
    """Stop at a failed gate (the smoke run measures its gates but cannot pass them)."""
    sizes: Literal["full", "smoke"] = "full"
    """``smoke``: the tiny sizes of :meth:`smoke`, kept in the folder's world record so they never mix with full ones."""

    def painted(self) -> StudyConfig:
        """The fallback world: face paint in four regions (blocks a few latent cells wide) and only the
        first of the base's scene phases."""
        encoder = dataclasses.replace(self.id_encoder, paint="regions")
        arms = ("realisid", "instantid", "efficient", "small-L")  # the demo's, blending's and efficient mode's
        return dataclasses.replace(
            self, paint="regions", id_encoder=encoder, scene_steps=self.scene_steps[:1], arms=arms
        )

    @classmethod
    def smoke(cls) -> StudyConfig:
        return cls(
            scenes=32, portraits=32, metric=TrainingConfig(identities=20, per_identity=4, epochs=1),
            segmenter_images=240, id_encoder=EncoderPretraining.smoke(), vae=(BaseTraining(vae_steps=2, vae_batch=4),) * 2,
            portrait_steps=2, scene_steps=(2,), unet_batch=4, probe_steps=2, adapter_steps=1, adapter_phases=2,
            phase_bar=math.inf, adapter_batch=2,
            people=2, picture_seeds=(0,), gate_people=2, inference_steps=2, enforce_gates=False, sizes="smoke",
        )


class GateFailed(RealisIDError):
    """A gate of the study failed: the long runs after it would measure nothing."""


class Study(StagedRun):
    """The study's stages over ``out``; a stage is done when its ``stage.json`` exists (and, for the
    renderings, when they do)."""

    UNRECORDED: ClassVar[dict[str, str]] = {"sizes": "full"}  # the studies recorded before smoke runs were told apart

    def __init__(
        self, out: str | Path, config: StudyConfig, log=print, device: str = "cpu", ship_to: str | Path | None = None
    ):
        super().__init__(out, log, device)
        names = [arm.name for arm in ARMS]
        unknown = sorted(set(config.arms) - set(names))
        if unknown:
            raise RealisIDError(f"unknown arms {', '.join(unknown)}; the study's arms: {', '.join(names)}")
        self.config, self.arms = config, tuple(arm for arm in ARMS if arm.name in config.arms)
        self.ship_to = Path(ship_to) if ship_to else self.out / "weights"
        # every arm at the first seed before any at the second: each comparison's first reading comes early
        self.arm_stages = {arm_stage(arm, seed): (arm, seed) for seed in config.seeds for arm in self.arms}
        self.STAGES = (
            "data", "metric", "vae", "id_encoder", "world_gates", "base_portraits", "base", "base_gate", "probe_gate",
            *self.arm_stages, "evaluate", "ship",
        )

    def world(self) -> dict:
        """The face paint and the sizes (smoke or full) every stage is made in."""
        return {"paint": self.config.paint, "sizes": self.config.sizes}

    def done(self, name: str) -> bool:
        if name == "data":
            return all((self.out / "data" / part / "shards" / "manifest.json").is_file() for part in DATA_PARTS)
        if name == "vae":
            return len(self._phase_steps("vae")) == len(self.config.vae)
        if name == "base":
            return len(self._phase_steps("base")) == len(self.config.scene_steps)
        if name == "ship":
            shipped = self._shipped()
            return shipped.get("seeds compared") == list(self.config.seeds) and shipped.get(SHIPPED_TO) == self._target()
        if name in self.arm_stages and len(self.phases(name)) < self.phases_needed():
            return False
        return (self.out / name / "stage.json").is_file()

    def stage(self, name: str) -> None:
        if name in self.arm_stages:
            return self._arm(*self.arm_stages[name])
        return super().stage(name)

    def _record(self, name: str, numbers: dict) -> dict:
        (self.out / name / "stage.json").write_text(json.dumps(numbers, indent=2) + "\n")
        self.log(f"[{name}] {json.dumps(numbers)}")
        return numbers

    # ------------------------------------------------------------------------------------ world
    def data(self) -> None:
        """Portraits (128 px, faces 1/2–9/10) for the base's first stage; scenes (256 px, faces 1/8–1/2)
        and large-face scenes (1/4–1/2) for the base and the adapters, as arrays and shards."""
        from .shards import render_world

        for part, (count, size, rel_size, first) in data_parts(self.config).items():
            render_world(self.out / "data" / part, range(first, first + count), size, rel_size, self.config.paint, LOCAL_SIZE)

    def metric(self) -> None:
        """The identity metric (embedding and face finder) of the world; held-out verification."""
        result = self.train_metric(self.config.metric, self.config.segmenter_images, self.config.paint)
        self._record("metric", {"verification": json.loads(str(result))})

    def vae(self) -> None:
        """The shipped toy VAE fine-tuned on the scenes to decode rescaled latents as rescaled images,
        one phase after another (warm restarts); each finished phase is kept, so a longer recipe goes on from it."""
        from ..shipped import WEIGHTS
        from .base_model import fine_tune_vae

        images, masks = self._arrays("scenes")
        phases = self._phase_steps("vae")
        for phase in self.config.vae[len(phases) :]:
            start = self.out / "vae" / "model" if phases else WEIGHTS / "base" / "vae"
            vae = fine_tune_vae(start, images, phase, self.log, masks, self.device)
            vae.half().save_pretrained(self.out / "vae" / "model")
            phases.append(phase.vae_steps)
            self._record("vae", {"phases": phases, "images": len(images)})

    def _phase_steps(self, name: str) -> list[int]:
        """Steps of each finished phase of stage ``name`` (``vae``, ``base``); an arm's are in :meth:`phases`."""
        record = self.out / name / "stage.json"
        return json.loads(record.read_text())["phases"] if record.is_file() else []

    def id_encoder(self) -> None:
        """A CLIP-style toy ID encoder, contrastive on face crops and captions of people no arm sees."""
        from .id_encoder import RECORD, pretrain_id_encoder

        folder = pretrain_id_encoder(self.config.id_encoder, self.out / "id_encoder" / "model", self.log, self.device)
        record = json.loads((folder / RECORD).read_text())
        self._record("id_encoder", {"seconds": record["seconds"], "final loss": record["losses"][-1]})

    def world_gates(self) -> None:
        """Gates 1–2 (and the rescaled decodes they rest on): the VAE keeps a 1/7 face, and the
        up-sampled crop the local branch sees decodes to at least half of that identity."""
        from .gates import rescale_gate, upsample_gate, vae_gate

        vae, metric, people, paint = self._vae(), self._metric(), self.config.gate_people, self.config.paint
        held_out = np.stack([np.asarray(r.image) for r in held_out_scenes(people, paint)])
        self._gates("world_gates", {
            "up-sampled decodes within 3 dB of the round trip": rescale_gate(vae, held_out, max_drop_db=3.0),
            "1: VAE round trip at 1/7": vae_gate(vae, metric, 0.1, 1 / 7, IMAGE_SIZE, people, paint),
            "2: up-sampled crop at 1/7": upsample_gate(vae, metric, 0.5, 1 / 7, IMAGE_SIZE, LOCAL_SIZE, people, paint),
        })

    def _gates(self, name: str, gates: dict) -> None:
        self._record(name, {key: dataclasses.asdict(gate) for key, gate in gates.items()})
        failed = [key for key, gate in gates.items() if not gate.passed]
        if failed and self.config.enforce_gates:
            (self.out / name / "stage.json").replace(self.out / name / "failed.json")  # kept, not done
            raise GateFailed(f"gate {', '.join(failed)} failed ({self.out / name}): rethink the world before the long runs")

    # ------------------------------------------------------------------------------------ base
    def base_portraits(self) -> None:
        """The toy U-Net (cross-attention at every level) and text encoders from scratch on the portraits."""
        numbers = self._train_base("portraits", self.config.portrait_steps, init=None)
        self._record("base_portraits", {"steps": self.config.portrait_steps, **numbers})
        self._drop_run(self.out / "base_portraits")

    def base(self) -> None:
        """The portrait base fine-tuned on the 256-px scenes, with the pre-trained ID encoder beside it, in
        :attr:`StudyConfig.scene_steps` phases; a new phase makes every later stage stale, so they go."""
        phases = self._phase_steps("base")
        for steps in self.config.scene_steps[len(phases) :]:
            self._drop_stages_after("base")
            init = self.out / "base" / "model" if phases else self.out / "base_portraits" / "model"
            numbers = self._train_base("scenes", steps, init, seed=len(phases))
            phases.append(steps)
            self._record("base", {"phases": phases, **numbers})
            self._drop_run(self.out / "base")  # its checkpoint: cut off before the record, the phase resumes from it

    def _drop_stages_after(self, name: str) -> None:
        """Removes the folders of the stages after ``name``, made from what ``name`` now replaces."""
        for later in self.STAGES[self.STAGES.index(name) + 1 :]:
            if (self.out / later).exists():
                shutil.rmtree(self.out / later)
                self.log(f"[{name}] removed {self.out / later}: made from the earlier {name} (git keeps its commits)")

    def _train_base(self, part: str, steps: int, init: Path | None, seed: int = 0) -> dict:
        from .base_model import TOY_UNET_ATTENTION_AT_EVERY_LEVEL, BaseTraining, train_base_model

        images, _ = self._arrays(part)
        captions = json.loads((self.out / "data" / part / "captions.json").read_text())
        config = BaseTraining(unet_steps=steps, unet_batch=self.config.unet_batch, seed=seed)
        stage = "base" if part == "scenes" else "base_portraits"
        shutil.rmtree(self.out / stage / "precomputed", ignore_errors=True)
        train_base_model(
            images, captions, self.out / "vae" / "model", self.out / stage / "model", config, self.log, self.device,
            init, unet=TOY_UNET_ATTENTION_AT_EVERY_LEVEL, image_encoder=self.out / "id_encoder" / "model",
            save_dtype=torch.float16, checkpoint=self.out / stage / "run" / "checkpoint.pt",
        )
        return {"batch": config.unet_batch, "images": len(images)}

    def base_gate(self) -> None:
        """Gate 3: the base draws the person its caption names (the full caption's margin above the scene caption's)."""
        from .gates import caption_gate

        gate = caption_gate(
            self._base(), self._metric(), self.config.caption_gain, self.config.gate_people, IMAGE_SIZE,
            self.config.paint, self.device,
        )
        self._gates("base_gate", {"3: the base draws the person its caption names": gate})

    def probe_gate(self) -> None:
        """Gate 4: a short RealisID run reads its ID (the probe's face term grows with another's ID)."""
        from realisid.training import load_config
        from realisid.training.probe import probe

        from .gates import probe_gate

        folder = self._train(Arm("realisid"), seed=0, steps=self.config.probe_steps, folder=self.out / "probe_gate")
        self._drop_run(folder)
        config = load_config(folder / "train.yaml")
        errors = probe(config, folder / "adapter", device=self.device)
        self._gates("probe_gate", {"4: another's ID worsens the face term": probe_gate(errors, 0.0)})

    # ------------------------------------------------------------------------------------ arms
    def _arm(self, arm: Arm, seed: int) -> None:
        """One arm at one training seed: ``realisid train`` in :meth:`phases_needed` phases, each looked at
        (``phases.json``); then its fp16 weights, its pictures' margins and ``pictures.jpg`` (the first
        people's references, then at each size with and without the ID)."""
        from .face_keeping import adapter_pairs, save_sheet
        from .verdict import Measured

        name = arm_stage(arm, seed)
        folder, phases = self.out / name, self.phases(name)
        for stale in ("stage.json", "margins.npz", "pictures.jpg"):  # the measurement of an earlier last phase
            (folder / stale).unlink(missing_ok=True)
        if (folder / "run").exists() and self._run_phase(folder, seed) < len(phases):  # cut off once recorded
            self._drop_run(folder)
        if phases and LOOKED not in phases[-1]:  # cut off during its look
            self._look_at_last(arm, name, phases)
        while len(phases) < self.phases_needed():
            phase, started = len(phases), time.monotonic()
            self._train(arm, seed, self.config.adapter_steps, folder, phase)
            steps = (phase + 1) * self.config.adapter_steps
            phases.append({"steps": steps, "seconds": round(time.monotonic() - started, 1)})
            self._save_phases(name, phases)  # trained: a cut during its look does not train it again
            self._drop_run(folder)  # only now: cut off before the record, the phase resumes from its run
            self._look_at_last(arm, name, phases)
        pairs, sheet = adapter_pairs(
            self._base(), folder / "adapter", self._metric(), SIZES, self.config.people, self.config.picture_seeds,
            self.sampling(arm), self.device, self.config.paint, IMAGE_SIZE,
        )
        measured = Measured.from_pairs(pairs)
        np.savez_compressed(folder / "margins.npz", **measured.arrays())
        save_sheet(sheet[:SHEET_PEOPLE], folder / "pictures.jpg")
        self._record(name, {"steps": phases[-1]["steps"], **measured.summary()})

    @staticmethod
    def _run_phase(folder: Path, seed: int) -> int:
        """The phase that ``folder/run`` trains (or trained), read from its ``train.yaml``'s seed."""
        settings = folder / "train.yaml"
        return (yaml.safe_load(settings.read_text())["seed"] - seed) // PHASE_SEEDS if settings.is_file() else 0

    @staticmethod
    def _drop_run(folder: Path) -> None:
        """Removes ``folder``'s training run and fresh adapter, once what they made is recorded."""
        shutil.rmtree(folder / "run", ignore_errors=True)
        shutil.rmtree(folder / "init", ignore_errors=True)

    def phases_needed(self) -> int:
        """The phases every arm trains: as many as RealisID seed 0 took for its look to first reach the bar,
        :attr:`StudyConfig.adapter_phases` while it has not (so its own phases stop at the bar)."""
        first = self.phases(arm_stage(self.arms[0], self.config.seeds[0]))
        reached = [number for number, phase in enumerate(first, 1) if phase.get(REACHED)]
        return min(reached[:1] + [self.config.adapter_phases])

    def phases(self, name: str) -> list[dict]:
        """The training phases arm stage ``name`` has finished, each with its :meth:`look`."""
        record = self.out / name / PHASES
        return json.loads(record.read_text()) if record.is_file() else []

    def _save_phases(self, name: str, phases: list[dict]) -> None:
        (self.out / name / PHASES).write_text(json.dumps(phases, indent=2) + "\n")
        self.log(f"[{name}] phase {len(phases)}: {json.dumps(phases[-1])}")

    def _look_at_last(self, arm: Arm, name: str, phases: list[dict]) -> None:
        started = time.monotonic()
        phases[-1].update(self.look(arm, self.out / name / "adapter"))
        phases[-1]["look_seconds"] = round(time.monotonic() - started, 1)
        self._save_phases(name, phases)

    def look(self, arm: Arm, adapter: Path) -> dict[str, str]:
        """The learning curve's point: ID, no ID and ID − no ID at 1/4, the cell's people at its first
        sampling seed (half the arm's 1/4 pictures)."""
        from .face_keeping import adapter_pairs
        from .verdict import Measured, above_floor

        quarter = 1 / 4
        pairs, _ = adapter_pairs(
            self._base(), adapter, self._metric(), (quarter,), self.config.people, self.config.picture_seeds[:1],
            self.sampling(arm), self.device, self.config.paint, IMAGE_SIZE,
        )
        measured = Measured.from_pairs(pairs)
        gain = above_floor(measured, quarter)
        return {
            **{f"{c} at 1/4": f"{measured.estimate(c, quarter)} (missed {measured.missed[c, quarter]})"
               for c in CONDITIONS},
            LOOKED: str(gain),
            REACHED: reaches(gain, self.config.phase_bar),
        }

    def sampling(self, arm: Arm) -> SamplingOptions:
        """The checks' sampling options in :attr:`StudyConfig.inference_steps`, with the arm's changes."""
        from .check_sampling import CHECK_SAMPLING

        return dataclasses.replace(CHECK_SAMPLING, num_inference_steps=self.config.inference_steps, **arm.sampling)

    def _train(self, arm: Arm, seed: int, steps: int, folder: Path, phase: int = 0) -> Path:
        """``realisid train`` of ``arm`` into ``folder/run``: phase 0 from a fresh adapter seeded by ``seed``, a
        later one from ``folder/adapter`` (data order and dropout seeded anew); resumed from its last checkpoint
        when cut off. Writes the final adapter (fp16) and the losses of every phase; the caller drops the run
        once it has recorded the phase (:meth:`_drop_run`). Returns ``folder``."""
        part = "scenes-large" if arm.large_only else "scenes"
        shards = self._rendered(part) / "shards"  # checked first: a fresh clone has no renderings
        kind: type[IdentityAdapter] = InstantIDStyleAdapter if arm.kind == "instantid" else RealisIDAdapter
        init = folder / "adapter"
        if phase == 0:
            torch.manual_seed(seed)
            init = folder / "init"
            kind.from_unet(self._unet(), self.adapter_config(arm)).save_pretrained(init)
        branches = ["global"] if arm.kind == "instantid" else ["local", "global"]
        # the frozen outputs depend on the base's text encoders: kept beside it, gone when it is retrained
        shared = self.out / "base" / "precomputed" / part
        result = self.train_adapter(
            folder, init, branches, shards, self._base(), shared, resume=True, max_steps=steps,
            resolution=IMAGE_SIZE, batch_size=self.config.adapter_batch, learning_rate=self.config.adapter_lr,
            timestep_sampling="cubic", seed=seed + PHASE_SEEDS * phase, checkpoint_every=max(1, steps // 4),
        )
        if not shared.exists():
            shutil.copytree(folder / "run" / "precomputed", shared, copy_function=os.link)
        kind.from_pretrained(folder / "run" / "adapter").half().save_pretrained(folder / "adapter")
        earlier = json.loads((folder / "losses.json").read_text())[: phase * steps] if phase else []
        (folder / "losses.json").write_text(json.dumps(earlier + result.losses) + "\n")
        return folder

    def adapter_config(self, arm: Arm) -> RealisIDConfig:
        """The toy adapter config on this world's U-Net and ID encoder, with the arm's changes."""
        from transformers import CLIPVisionConfig

        from realisid.loading import tiny_adapter_config

        vision = CLIPVisionConfig.from_pretrained(self.out / "id_encoder" / "model")
        config = dataclasses.replace(
            tiny_adapter_config(), local_size=LOCAL_SIZE, image_feature_dim=vision.hidden_size,
            image_feature_tokens=(vision.image_size // vision.patch_size) ** 2 + 1,
        )
        return dataclasses.replace(config, **arm.config)

    # ------------------------------------------------------------------------------------ results
    def evaluate(self) -> None:
        """The arms' table with intervals over training seeds, the verdict, the two-person blending table."""
        from .face_keeping import blending_pairs
        from .verdict import blending_estimate, write_report

        self._measured_seeds(self.arms, "evaluate")
        measured = {arm.name: self._measured(arm) for arm in self.arms}
        blending = {}
        for arm in self.arms[:2]:  # RealisID and the InstantID-style baseline
            per_seed = [
                blending_pairs(self._base(), self.out / arm_stage(arm, seed) / "adapter", self._metric(),
                               self.config.people, self.config.picture_seeds, self.sampling(arm), self.device,
                               self.config.paint, IMAGE_SIZE)[0]
                for seed in self.config.seeds
            ]
            blending[arm.name] = blending_estimate(per_seed)
        report = write_report(measured, blending, COMPARISONS, SIZES, self.out / "evaluate")
        self._record("evaluate", report)

    def ship(self) -> None:
        """The RealisID seed with the largest margin at 1/4 of those measured, with the base and the metric,
        into ``ship_to``; done once every seed was compared and shipped there (run early, it ships the best so far)."""
        from ..shipped import ToyWorld, export_weights

        arm = self.arms[0]
        seeds = self._measured_seeds(self.arms[:1], "ship", every=False)
        at_quarter = {seed: self._measured(arm, (seed,)).estimate("ID", 1 / 4).mean for seed in seeds}
        stage = arm_stage(arm, max(seeds, key=at_quarter.get))
        world = ToyWorld(self.config.paint, IMAGE_SIZE, f"realisid toy-study, {stage}")
        export_weights(self._base(), self.out / stage / "adapter", self.out / "metric", world, self.ship_to)
        self._record("ship", {"shipped": stage, SHIPPED_TO: self._target(), "seeds compared": seeds, "ID at 1/4": at_quarter})

    def _shipped(self) -> dict:
        record = self.out / "ship" / "stage.json"
        return json.loads(record.read_text()) if record.is_file() else {}

    def _target(self) -> str:
        """Where :meth:`ship` writes, relative to the study's folder (the same on every clone)."""
        return os.path.relpath(self.ship_to.resolve(), self.out.resolve())

    def _measured_seeds(self, arms: tuple[Arm, ...], stage: str, every: bool = True) -> list[int]:
        """The training seeds at which every one of ``arms`` is measured; a one-line error naming the arm stages
        not measured yet when ``stage`` needs ``every`` seed (else one) and they lack it."""
        missing = [arm_stage(arm, seed) for seed in self.config.seeds for arm in arms
                   if not (self.out / arm_stage(arm, seed) / "margins.npz").is_file()]
        seeds = [seed for seed in self.config.seeds if not any(arm_stage(arm, seed) in missing for arm in arms)]
        if missing and (every or not seeds):
            raise RealisIDError(
                f"{', '.join(missing)} not measured yet in {self.out}: {stage} needs {'them' if every else 'one of them'}"
            )
        return seeds

    def _measured(self, arm: Arm, seeds: tuple[int, ...] | None = None):
        from .verdict import Measured

        seeds = seeds or self.config.seeds
        return Measured.load([self.out / arm_stage(arm, seed) / "margins.npz" for seed in seeds])

    # ------------------------------------------------------------------------------------ helpers
    def _rendered(self, part: str) -> Path:
        """The folder of the rendered set ``part`` (a one-line error naming the stage that renders them)."""
        folder = self.out / "data" / part
        if not (folder / "shards" / "manifest.json").is_file():
            painted = " --painted" if self.config.paint == "regions" else ""
            smoke = " --smoke" if self.config.sizes == "smoke" else ""
            raise RealisIDError(
                f"no renderings in {folder} (they are not committed): render them with "
                f"`realisid toy-study{painted}{smoke} --out {self.out} --stages data`"
            )
        return folder

    def _arrays(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        folder = self._rendered(part)
        return np.load(folder / "images.npy", mmap_mode="r"), np.load(folder / "face_masks.npy", mmap_mode="r")

    def _vae(self):
        from diffusers import AutoencoderKL

        return AutoencoderKL.from_pretrained(self.out / "vae" / "model", torch_dtype=torch.float32)

    def _metric(self):
        from ..world.backend import SyntheticIdentityBackend

        return SyntheticIdentityBackend.load(self.out / "metric")

    def _base(self) -> Path:
        return self.out / "base" / "model"

    def _unet(self):
        from .base_model import load_unet

        return load_unet(self._base()).float()


DATA_PARTS = ("portraits", "scenes", "scenes-large")


def data_parts(config: StudyConfig) -> dict[str, tuple[int, int, tuple[float, float], int]]:
    """Each rendered set: ``(count, image side, face sizes, first scene seed)``; disjoint seeds."""
    return {
        "portraits": (config.portraits, 128, (0.5, 0.9), 0),
        "scenes": (config.scenes, IMAGE_SIZE, (0.12, 0.5), 100_000),
        "scenes-large": (config.scenes, IMAGE_SIZE, (0.25, 0.5), 200_000),
    }


def held_out_scenes(count: int, paint: Paint) -> list:
    """Scenes of people wearing ``paint`` whom no stage trains on (the evaluation's seeds), at the study's sizes."""
    from ..world.sampling import sample_rendering
    from .evaluation import REFERENCE_SEED

    return [sample_rendering(seed, size=IMAGE_SIZE, rel_size=(0.12, 0.5), paint=paint)
            for seed in range(REFERENCE_SEED, REFERENCE_SEED + count)]


def reaches(gain: Estimate, bar: float) -> bool:
    """A look reaches ``bar``: ID − no ID at least ``bar`` with its 95 % interval above 0."""
    return bool(gain.mean >= bar and gain.low > 0)


def arm_stage(arm: Arm, seed: int) -> str:
    """The stage (and folder) name of ``arm`` at training ``seed``."""
    return f"arm-{arm.name}-s{seed}"


def run_study(
    out: Path, config: StudyConfig, stages: tuple[str, ...] | None = None, device: str | None = None,
    ship_to: Path | None = None,
):
    """Runs the study's ``stages`` (default all) not done yet on ``device`` (default: cuda when there is
    one); the ``ship`` stage writes into ``ship_to`` (default ``out/weights``)."""
    return Study(out, config, device=run_device(device), ship_to=ship_to).run(stages)
