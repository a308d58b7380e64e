"""CLIP-T (image–prompt cosine) and CLIP-I (image–image cosine) on projected CLIP embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from transformers import CLIPModel, CLIPProcessor

from ..errors import RealisIDError
from .similarity import cosine


class ClipEmbedder:
    """A CLIP model with its processor, giving projected embeddings ``(N, projection_dim)``."""

    def __init__(self, model: CLIPModel, processor: CLIPProcessor):
        self.model = model.eval()
        self.processor = processor

    @classmethod
    def from_pretrained(cls, path: str | Path) -> ClipEmbedder:
        """A CLIP folder in transformers layout (model weights, tokenizer, image processor)."""
        if not Path(path).is_dir():
            raise RealisIDError(f"CLIP model folder not found: {path}")
        return cls(CLIPModel.from_pretrained(path), CLIPProcessor.from_pretrained(path))

    @torch.no_grad()
    def embed_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        pixels = self.processor.image_processor(images=list(images), return_tensors="pt")["pixel_values"]
        pooled = self.model.vision_model(pixel_values=pixels.to(self.model.dtype)).pooler_output
        return self.model.visual_projection(pooled).float()

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.processor.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.model.config.text_config.max_position_embeddings,
            return_tensors="pt",
        )
        pooled = self.model.text_model(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
        ).pooler_output
        return self.model.text_projection(pooled).float()


def clip_t(embedder: ClipEmbedder, images: Sequence[Image.Image], prompts: Sequence[str]) -> torch.Tensor:
    """``(N,)`` cosine between each image and its prompt."""
    return cosine(embedder.embed_images(images), embedder.embed_texts(prompts))


def clip_i(
    embedder: ClipEmbedder, images: Sequence[Image.Image], references: Sequence[Image.Image]
) -> torch.Tensor:
    """``(N,)`` cosine between each image (a generated face crop) and its reference face crop."""
    return cosine(embedder.embed_images(images), embedder.embed_images(references))
