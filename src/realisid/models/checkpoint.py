"""Loading an adapter folder of any identity adapter class, chosen by the format tag in its ``config.json``."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

from ..errors import CheckpointError
from .adapter import RealisIDAdapter
from .config import read_meta
from .identity_adapter import IdentityAdapter
from .instantid_style import InstantIDStyleAdapter

ADAPTERS: dict[str, type[IdentityAdapter]] = {cls.format: cls for cls in (RealisIDAdapter, InstantIDStyleAdapter)}
"""The adapter classes by the format tag of their checkpoint folders."""


def load_adapter(
    directory: str | Path, unet: UNet2DConditionModel | None = None, torch_dtype: torch.dtype | None = None
) -> IdentityAdapter:
    """The adapter saved in ``directory``, of the class its tag names; with ``unet``, checked to fit it."""
    directory = Path(directory)
    tag = read_meta(directory).get("format")
    if tag not in ADAPTERS:
        known = ", ".join(map(repr, ADAPTERS))
        raise CheckpointError(
            f"{directory / 'config.json'} is not a RealisID adapter config: format tag {tag!r} is none of {known}"
        )
    return ADAPTERS[tag].from_pretrained(directory, unet=unet, torch_dtype=torch_dtype)
