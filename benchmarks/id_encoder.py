"""How much of a face's identity the frozen ID encoder's features hold, before any adapter training.

    python benchmarks/id_encoder.py [--encoder FOLDER ...] [--metric FOLDER] [--paint none|regions|tiles]
        [--crops encoder|metric] [--identities 100]

Prints the verification accuracy on held-out identities (threshold from a validation split, as the
metric's own) of: raw pixels, each ID encoder's penultimate tokens (what the adapter's projection
reads: all of them, their mean, the class token) and its projected embedding, and the identity metric
(trained for it: the ceiling). The encoders see ``--crops``: ``encoder`` (default), the crops the
pipeline gives an ID encoder (the face box, background zeroed); ``metric``, the metric's (face box
widened 1.3×, background kept); both at the size of the face crops ``realisid train`` takes from the
toy shards. ``--encoder`` (repeatable) defaults to the shipped toy base's (random, untrained, as
``realisid toy-reproduce`` makes it); a folder of ``realisid_toy.lab.id_encoder.pretrain_id_encoder``
compares a pre-trained one. ``--metric`` defaults to the shipped metric (the plain world's: give the
``--paint`` world's).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import CLIPVisionModelWithProjection

from realisid.models.id_encoder import clip_pixels, penultimate_features
from realisid.presets import IMAGE_ENCODER_FOLDER
from realisid_toy.lab.id_encoder import CROP_SIZE, encoder_crop
from realisid_toy.shipped import WEIGHTS
from realisid_toy.world.identity_net import IdentityNet, metric_crop, verification_accuracy
from realisid_toy.world.traits import PAINTS


def encoder_embeddings(folder: str) -> dict:
    """The rows of one ID encoder: face crops in ``[-1, 1]`` → its features."""
    encoder = CLIPVisionModelWithProjection.from_pretrained(folder, dtype=torch.float32).eval()
    pixels = lambda faces: clip_pixels((faces + 1) / 2, encoder.config.image_size)
    tokens = lambda faces: penultimate_features(encoder, pixels(faces))
    name = Path(folder).name if Path(folder).name != IMAGE_ENCODER_FOLDER else Path(folder).parent.name
    return {
        f"{name}: penultimate tokens": tokens,
        f"{name}: penultimate tokens, mean": lambda faces: tokens(faces)[:, 1:].mean(1),
        f"{name}: class token": lambda faces: tokens(faces)[:, 0],
        f"{name}: projected embedding": lambda faces: encoder(pixels(faces)).image_embeds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", action="append", help="ID encoder folder (repeatable)")
    parser.add_argument("--metric", default=str(WEIGHTS / "metric"))
    parser.add_argument("--paint", choices=PAINTS, default="none", help="the world's face paint")
    parser.add_argument("--crops", choices=("encoder", "metric"), default="encoder")
    parser.add_argument("--identities", type=int, default=100)
    args = parser.parse_args()
    embeddings = {"pixels (16 × 16)": lambda faces: F.interpolate(faces, size=16, mode="area")}
    for folder in args.encoder or [str(WEIGHTS / "base" / IMAGE_ENCODER_FOLDER)]:
        embeddings.update(encoder_embeddings(folder))
    embeddings["identity metric (ceiling; its own crops)"] = IdentityNet.load(
        f"{args.metric}/identity_net.safetensors"
    )
    crop = {"encoder": encoder_crop, "metric": metric_crop}[args.crops]
    print(f"| features ({args.paint} paint, {args.crops} crops, {args.identities} + {args.identities} "
          "held-out identities) | verification accuracy | seconds |\n|---|---|---|")
    for name, embed in embeddings.items():
        start = time.perf_counter()
        with torch.no_grad():
            result = verification_accuracy(
                embed, args.identities, paint=args.paint, crop_size=CROP_SIZE, crop=crop
            )
        print(f"| {name} | {result.test_accuracy:.3f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
