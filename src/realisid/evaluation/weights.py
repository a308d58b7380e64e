"""Loading metric-model weights without unpickling arbitrary objects."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import RealisIDError


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a torch file (read with ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise RealisIDError(f"weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a non-weights file
        raise RealisIDError(f"cannot read weights from {path}: {error}") from error
    if not isinstance(state, dict):
        raise RealisIDError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state
