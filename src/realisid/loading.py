"""Building the model stacks: the offline tiny stack, the real SDXL-1.0 architecture and saved folders.

:func:`tiny_stack` builds SDXL's classes from the tiny configs of :mod:`realisid.presets` with
random weights, offline, in about a second; :func:`load_stack` reads a saved base model (SDXL-1.0
or the toy SDXL) with its ID image encoder, for the pipeline, training and evaluation alike.
Nothing here touches the network unless a hub id is given.
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

from .errors import RealisIDError
from .models import RealisIDConfig
from .presets import (
    CLIP_VIT_H,
    CLIP_VIT_H_SUBFOLDER,
    CLIP_VIT_H_VISION,
    IMAGE_ENCODER_FOLDER,
    SDXL_SCHEDULER,
    SDXL_TEXT_ENCODER,
    SDXL_TEXT_ENCODER_2,
    SDXL_UNET,
    SDXL_VAE,
    TINY_TEXT_ENCODER,
    TINY_TEXT_ENCODER_2,
    TINY_UNET,
    TINY_VAE,
    TINY_VISION,
)


@dataclass
class Stack:
    """Every component an SDXL identity pipeline needs, as diffusers/transformers modules."""

    unet: UNet2DConditionModel
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    text_encoder_2: CLIPTextModelWithProjection
    tokenizer: CLIPTokenizer
    tokenizer_2: CLIPTokenizer
    image_encoder: CLIPVisionModelWithProjection
    scheduler: DDIMScheduler


@functools.lru_cache(maxsize=1)
def _clip_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The real 49408-token CLIP BPE vocabulary and merges, from the file open-clip-torch ships."""
    import open_clip
    from open_clip.tokenizer import bytes_to_unicode

    path = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as file:
        lines = file.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    byte_chars = list(bytes_to_unicode().values())  # the reversible byte→character table, in CLIP's order
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(tokens)}, merges


def clip_tokenizer(pad_token: str = "<|endoftext|>") -> CLIPTokenizer:
    """An offline CLIP tokenizer with the real vocabulary (SDXL's second tokenizer pads with ``!``)."""
    vocab, merges = _clip_bpe()
    return CLIPTokenizer(vocab=dict(vocab), merges=list(merges), pad_token=pad_token, model_max_length=77)


def tiny_stack(seed: int = 0) -> Stack:
    """Builds every component with tiny configs and random weights (seeded), offline, in about a second."""
    torch.manual_seed(seed)
    return _build_stack(TINY_UNET, TINY_VAE, TINY_TEXT_ENCODER, TINY_TEXT_ENCODER_2, TINY_VISION)


def sdxl_meta_stack() -> Stack:
    """The real SDXL-1.0 + CLIP ViT-H/14 architecture, its networks on the ``meta`` device: shapes, no memory."""
    with torch.device("meta"):
        return _build_stack(SDXL_UNET, SDXL_VAE, SDXL_TEXT_ENCODER, SDXL_TEXT_ENCODER_2, CLIP_VIT_H_VISION)


def _build_stack(unet: dict, vae: dict, text_encoder: dict, text_encoder_2: dict, vision: dict) -> Stack:
    """Fresh components from their configs: networks on the current device, with the current random state;
    the scheduler's tables on the CPU, as diffusers keeps them (on ``meta`` no sampling step could read them)."""
    with torch.device("cpu"):
        scheduler = DDIMScheduler(**SDXL_SCHEDULER)
    return Stack(
        unet=UNet2DConditionModel(**unet),
        vae=AutoencoderKL(**vae),
        text_encoder=CLIPTextModel(CLIPTextConfig(**text_encoder)),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**text_encoder_2)),
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(pad_token="!"),
        image_encoder=CLIPVisionModelWithProjection(CLIPVisionConfig(**vision)),
        scheduler=scheduler,
    )


def tiny_adapter_config() -> RealisIDConfig:
    """The adapter config matching :func:`tiny_stack` (a small perceiver, ``L`` = 16 latent cells)."""
    patches = (TINY_VISION["image_size"] // TINY_VISION["patch_size"]) ** 2
    return RealisIDConfig(
        cross_attention_dim=TINY_UNET["cross_attention_dim"],
        image_feature_dim=TINY_VISION["hidden_size"],
        image_feature_tokens=patches + 1,
        num_id_tokens=4,
        resampler_dim=64,
        resampler_depth=2,
        resampler_heads=2,
        resampler_dim_head=16,
        local_size=TINY_UNET["sample_size"],
        condition_channels=(4, 8, 16, 32),
    )


HUB_ACCESS = frozenset({"cache_dir", "local_files_only", "token", "proxies"})
"""``from_pretrained`` options about reaching the hub, not about one repository (a revision is)."""


def load_stack(
    base: str | Path,
    image_encoder: str | Path | CLIPVisionModelWithProjection | None = None,
    torch_dtype: torch.dtype | None = None,
    **kwargs,
) -> Stack:
    """A saved base model (hub id or diffusers folder) and its ID image encoder, with DDIM (paper).

    The image encoder is ``image_encoder`` (a model, folder or hub id) if given, else the
    ``image_encoder/`` folder inside ``base`` if it has one (the toy weights), else CLIP ViT-H/14
    from IP-Adapter's hub repository, all in ``torch_dtype`` (default fp32: transformers would otherwise
    take each encoder's dtype from its config). ``kwargs`` go to diffusers' ``from_pretrained``, and
    those of :data:`HUB_ACCESS` to the image encoder's too.
    """
    torch_dtype = torch_dtype or torch.float32
    sdxl = load_pretrained(StableDiffusionXLPipeline, base, "SDXL", dtype=torch_dtype, **kwargs)
    if isinstance(image_encoder, CLIPVisionModelWithProjection):
        return _stack(sdxl, image_encoder)
    if image_encoder is None:
        own = Path(base, IMAGE_ENCODER_FOLDER)
        image_encoder = own if own.is_dir() else CLIP_VIT_H
    subfolder = CLIP_VIT_H_SUBFOLDER if str(image_encoder) == CLIP_VIT_H else ""
    encoder = load_pretrained(
        CLIPVisionModelWithProjection, image_encoder, "the ID image encoder", subfolder=subfolder, dtype=torch_dtype,
        **{key: value for key, value in kwargs.items() if key in HUB_ACCESS},
    )
    return _stack(sdxl, encoder)


def load_pretrained(cls, source: str | Path, what: str, **kwargs):
    """``cls.from_pretrained(source, **kwargs)``; a missing or broken ``source`` is a one-line error naming ``what``."""
    try:
        return cls.from_pretrained(str(source), **kwargs)
    except (OSError, ValueError) as error:
        raise RealisIDError(f"cannot load {what} from {str(source)!r}: {str(error).splitlines()[0]}") from None


def _stack(sdxl: StableDiffusionXLPipeline, image_encoder: CLIPVisionModelWithProjection) -> Stack:
    parts = {k: v for k, v in sdxl.components.items() if k in {f.name for f in fields(Stack)}}
    # Sample as the paper does (DDIM), not with the base folder's own scheduler (SDXL's names Euler).
    scheduler = DDIMScheduler.from_config(sdxl.scheduler.config)
    return Stack(**{**parts, "scheduler": scheduler, "image_encoder": image_encoder})
