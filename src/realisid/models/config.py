"""``RealisIDConfig``, the hyper-parameters every identity adapter is built from, and the
``config.json`` that stores them in a checkpoint folder with the folder's format tag and version."""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import CheckpointError

FORMAT_VERSION = 1
"""Version of the checkpoint folders (``config.json`` and the files beside it) this realisid reads."""
VAE_SCALE = 8
"""Pixels per latent cell: the landmark drawing of an ``L×L`` crop is ``8L×8L`` pixels."""


@dataclass
class RealisIDConfig:
    """Hyper-parameters of the adapter. Defaults are the paper's SDXL + CLIP ViT-H/14 setting."""

    cross_attention_dim: int = 2048
    """Width ``C`` of ``p_id``: the U-Net's cross-attention width."""
    image_feature_dim: int = 1280
    """Width ``D`` of the ID image encoder's penultimate hidden states."""
    image_feature_tokens: int = 257
    """Token count ``T`` of those hidden states (patches + class token)."""
    num_id_tokens: int = 16
    projection: Literal["perceiver", "linear"] = "perceiver"
    resampler_dim: int = 1280
    resampler_depth: int = 4
    resampler_heads: int = 20
    resampler_dim_head: int = 64
    local_size: int = 128
    """``L``: side of the local branch's latent crop ``ẑ_t`` (128 = 1024 px for SDXL)."""
    condition_channels: tuple[int, ...] = (16, 32, 96, 256)
    """Widths of the branches' condition encoders (ControlNet's default; 8x downsampling)."""
    local_crop: bool = True
    """Whether the local branch crops and up-samples the face (Eq. 3–5). ``False`` is the "no crop"
    ablation: it sees the whole ``z_t`` with ``c_p&e`` placed at the box and writes only inside the box."""
    branch_pooled_text: bool = True
    """Whether the branches receive the pooled text embedding (if not, both null-ID guidance
    slots give identical branch outputs)."""

    @property
    def landmark_size(self) -> int:
        """Pixel side of the landmark drawing ``c_p&e`` (``8L``)."""
        return self.local_size * VAE_SCALE

    @classmethod
    def from_dict(cls, data: dict) -> RealisIDConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise CheckpointError(f"unknown adapter config keys {sorted(unknown)}")
        types = typing.get_type_hints(cls)
        for name, value in data.items():
            _check_value(name, value, types[name])
        if "condition_channels" in data:
            data = {**data, "condition_channels": tuple(data["condition_channels"])}
        return cls(**data)


MAX_SIZES = {"local_size": 512, "image_feature_tokens": 4096}
"""Upper bounds of the config sizes that set memory outside the weights: the ``8L×8L`` landmark
drawing (4096 px) and the null ID's features; every other size is checked against the weight files."""


def is_size(value: object, most: int | None = None) -> bool:
    """Whether ``value`` is a whole number from 1 to ``most`` (no bound: ``None``)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= (most or value)


def _check_value(name: str, value: object, kind: object) -> None:
    """A one-line error for a config value that is not of its field's type and range."""
    if kind is int:
        fits, most = is_size(value, MAX_SIZES.get(name)), MAX_SIZES.get(name)
        wanted = f"a whole number from 1 to {most}" if most else "a positive whole number"
    elif kind is bool:
        fits, wanted = isinstance(value, bool), "true or false"
    elif typing.get_origin(kind) is Literal:
        fits, wanted = value in typing.get_args(kind), " or ".join(map(repr, typing.get_args(kind)))
    else:  # tuple[int, ...]
        fits = isinstance(value, (list, tuple)) and bool(value) and all(map(is_size, value))
        wanted = "a list of positive whole numbers"
    if not fits:
        raise CheckpointError(f"adapter config {name} must be {wanted}, got {value!r}")


def write_config(directory: Path, tag: str, config: RealisIDConfig) -> None:
    """``directory/config.json``: the format ``tag`` and version, then the fields of ``config``."""
    meta = {"format": tag, "format_version": FORMAT_VERSION, **dataclasses.asdict(config)}
    (directory / "config.json").write_text(json.dumps(meta, indent=2) + "\n")


def read_meta(directory: Path) -> dict:
    """The JSON object in ``directory/config.json``, format tag included."""
    if not directory.is_dir():
        raise CheckpointError(f"adapter folder {str(directory)!r} does not exist")
    path = directory / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{str(directory)!r} has no config.json: not a RealisID adapter checkpoint")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} is not a RealisID adapter config (another checkpoint format?)")
    return meta


def read_config(directory: Path, expected: str) -> RealisIDConfig:
    """The config in ``directory/config.json``, which must carry the tag ``expected`` and this version."""
    path = directory / "config.json"
    meta = read_meta(directory)
    found = meta.pop("format", None)
    if found != expected:
        raise CheckpointError(
            f"{path} is not a RealisID adapter config of format {expected!r} (it says {found!r}; another checkpoint?)"
        )
    version = meta.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {version}; this realisid reads {FORMAT_VERSION}")
    return RealisIDConfig.from_dict(meta)
