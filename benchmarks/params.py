"""Parameter counts of the real SDXL-1.0 + CLIP ViT-H/14 + RealisID stack, built on ``meta`` (no memory).

    python benchmarks/params.py
"""

from __future__ import annotations

import torch

from realisid.loading import sdxl_meta_stack
from realisid.models import RealisIDAdapter


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def main() -> None:
    stack = sdxl_meta_stack()
    with torch.device("meta"):
        adapter = RealisIDAdapter.from_unet(stack.unet, image_encoder=stack.image_encoder)
    rows = [
        ("SDXL U-Net (frozen)", count(stack.unet)),
        ("SDXL VAE (frozen)", count(stack.vae)),
        ("text encoder ViT-L (frozen)", count(stack.text_encoder)),
        ("text encoder bigG (frozen)", count(stack.text_encoder_2)),
        ("CLIP ViT-H/14 image encoder (frozen)", count(stack.image_encoder)),
        ("local branch (trainable)", count(adapter.local_branch)),
        ("  of which condition encoder", count(adapter.local_branch.net.controlnet_cond_embedding)),
        ("global branch (trainable)", count(adapter.global_branch)),
        ("  of which condition encoder", count(adapter.global_branch.net.controlnet_cond_embedding)),
        (f"projection ({adapter.config.projection}, {adapter.config.num_id_tokens} tokens, trainable)",
         count(adapter.projection)),
        ("RealisID adapter, all trainable", count(adapter)),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"| {'component':<{width}} | {'parameters':>15} |")
    print(f"|{'-' * (width + 2)}|{'-' * 17}|")
    for name, n in rows:
        print(f"| {name:<{width}} | {n:>15,} |")


if __name__ == "__main__":
    main()
