"""``SamplingOptions``: how RealisID samples, with the paper's defaults written once.

The pipeline takes one; the command line, the web UI, the evaluation harness and the toy recipe
build one from their own inputs, so every caller samples with the same defaults and checks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import RealisIDError, whole_number

MAX_SEED = 2**64 - 1
"""The largest seed a torch generator takes."""


@dataclass(frozen=True)
class SamplingOptions:
    """Denoising-loop settings of :class:`~realisid.pipeline.RealisIDPipeline` (paper: 30 DDIM steps,
    ``λ_t`` = 7.5, ``λ_i`` = 5.0, the ID joining after 20 % of the steps, both branches at 1)."""

    num_inference_steps: int = 30
    text_scale: float = 7.5
    """``λ_t`` of Eq. 8."""
    id_scale: float = 5.0
    """``λ_i`` of Eq. 8 (0: no ID guidance row)."""
    id_start: float = 0.2
    """Fraction of the steps run before the ID joins (delayed subject conditioning)."""
    local_scale: float = 1.0
    """Weight of the local branch's residuals (0 switches it off: the paper's ablation)."""
    global_scale: float = 1.0
    """Weight of the global branch's residuals (0 switches it off)."""
    id_stop: float = 1.0
    """Fraction of the steps after which the ID guidance row stops (guidance in a limited interval,
    Kynkäänniemi et al. 2024): later steps condition both remaining rows on the ID, unamplified.
    1.0: the paper's sampling."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "num_inference_steps", whole_number("num_inference_steps", self.num_inference_steps, 1))
        for name in ("text_scale", "id_scale", "id_start", "local_scale", "global_scale", "id_stop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise RealisIDError(f"{name} must be a finite number, got {value!r}")
        if not 0.0 <= self.id_start <= 1.0:
            raise RealisIDError(f"id_start is a fraction of the steps, in [0, 1]; got {self.id_start}")
        if not self.id_start <= self.id_stop <= 1.0:
            raise RealisIDError(
                f"id_stop is a fraction of the steps, in [id_start, 1] = [{self.id_start}, 1]; got {self.id_stop}"
            )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, as keyword arguments of the pipeline and keys of configs."""
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> SamplingOptions:
        """The options named in ``options`` (other keys ignored), the defaults for the rest."""
        return cls(**{name: options[name] for name in cls.names() if name in options})

    def replace(self, **changes: Any) -> SamplingOptions:
        """A copy with ``changes``; ``None`` values keep the current setting."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def check_seed(seed: object) -> int:
    """``seed`` as a generator seed: a whole number in ``[0, MAX_SEED]`` (a one-line error otherwise)."""
    return whole_number("seed", seed, 0, MAX_SEED)
