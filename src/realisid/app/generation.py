"""Generation from the page's persons and controls, with a step callback for its progress bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from PIL import Image

from ..errors import RealisIDError
from ..persons import Person
from ..pipeline import RealisIDPipeline
from ..sampling import check_seed
from .controls import Sampling

ProgressCallback = Callable[[int, int], None]


def generate(
    pipe: RealisIDPipeline,
    prompt: str,
    persons: list[Person],
    sampling: Sampling,
    on_step: ProgressCallback | None = None,
) -> list[tuple[Image.Image, str]]:
    """Generates ``sampling.num_images`` images; returns gallery items, each image followed by the layout.

    ``on_step(done, total)`` is called after every denoising step. Raises :class:`RealisIDError` for
    bad input (a person without a reference, a box outside the image, a bad size).
    """

    def step_end(_pipe: RealisIDPipeline, step: int, _timestep: Any, _tensors: dict) -> dict:
        on_step(step + 1, sampling.steps)
        return {}

    if not isinstance(prompt, str) or not prompt.strip():
        raise RealisIDError("no prompt: write what the image should show")

    output = pipe(
        prompt,
        persons,
        negative_prompt=sampling.negative_prompt or None,
        height=sampling.height,
        width=sampling.width,
        sampling=sampling.options(),
        num_images_per_prompt=sampling.num_images,
        generator=torch.Generator().manual_seed(check_seed(sampling.seed)),
        return_layout=True,
        callback_on_step_end=step_end if on_step else None,
    )
    items = []
    for index, image in enumerate(output.images):
        items += [(image, f"image {index} · seed {sampling.seed}"), (output.layout, "layout")]
    return items
