"""CLIP-T, CLIP-I and ASP on tiny random models against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from realisid.errors import RealisIDError
from realisid.evaluation import AestheticPredictor, ClipEmbedder, clip_i, clip_t, cosine
from tests._evaluation_support import (
    single_torch_thread,  # noqa: F401 (autouse fixture)
    tiny_clip,
)


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (40 + 8 * i, 48, 3), dtype=np.uint8)) for i in range(3)]


def _hand_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1) / (a.pow(2).sum(-1).sqrt() * b.pow(2).sum(-1).sqrt())


@pytest.fixture(scope="module")
def clip() -> ClipEmbedder:
    return tiny_clip(seed=0)


def test_cosine():
    a = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    b = torch.tensor([[4.0, 3.0], [-2.0, 0.0]])
    torch.testing.assert_close(cosine(a, b), torch.tensor([24 / 25, -1.0]))


def test_clip_t_matches_clip_logits(clip):
    """CLIPModel's own forward gives logit_scale · cosine; CLIP-T must be that cosine."""
    images, prompts = _images(), ["a photo of a person", "an oil painting", "a person on a beach"]
    scores = clip_t(clip, images, prompts)
    pixels = clip.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
    tokens = clip.processor.tokenizer(prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = clip.model(pixel_values=pixels, **tokens)
    expected = out.logits_per_image.diagonal() / clip.model.logit_scale.exp()
    assert scores.shape == (3,)
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scores, _hand_cosine(out.image_embeds, out.text_embeds), atol=1e-5, rtol=1e-5)


def test_clip_i_is_the_cosine_of_image_embeddings(clip):
    images = _images()
    references = images[1:] + images[:1]
    scores = clip_i(clip, images, references)
    pixels = clip.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        embeds = clip.model.get_image_features(pixel_values=pixels)
    embeds = getattr(embeds, "pooler_output", embeds)  # transformers 5 returns an output object
    expected = _hand_cosine(embeds, embeds.roll(-1, dims=0))
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(clip_i(clip, images, images), torch.ones(3), atol=1e-5, rtol=1e-5)


def test_clip_embedder_round_trips_through_from_pretrained(clip, tmp_path):
    clip.model.save_pretrained(tmp_path)
    clip.processor.save_pretrained(tmp_path)
    loaded = ClipEmbedder.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded.embed_images(_images()), clip.embed_images(_images()))
    with pytest.raises(RealisIDError, match="CLIP model folder not found"):
        ClipEmbedder.from_pretrained(tmp_path / "missing")


def _fixed_predictor(embed_dim: int) -> AestheticPredictor:
    model = AestheticPredictor(embed_dim).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    return model


def test_aesthetic_predictor_matches_hand_mlp():
    model = _fixed_predictor(16)
    x = torch.randn(5, 16, generator=torch.Generator().manual_seed(1)) * 3
    h = x / x.norm(dim=1, keepdim=True)
    for linear in [m for m in model.layers if isinstance(m, torch.nn.Linear)]:
        h = h @ linear.weight.T + linear.bias  # the released predictor has no activations
    torch.testing.assert_close(model(x), h[:, 0])
    torch.testing.assert_close(model(x), model(x * 7.0))  # scale-invariant: embeddings are normalised
    assert [m.out_features for m in model.layers if isinstance(m, torch.nn.Linear)] == [1024, 128, 64, 16, 1]
    assert AestheticPredictor().layers[0].in_features == 768


def test_aesthetic_predictor_loads_safetensors_and_torch_state_dict(tmp_path, clip):
    model = _fixed_predictor(16)
    save_file(model.state_dict(), tmp_path / "asp.safetensors")
    torch.save(model.state_dict(), tmp_path / "asp.pth")
    embeds = clip.embed_images(_images())
    for name in ("asp.safetensors", "asp.pth"):
        loaded = AestheticPredictor.from_file(tmp_path / name)
        assert loaded.layers[0].in_features == 16
        torch.testing.assert_close(loaded(embeds), model(embeds))

    torch.save({"weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(RealisIDError, match="not an aesthetic-predictor"):
        AestheticPredictor.from_file(tmp_path / "other.pth")
    torch.save(model, tmp_path / "pickled_module.pth")  # whole pickled module: refused, never unpickled
    with pytest.raises(RealisIDError, match="cannot read weights"):
        AestheticPredictor.from_file(tmp_path / "pickled_module.pth")
