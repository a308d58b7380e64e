"""The page's sampling controls: image size, seed and the pipeline's :class:`SamplingOptions`, as the page's
widgets give them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import whole_number
from ..sampling import SamplingOptions

_PAPER = SamplingOptions()
_CONTROL = {"num_inference_steps": "steps"}
"""The :class:`SamplingOptions` fields whose control has a shorter name; the others share theirs."""


@dataclass(frozen=True)
class Sampling:
    """The page's sampling controls (image, seed and the pipeline's :class:`SamplingOptions`, the
    paper's by default); the defaults are their initial values."""

    width: int = 1024
    height: int = 1024
    steps: int = _PAPER.num_inference_steps
    text_scale: float = _PAPER.text_scale
    id_scale: float = _PAPER.id_scale
    id_start: float = _PAPER.id_start
    local_scale: float = _PAPER.local_scale
    global_scale: float = _PAPER.global_scale
    id_stop: float = _PAPER.id_stop
    seed: int = 0
    num_images: int = 1
    negative_prompt: str = ""

    @classmethod
    def from_options(cls, options: SamplingOptions, **page: Any) -> Sampling:
        """The controls showing ``options``, with the ``page``'s other controls (width, seed, ...)."""
        shown = {_CONTROL.get(name, name): getattr(options, name) for name in SamplingOptions.names()}
        return cls(**shown, **page)

    def options(self) -> SamplingOptions:
        """The pipeline's options these controls ask for (a :class:`RealisIDError` for a bad value)."""
        names = SamplingOptions.names()
        return SamplingOptions(**{name: getattr(self, _CONTROL.get(name, name)) for name in names})

    @classmethod
    def from_controls(cls, **values: Any) -> Sampling:
        """From the page's control values: sliders give floats, an emptied number box gives ``None``; a
        count that is no whole number (NaN, from a raw API request) is a :class:`RealisIDError`."""
        defaults, chosen = cls(), {}
        for name, value in values.items():
            default = getattr(defaults, name)
            if value is None:
                chosen[name] = default
            elif isinstance(default, int):
                chosen[name] = whole_number(name, value)
            else:
                chosen[name] = type(default)(value)
        return cls(**chosen)

