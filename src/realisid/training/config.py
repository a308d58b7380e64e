"""The training configuration: defaults are the paper's; a YAML file and ``key=value`` overrides on top."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import RealisIDError
from ..presets import SDXL_BASE
from .timesteps import TIMESTEP_SAMPLING

BRANCHES = ("local", "global")
OPTIMIZERS = ("adamw", "adamw8bit")


@dataclass
class TrainConfig:
    """Everything a run needs. Defaults reproduce the paper (SDXL-1.0, 1024 px, AdamW, Eq. 7 with λ=1)."""

    data: str | None = None
    """Folder of shards written by ``realisid prepare``."""
    output_dir: str = "realisid-run"
    tiny: bool = False
    """Train on the offline tiny stack (tests, smoke runs) instead of SDXL."""
    base: str = SDXL_BASE
    image_encoder: str | None = None
    """The ID image encoder (folder or hub id); by default the base folder's own ``image_encoder/``,
    else CLIP ViT-H/14 (:func:`realisid.loading.load_stack`)."""
    init_adapter: str | None = None
    """Start from this adapter folder instead of fresh branches copied from the U-Net. An
    InstantID-style folder (:class:`~realisid.models.InstantIDStyleAdapter`) trains that baseline:
    its one branch is ``global``."""

    resolution: int = 1024
    batch_size: int = 16
    """Samples per optimizer step over all processes and accumulation steps (paper: 16)."""
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-5
    weight_decay: float = 1e-2
    optimizer: str = "adamw"
    """``adamw`` (PyTorch's, the paper's) or ``adamw8bit`` (bitsandbytes' AdamW with 8-bit states: 2
    bytes per trained parameter instead of 8; ``pip install 'realisid[scale]'``)."""
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    max_steps: int = 100_000
    seed: int = 0
    lam: float = 1.0
    """``λ`` of Eq. 7: weight of the face term."""
    drop_id: float = 0.05
    drop_text: float = 0.05
    drop_both: float = 0.05
    timestep_sampling: str = "uniform"
    """``uniform`` (the paper's, DDPM's) or ``cubic`` (T2I-Adapter's: four steps in five at
    ``t > T/2``); :mod:`~realisid.training.timesteps`."""
    branches: list[str] = field(default_factory=lambda: list(BRANCHES))
    """The branches trained and used: both (the paper), or one alone for the Table 2 ablation (the
    other stays at its zero initialisation, so the saved adapter is the ablated model)."""
    mixed_precision: str = "no"
    """``no``, ``fp16`` or ``bf16``: the frozen models run in it, the trained weights stay fp32."""
    gradient_checkpointing: bool = False
    channels_last: bool = True
    """The U-Net and the branches in channels-last memory format: convolutions run faster on oneDNN
    (CPU) and tensor cores (``benchmarks/train_speed.py``). Off under DeepSpeed and FSDP."""
    precompute: bool = False
    """Encode VAE posteriors, text and CLIP features once, into ``OUTPUT_DIR/precomputed/``, and train on those."""
    shuffle_buffer: int = 256
    cpu_threads: int | None = None
    """torch's CPU threads (default: torch's choice); the tiny stack's small tensors run fastest on one."""

    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    resume: str | None = None
    """``latest`` or a checkpoint folder."""
    log_every: int = 10
    validation_every: int = 0
    """Generate validation images every N steps (0: never)."""
    validation_prompts: list[str] = field(default_factory=lambda: ["a photo of a person in a park"])
    validation_steps: int = 30

    @property
    def output(self) -> Path:
        return Path(self.output_dir)


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}

TINY_DEFAULTS = {"resolution": 128, "batch_size": 2, "max_steps": 20, "checkpoint_every": 10, "cpu_threads": 1}
"""A smoke run's size on the tiny stack (its U-Net's own 16 × 16 latents): the defaults of ``tiny``
runs for the keys a file or override does not set (shards prepared larger are scaled down)."""


def load_config(path: str | Path | None = None, overrides: dict[str, object] | None = None) -> TrainConfig:
    """Defaults (:data:`TINY_DEFAULTS` over them for a tiny run), then the YAML file at ``path``, then
    ``overrides``; unknown keys are errors."""
    values: dict[str, object] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise RealisIDError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise RealisIDError(f"config file {path} is not readable YAML: {_one_line(error)}") from None
        if not isinstance(loaded, dict):
            raise RealisIDError(f"config file {path} must hold a mapping of keys to values")
        values.update(loaded)
    values.update(overrides or {})
    if values.get("tiny"):
        values = {**TINY_DEFAULTS, **values}
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise RealisIDError(f"unknown config key(s) {', '.join(unknown)}; known keys: {', '.join(_FIELDS)}")
    config = TrainConfig(**{key: _coerce(key, value) for key, value in values.items()})
    _check(config)
    return config


def parse_override(text: str) -> tuple[str, object]:
    """``key=value`` with a YAML value (``lam=0.5``, ``validation_prompts=[a, b]``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise RealisIDError(f"an override is key=value, got {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise RealisIDError(f"override {text!r}: the value is not valid YAML ({_one_line(error)})") from None


def _one_line(error: Exception) -> str:
    """``error``'s message on one line (YAML's span several)."""
    return " ".join(str(error).split())


def _coerce(key: str, value: object) -> object:
    """``value`` converted to the field's type when YAML gives a compatible one, else an error."""
    hint = typing.get_type_hints(TrainConfig)[key]
    args = typing.get_args(hint)
    if type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    kind = typing.get_origin(hint) or hint
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    fits = {
        bool: isinstance(value, bool),
        int: number and float(value).is_integer(),
        float: number,
        str: number or isinstance(value, str),
        tuple: isinstance(value, (list, tuple)) and len(value) == len(args or typing.get_args(hint)),
        list: isinstance(value, (list, str)),
    }[kind]
    if not fits:
        raise RealisIDError(f"config key {key} must be {getattr(hint, '__name__', hint)}, got {value!r}")
    if kind is tuple:
        return tuple(float(v) for v in value)
    if kind is list:
        return [str(v) for v in ([value] if isinstance(value, str) else value)]
    return kind(value)


def _check(config: TrainConfig) -> None:
    positive = (
        "resolution",
        "batch_size",
        "gradient_accumulation_steps",
        "max_steps",
        "checkpoint_every",
        "log_every",
    )
    for key in positive:
        if getattr(config, key) < 1:
            raise RealisIDError(f"config key {key} must be at least 1, got {getattr(config, key)}")
    if config.resolution % 8:
        raise RealisIDError(f"resolution must be a multiple of 8, got {config.resolution}")
    if config.mixed_precision not in ("no", "fp16", "bf16"):
        raise RealisIDError(f"mixed_precision must be no, fp16 or bf16, got {config.mixed_precision!r}")
    if config.optimizer not in OPTIMIZERS:
        raise RealisIDError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {config.optimizer!r}")
    if not 0 <= config.drop_id + config.drop_text + config.drop_both <= 1:
        raise RealisIDError("drop_id + drop_text + drop_both must lie in [0, 1]")
    if config.timestep_sampling not in TIMESTEP_SAMPLING:
        known = ", ".join(TIMESTEP_SAMPLING)
        raise RealisIDError(f"timestep_sampling must be one of {known}, got {config.timestep_sampling!r}")
    if not config.branches or not set(config.branches) <= set(BRANCHES):
        raise RealisIDError(f"branches must be one or both of {', '.join(BRANCHES)}, got {config.branches}")
    if config.cpu_threads is not None and config.cpu_threads < 1:
        raise RealisIDError(f"cpu_threads must be at least 1, got {config.cpu_threads}")
    if config.keep_checkpoints < 1:
        raise RealisIDError(f"keep_checkpoints must be at least 1, got {config.keep_checkpoints}")
