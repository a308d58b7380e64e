"""Stand-ins for the metrics a random-weight toy world cannot have (CLIP-T, ASP).

* **Attribute agreement** (for text alignment): the prompt names a clothing colour and a wall
  colour; the output's pixels below the face box and at the top corners away from it are matched to
  the renderer's nearest palette colour. Renderings of the prompt itself give the proxy's ceiling.
* **Base denoising loss** (for harmony): the toy base model's own denoising error (ε or v, as the
  base predicts) on the output at fixed timesteps and noise, given the prompt. Lower = the image is
  more like what the base model draws; it does not know which image is "harmonious".
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from realisid.boxes import Box
from realisid.training.loss import diffusion_target

from ..world.scenes import CLOTHING_COLORS, WALL_COLORS

_CLOTHING = re.compile(r"wearing an? (\w+) ")
_WALL = re.compile(r"in front of an? (\w+) wall")


def _nearest(color: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    names = list(palette)
    distances = np.linalg.norm(np.array([palette[n] for n in names], dtype=np.float32) - color, axis=1)
    return names[int(np.argmin(distances))]


def clothing_and_wall(image: Image.Image, box: Box) -> tuple[str | None, str | None]:
    """The palette names nearest to the clothing (below the face) and the wall (top strip, away
    from the person); ``None`` where that region falls outside the image."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    height, width = pixels.shape[:2]
    x0, x1 = int(max(0, box.x0 + 0.25 * box.size)), int(min(width, box.x0 + 0.75 * box.size))
    y0, y1 = int(box.y0 + 1.5 * box.size), int(min(height, box.y0 + 2.1 * box.size))
    clothing = None
    if y1 - y0 >= 2 and x1 - x0 >= 2:
        clothing = _nearest(np.median(pixels[y0:y1, x0:x1].reshape(-1, 3), axis=0), CLOTHING_COLORS)
    columns = np.ones(width, dtype=bool)
    columns[int(max(0, box.x0 - 0.6 * box.size)) : int(min(width, box.x0 + 1.6 * box.size))] = False
    strip = pixels[: max(2, height // 10), columns]
    wall = _nearest(np.median(strip.reshape(-1, 3), axis=0), WALL_COLORS) if strip.size else None
    return clothing, wall


def prompt_colors(prompt: str) -> tuple[str | None, str | None]:
    """The clothing and wall colours a prompt names (``None`` where it names none)."""
    found = [m.group(1) if (m := pattern.search(prompt)) else None for pattern in (_CLOTHING, _WALL)]
    return found[0], found[1]


def attribute_agreement(image: Image.Image, box: Box, prompt: str) -> float | None:
    """Fraction of the prompt's named colours (clothing, wall) found in ``image``; ``None`` if none checkable."""
    found = clothing_and_wall(image, box)
    asked = prompt_colors(prompt)
    checks = [a == f for a, f in zip(asked, found) if a is not None and f is not None]
    return float(np.mean(checks)) if checks else None


class DenoisingLoss:
    """The toy base model's mean denoising error (ε or v, its ``prediction_type``) on an image, at fixed
    timesteps and noise."""

    def __init__(self, base: str | Path, timesteps: tuple[int, ...] = (100, 300, 500, 700), seed: int = 0):
        from diffusers import DDPMScheduler, StableDiffusionXLPipeline

        self.pipe = StableDiffusionXLPipeline.from_pretrained(base)
        self.pipe.set_progress_bar_config(disable=True)
        self.scheduler = DDPMScheduler.from_config(self.pipe.scheduler.config)
        self.timesteps = torch.tensor(timesteps)
        self.seed = seed

    @torch.no_grad()
    def __call__(self, image: Image.Image, prompt: str) -> float:
        pipe = self.pipe
        pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1)
        pixels = pixels.permute(2, 0, 1)[None]
        latents = pipe.vae.encode(pixels).latent_dist.mean * pipe.vae.config.scaling_factor
        latents = latents.expand(len(self.timesteps), -1, -1, -1)
        noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(self.seed))
        text, _, pooled, _ = pipe.encode_prompt(prompt, device="cpu", do_classifier_free_guidance=False)
        size = image.height
        time_ids = torch.tensor([[size, image.width, 0, 0, size, image.width]], dtype=torch.float32)
        added = {"text_embeds": pooled.expand(len(latents), -1), "time_ids": time_ids.expand(len(latents), -1)}
        target = diffusion_target(self.scheduler, latents, noise, self.timesteps)
        pred = pipe.unet(
            self.scheduler.add_noise(latents, noise, self.timesteps),
            self.timesteps,
            encoder_hidden_states=text.expand(len(latents), -1, -1),
            added_cond_kwargs=added,
        ).sample
        return float(torch.mean((pred - target) ** 2))
