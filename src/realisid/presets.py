"""Component configurations: the real SDXL-1.0 stack as data, and the offline *tiny* stack.

The tiny stack uses the same classes and the same block layout as SDXL (3 U-Net levels, the
first without attention, ``text_time`` added conditioning, two text encoders whose hidden states
are concatenated, an 8x VAE) with small widths and random weights, so every shape rule of the
real model is exercised on a CPU in seconds. Nothing here touches the network.
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

SDXL_BASE = "stabilityai/stable-diffusion-xl-base-1.0"
"""Hub id of the base model; any local folder in the diffusers layout works as well."""

CLIP_VIT_H = "h94/IP-Adapter"
"""Hub id holding CLIP ViT-H/14 under ``models/image_encoder`` (the ID image encoder)."""

SDXL_UNET = dict(
    sample_size=128,
    in_channels=4,
    out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    block_out_channels=(320, 640, 1280),
    layers_per_block=2,
    transformer_layers_per_block=(1, 2, 10),
    attention_head_dim=(5, 10, 20),
    cross_attention_dim=2048,
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
    norm_num_groups=32,
)

SDXL_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=1024,
    scaling_factor=0.13025,
    force_upcast=True,
)

SDXL_TEXT_ENCODER = dict(  # CLIP ViT-L/14 text tower
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    projection_dim=768,
)

SDXL_TEXT_ENCODER_2 = dict(  # OpenCLIP ViT-bigG/14 text tower
    vocab_size=49408,
    hidden_size=1280,
    intermediate_size=5120,
    num_hidden_layers=32,
    num_attention_heads=20,
    max_position_embeddings=77,
    hidden_act="gelu",
    projection_dim=1280,
)

CLIP_VIT_H_VISION = dict(  # the ID image encoder (IP-Adapter's CLIP ViT-H/14)
    hidden_size=1280,
    intermediate_size=5120,
    num_hidden_layers=32,
    num_attention_heads=16,
    image_size=224,
    patch_size=14,
    hidden_act="gelu",
    projection_dim=1024,
)

SDXL_SCHEDULER = dict(  # DDIM with SDXL's training schedule; the paper samples with 30 DDIM steps
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
    timestep_spacing="leading",
)

TINY_UNET = dict(
    SDXL_UNET,
    sample_size=16,
    block_out_channels=(32, 64, 64),
    transformer_layers_per_block=(1, 1, 2),
    attention_head_dim=(2, 4, 4),
    cross_attention_dim=64,
    addition_time_embed_dim=8,
    projection_class_embeddings_input_dim=80,  # 6 time ids x 8 + pooled text 32
    norm_num_groups=8,
)

TINY_VAE = dict(SDXL_VAE, block_out_channels=(8, 16, 32, 32), layers_per_block=1, norm_num_groups=8, sample_size=128)

TINY_TEXT_ENCODER = dict(
    SDXL_TEXT_ENCODER, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, projection_dim=32
)
TINY_TEXT_ENCODER_2 = dict(TINY_TEXT_ENCODER, hidden_act="gelu")

TINY_VISION = dict(
    CLIP_VIT_H_VISION, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2, projection_dim=32
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

    path = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as file:
        lines = file.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    byte_chars = _bytes_to_unicode()
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(tokens)}, merges


def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's reversible byte→printable-character table, in CLIP's vocabulary order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def clip_tokenizer(pad_token: str = "<|endoftext|>") -> CLIPTokenizer:
    """An offline CLIP tokenizer with the real vocabulary (SDXL's second tokenizer pads with ``!``)."""
    vocab, merges = _clip_bpe()
    return CLIPTokenizer(vocab=dict(vocab), merges=list(merges), pad_token=pad_token, model_max_length=77)


def tiny_stack(seed: int = 0) -> Stack:
    """Builds every component with tiny configs and random weights (seeded), offline, in about a second."""
    torch.manual_seed(seed)
    return Stack(
        unet=UNet2DConditionModel(**TINY_UNET),
        vae=AutoencoderKL(**TINY_VAE),
        text_encoder=CLIPTextModel(CLIPTextConfig(**TINY_TEXT_ENCODER)),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**TINY_TEXT_ENCODER_2)),
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(pad_token="!"),
        image_encoder=CLIPVisionModelWithProjection(CLIPVisionConfig(**TINY_VISION)),
        scheduler=DDIMScheduler(**SDXL_SCHEDULER),
    )


def sdxl_meta_stack() -> Stack:
    """The real SDXL-1.0 + CLIP ViT-H/14 architecture on the ``meta`` device: shapes, no memory."""
    with torch.device("meta"):
        return Stack(
            unet=UNet2DConditionModel(**SDXL_UNET),
            vae=AutoencoderKL(**SDXL_VAE),
            text_encoder=CLIPTextModel(CLIPTextConfig(**SDXL_TEXT_ENCODER)),
            text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**SDXL_TEXT_ENCODER_2)),
            tokenizer=clip_tokenizer(),
            tokenizer_2=clip_tokenizer(pad_token="!"),
            image_encoder=CLIPVisionModelWithProjection(CLIPVisionConfig(**CLIP_VIT_H_VISION)),
            scheduler=DDIMScheduler(**SDXL_SCHEDULER),
        )


def tiny_adapter_config():
    """The adapter config matching :func:`tiny_stack` (a small perceiver, ``L`` = 16 latent cells)."""
    from .models import RealisIDConfig

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


def tiny_pipeline(seed: int = 0, adapter=None):
    """A ready :class:`~realisid.pipeline.RealisIDPipeline` on the tiny stack, offline.

    Without ``adapter`` the branches are freshly initialised (zero convolutions: the output is the
    tiny SDXL's own); pass a trained ``IdentityAdapter`` (or a folder) to use it.
    """
    from .models import IdentityAdapter, RealisIDAdapter, load_adapter
    from .pipeline import RealisIDPipeline

    stack = tiny_stack(seed)
    if adapter is None:
        adapter = RealisIDAdapter.from_unet(stack.unet, tiny_adapter_config())
    elif not isinstance(adapter, IdentityAdapter):
        adapter = load_adapter(adapter, unet=stack.unet)
    pipe = RealisIDPipeline(**vars(stack), adapter=adapter)
    pipe.set_progress_bar_config(disable=None)
    return pipe


def load_pipeline(
    base: str | None = None,
    adapter: str | None = None,
    image_encoder: str | None = None,
    device: str = "cpu",
    dtype: torch.dtype | None = None,
    seed: int = 0,
):
    """The pipeline a command asks for: real SDXL from ``base`` (with ``adapter``), else the tiny stack."""
    from .errors import RealisIDError
    from .pipeline import RealisIDPipeline

    if base is None:
        pipe = tiny_pipeline(seed, adapter)
    else:
        if adapter is None:
            raise RealisIDError("--base needs --adapter: the folder of a trained RealisID adapter")
        pipe = RealisIDPipeline.from_pretrained(base, adapter=adapter, image_encoder=image_encoder or CLIP_VIT_H,
                                                torch_dtype=dtype)
    return pipe.to(device)
