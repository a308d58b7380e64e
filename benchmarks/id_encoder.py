"""How much of a face's identity the frozen ID encoder's features hold, before any adapter training.

    python benchmarks/id_encoder.py [--encoder FOLDER] [--metric FOLDER] [--face-paint] [--identities 100]

Prints the verification accuracy on held-out identities (threshold from a validation split, as the
metric's own) of: raw pixels, the ID encoder's penultimate tokens (what the adapter's projection
reads), its class token, its projected embedding, and the identity metric (trained for it: the
ceiling). The crops are the metric's (face box widened 1.3×, background kept), at the size of the
face crops ``realisid train`` takes from the toy shards. ``--encoder`` defaults to the shipped toy
base's (random, untrained, as ``realisid toy-reproduce`` makes it); ``--metric`` to the shipped
metric (the plain world's).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from transformers import CLIPVisionModelWithProjection

from realisid.models.id_encoder import clip_pixels, penultimate_features
from realisid.presets import IMAGE_ENCODER_FOLDER
from realisid_toy.shipped import WEIGHTS
from realisid_toy.world.identity_net import IdentityNet, verification_accuracy

CROP_SIZE = 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=str(WEIGHTS / "base" / IMAGE_ENCODER_FOLDER))
    parser.add_argument("--metric", default=str(WEIGHTS / "metric"))
    parser.add_argument("--face-paint", action="store_true")
    parser.add_argument("--identities", type=int, default=100)
    args = parser.parse_args()
    encoder = CLIPVisionModelWithProjection.from_pretrained(args.encoder, torch_dtype=torch.float32).eval()
    pixels = lambda faces: clip_pixels((faces + 1) / 2, encoder.config.image_size)
    embeddings = {
        "pixels (16 × 16)": lambda faces: F.interpolate(faces, size=16, mode="area"),
        "ID encoder, penultimate tokens": lambda faces: penultimate_features(encoder, pixels(faces)),
        "ID encoder, class token": lambda faces: penultimate_features(encoder, pixels(faces))[:, 0],
        "ID encoder, projected embedding": lambda faces: encoder(pixels(faces)).image_embeds,
        "identity metric (ceiling)": IdentityNet.load(f"{args.metric}/identity_net.safetensors"),
    }
    world = "face-paint" if args.face_paint else "plain"
    print(f"| features ({world} world, {args.identities} + {args.identities} held-out identities) "
          "| verification accuracy | seconds |\n|---|---|---|")
    for name, embed in embeddings.items():
        start = time.perf_counter()
        result = verification_accuracy(
            embed, args.identities, face_paint=args.face_paint, crop_size=CROP_SIZE
        )
        print(f"| {name} | {result.test_accuracy:.3f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
