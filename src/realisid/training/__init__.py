"""Training RealisID: data preparation into shards, Eq. 7, condition dropout, the accelerate loop."""

from .config import TrainConfig, load_config
from .data import prepare
from .dropout import apply_dropout, sample_dropout
from .loop import TrainResult, train
from .loss import realisid_loss
from .samples import PrepareSettings

__all__ = [
    "PrepareSettings",
    "TrainConfig",
    "TrainResult",
    "apply_dropout",
    "load_config",
    "prepare",
    "realisid_loss",
    "sample_dropout",
    "train",
]
