"""ASP: the LAION improved aesthetic predictor.

An MLP (768 → 1024 → 128 → 64 → 16 → 1, no activations, dropout between the first layers, as in
github.com/christophschuhmann/improved-aesthetic-predictor) on L2-normalised CLIP ViT-L/14 image
embeddings. Parameter names match the released ``sac+logos+ava1-l14-linearMSE.pth`` so its state
dict loads unchanged.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import RealisIDError
from .weights import load_state_dict

HIDDEN = (1024, 128, 64, 16)


class AestheticPredictor(nn.Module):
    """``(N, D)`` CLIP image embeddings → ``(N,)`` aesthetic scores (about 1–10 with real weights)."""

    def __init__(self, embed_dim: int = 768):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(embed_dim, HIDDEN[0]),
            nn.Dropout(0.2),
            nn.Linear(HIDDEN[0], HIDDEN[1]),
            nn.Dropout(0.2),
            nn.Linear(HIDDEN[1], HIDDEN[2]),
            nn.Dropout(0.1),
            nn.Linear(HIDDEN[2], HIDDEN[3]),
            nn.Linear(HIDDEN[3], 1),
        )

    def forward(self, image_embeds: torch.Tensor) -> torch.Tensor:
        normalized = nn.functional.normalize(image_embeds.float(), dim=-1)
        return self.layers(normalized).squeeze(-1)

    @classmethod
    def from_file(cls, path: str | Path) -> AestheticPredictor:
        """Weights from ``.safetensors`` or a torch state dict; the input width is read from them."""
        state = load_state_dict(path)
        if "layers.0.weight" not in state:
            raise RealisIDError(f"{path} is not an aesthetic-predictor state dict (no layers.0.weight)")
        model = cls(embed_dim=state["layers.0.weight"].shape[1])
        model.load_state_dict(state)
        return model.eval()
