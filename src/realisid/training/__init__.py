"""Training RealisID: data preparation into shards, Eq. 7, condition dropout, the accelerate loop."""

from __future__ import annotations

import importlib

_EXPORTS = {
    "PrepareSettings": "realisid.training.samples",
    "TrainConfig": "realisid.training.config",
    "TrainResult": "realisid.training.loop",
    "apply_dropout": "realisid.training.dropout",
    "load_config": "realisid.training.config",
    "prepare": "realisid.training.data",
    "realisid_loss": "realisid.training.loss",
    "sample_dropout": "realisid.training.dropout",
    "train": "realisid.training.loop",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    """Imports on first use, so that preparing shards (and its worker processes) loads no diffusers."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'realisid.training' has no attribute {name!r}")
