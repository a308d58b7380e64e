"""RealisID: scale-robust, fine-controllable identity customization for SDXL (AAAI 2025).

    from realisid import Person, RealisIDPipeline
    pipe = RealisIDPipeline.from_pretrained("stabilityai/stable-diffusion-xl-base-1.0", adapter="path/to/adapter")
    image = pipe("a photo of a person at the beach", [Person("me.jpg", box=(0.5, 0.4, 0.15))]).images[0]
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Box": "realisid.boxes",
    "Person": "realisid.persons",
    "RealisIDAdapter": "realisid.models",
    "RealisIDConfig": "realisid.models",
    "RealisIDPipeline": "realisid.pipeline",
    "SamplingOptions": "realisid.sampling",
    "tiny_pipeline": "realisid.pipeline",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    """Imports on first use, so that ``import realisid`` (and the CLI) stays light."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'realisid' has no attribute {name!r}")
