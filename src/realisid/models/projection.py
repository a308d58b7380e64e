"""Projections from CLIP image features to the ID embedding ``p_id`` (the branches' prompt).

Both map penultimate-layer CLIP features ``(B, T, D)`` to ``(B, n_id, C)`` tokens of the U-Net's
cross-attention width ``C``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PerceiverAttention(nn.Module):
    """Latent queries attend to the image features and to themselves (perceiver / IP-Adapter-plus)."""

    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads, inner = heads, heads * dim_head
        self.norm_features = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, features: Tensor, latents: Tensor) -> Tensor:
        """``features (B, T, dim)``, ``latents (B, n, dim)`` → ``(B, n, dim)``."""
        latents = self.norm_latents(latents)
        context = torch.cat([self.norm_features(features), latents], dim=1)
        split = lambda t: t.unflatten(-1, (self.heads, -1)).transpose(1, 2)
        q = split(self.to_q(latents))
        k, v = map(split, self.to_kv(context).chunk(2, dim=-1))
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).flatten(2))


class PerceiverResampler(nn.Module):
    """``n_id`` learned queries refined by ``depth`` blocks of cross-attention and feed-forward."""

    def __init__(
        self,
        feature_dim: int,
        output_dim: int,
        num_tokens: int = 16,
        dim: int = 1280,
        depth: int = 4,
        heads: int = 20,
        dim_head: int = 64,
        ff_mult: int = 4,
    ):
        super().__init__()
        self.latents = nn.Parameter(torch.randn(1, num_tokens, dim) / dim**0.5)
        self.proj_in = nn.Linear(feature_dim, dim)
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                [
                    PerceiverAttention(dim, heads, dim_head),
                    nn.Sequential(
                        nn.LayerNorm(dim),
                        nn.Linear(dim, dim * ff_mult, bias=False),
                        nn.GELU(),
                        nn.Linear(dim * ff_mult, dim, bias=False),
                    ),
                ]
            )
            for _ in range(depth)
        )
        self.proj_out = nn.Linear(dim, output_dim)
        self.norm_out = nn.LayerNorm(output_dim)

    def forward(self, features: Tensor) -> Tensor:
        """``(B, T, feature_dim)`` → ``(B, num_tokens, output_dim)``."""
        features = self.proj_in(features)
        latents = self.latents.expand(features.shape[0], -1, -1)
        for attention, feed_forward in self.blocks:
            latents = latents + attention(features, latents)
            latents = latents + feed_forward(latents)
        return self.norm_out(self.proj_out(latents))


class LinearProjection(nn.Module):
    """The class token of the CLIP features, linearly mapped to ``num_tokens`` tokens (IP-Adapter style)."""

    def __init__(self, feature_dim: int, output_dim: int, num_tokens: int = 16):
        super().__init__()
        self.num_tokens = num_tokens
        self.proj = nn.Linear(feature_dim, num_tokens * output_dim)
        self.norm = nn.LayerNorm(output_dim)

    def forward(self, features: Tensor) -> Tensor:
        """``(B, T, feature_dim)`` → ``(B, num_tokens, output_dim)``."""
        return self.norm(self.proj(features[:, 0]).unflatten(-1, (self.num_tokens, -1)))
