"""Configurations as data: the real SDXL-1.0 + CLIP ViT-H/14 stack, the *tiny* stack and the efficient mode.

The tiny configs keep SDXL's classes and block layout (3 U-Net levels, the first without
attention, ``text_time`` added conditioning, two text encoders whose hidden states are
concatenated, an 8x VAE) with small widths, so every shape rule of the real model is exercised on
a CPU in seconds (:func:`realisid.loading.tiny_stack` builds them).
"""

from __future__ import annotations

SDXL_BASE = "stabilityai/stable-diffusion-xl-base-1.0"
"""Hub id of the base model; any local folder in the diffusers layout works as well."""

CLIP_VIT_H = "h94/IP-Adapter"
"""Hub id holding CLIP ViT-H/14 under ``models/image_encoder`` (the ID image encoder)."""
CLIP_VIT_H_SUBFOLDER = "models/image_encoder"
IMAGE_ENCODER_FOLDER = "image_encoder"
"""The ID image encoder's folder inside a base model folder that carries its own (the toy weights)."""

SDXL_UNET = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "block_out_channels": (320, 640, 1280),
    "layers_per_block": 2,
    "transformer_layers_per_block": (1, 2, 10),
    "attention_head_dim": (5, 10, 20),
    "cross_attention_dim": 2048,
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
    "norm_num_groups": 32,
}

SDXL_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "force_upcast": True,
}

SDXL_TEXT_ENCODER = {  # CLIP ViT-L/14 text tower
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}

SDXL_TEXT_ENCODER_2 = {  # OpenCLIP ViT-bigG/14 text tower
    "vocab_size": 49408,
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "max_position_embeddings": 77,
    "hidden_act": "gelu",
    "projection_dim": 1280,
}

CLIP_VIT_H_VISION = {  # the ID image encoder (IP-Adapter's CLIP ViT-H/14)
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 16,
    "image_size": 224,
    "patch_size": 14,
    "hidden_act": "gelu",
    "projection_dim": 1024,
}

SDXL_SCHEDULER = {  # DDIM with SDXL's training schedule; the paper samples with 30 DDIM steps
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "timestep_spacing": "leading",
}

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

EFFICIENT_ADAPTER = {"branch_pooled_text": False}
"""``RealisIDConfig`` switches of the efficient mode (an adapter is trained with them): the branches do
not see the pooled text, so both null-ID guidance rows share one branch pass."""
EFFICIENT_SAMPLING = {"id_stop": 0.8}
"""``SamplingOptions`` fields of the efficient mode: the ID guidance row runs from ``id_start`` to 80 % of the
steps only (guidance in a limited interval); with :data:`EFFICIENT_ADAPTER`, 1.38x the InstantID-style FLOPs
per 1024² single-person image instead of 1.80x (``benchmarks/flops.py``)."""
