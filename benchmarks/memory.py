"""Peak accelerator memory of one 1024² single-person image in each offload mode, computed on ``meta``.

    python benchmarks/memory.py [--size 1024] [--steps 30]

Weights: parameter counts of the real configs (``realisid.presets``) times 2 bytes (fp16; the VAE
decodes in fp32, as SDXL's VAE is upcast). Activations: every network call of a phase runs on
``meta`` tensors under a dispatch mode that adds up the bytes of the tensors alive after each
operation (views and in-place results count once) and keeps the largest sum. Attention is
counted as a fused kernel (PyTorch SDPA's flash / memory-efficient kernels on a GPU keep no score
matrix). A mode's peak is the largest, over the phases of a call, of the weights it keeps on the
accelerator in that phase plus that phase's activations.
"""

from __future__ import annotations

import argparse
import weakref
from collections.abc import Callable
from unittest import mock

import torch
from diffusers.utils import logging as diffusers_logging
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from realisid.loading import sdxl_meta_stack
from realisid.models import RealisIDAdapter

GIB = 2**30


class LiveBytes(TorchDispatchMode):
    """The largest number of bytes held by tensors created under this mode at once (``peak``)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self.storages: dict[int, list[int]] = {}  # storage → [tensors using it, bytes]

    def _release(self, key: int) -> None:
        entry = self.storages[key]
        entry[0] -= 1
        if entry[0] == 0:
            self.live -= self.storages.pop(key)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage()._cdata for t in pytree.tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for tensor in pytree.tree_leaves(out):
            if not isinstance(tensor, torch.Tensor):
                continue
            key = tensor.untyped_storage()._cdata
            if key in self.storages:
                self.storages[key][0] += 1
            elif key in inputs:  # a view of a weight or of an outside input
                continue
            else:
                self.storages[key] = [1, tensor.untyped_storage().nbytes()]
                self.live += self.storages[key][1]
            weakref.finalize(tensor, self._release, key)
        self.peak = max(self.peak, self.live)
        return out


def fused_attention(query, key, value, *args, **kwargs):
    """SDPA as a fused kernel: its output is the only tensor it allocates."""
    return query.new_empty(*query.shape[:-1], value.shape[-1])


def activation_peak(fn: Callable[[], object]) -> float:
    """Bytes of the largest set of tensors alive at once while ``fn`` runs (inputs created inside count)."""
    with torch.no_grad(), mock.patch("torch.nn.functional.scaled_dot_product_attention", fused_attention), \
            torch.device("meta"), LiveBytes() as mode:
        fn()
    return mode.peak


def weight_bytes(module: torch.nn.Module, bytes_per_parameter: int = 2) -> float:
    return sum(p.numel() for p in module.parameters()) * bytes_per_parameter


def measure(size: int) -> tuple[dict[str, float], dict[str, float], float]:
    """Weights of each component, activation peak of each phase and the largest layer, in bytes."""
    stack = sdxl_meta_stack()
    with torch.device("meta"):
        adapter = RealisIDAdapter.from_unet(stack.unet, image_encoder=stack.image_encoder)
    half = torch.float16
    unet, local, glob = (m.to(half) for m in (stack.unet, adapter.local_branch.net, adapter.global_branch.net))
    vae = stack.vae  # SDXL's VAE decodes in fp32 (force_upcast)
    config, h, rows = adapter.config, size // 8, 3  # Eq. 8's three guidance rows

    def step() -> None:  # one denoising step with the ID: both branches, then the U-Net with their residuals
        latent = torch.empty(rows, 4, h, h, dtype=half)
        t = torch.tensor(500)
        ids = torch.empty(rows, config.num_id_tokens, config.cross_attention_dim, dtype=half)
        added = {"text_embeds": torch.empty(rows, 1280, dtype=half), "time_ids": torch.empty(rows, 6, dtype=half)}
        text = torch.empty(rows, 77, config.cross_attention_dim, dtype=half)
        crop = torch.empty(rows, 4, config.local_size, config.local_size, dtype=half)
        landmarks = torch.empty(rows, 3, config.landmark_size, config.landmark_size, dtype=half)
        mask = torch.empty(rows, 1, size, size, dtype=half)
        down_l, mid_l = local(crop, t, ids, landmarks, added_cond_kwargs=added, return_dict=False)
        down_g, mid_g = glob(latent, t, ids, mask, added_cond_kwargs=added, return_dict=False)
        down = [a + b for a, b in zip(down_l, down_g)]  # relocated local + global residuals
        unet(latent, t, text, added_cond_kwargs=added, down_block_additional_residuals=down,
             mid_block_additional_residual=mid_l + mid_g)

    def decode(tile: int | None) -> Callable[[], None]:
        """The VAE decode, whole or in ``tile``-pixel tiles (diffusers' default tile is the VAE's 1024 px)."""
        def run() -> None:
            vae.disable_tiling()
            if tile:
                vae.enable_tiling()
                vae.tile_sample_min_size, vae.tile_latent_min_size = tile, tile // 8
            vae.decode(torch.empty(1, 4, h, h))
        return run

    weights = {
        "text encoder ViT-L": weight_bytes(stack.text_encoder),
        "text encoder bigG": weight_bytes(stack.text_encoder_2),
        "image encoder": weight_bytes(stack.image_encoder),
        "U-Net": weight_bytes(unet),
        "adapter": weight_bytes(adapter),
        "VAE (fp32)": weight_bytes(vae, 4),
    }
    text_encoders = [m.to(half) for m in (stack.text_encoder, stack.text_encoder_2)]
    image_encoder = stack.image_encoder.to(half)
    activations = {
        "text encoders": max(activation_peak(lambda m=m: m(torch.zeros(1, 77, dtype=torch.long))) for m in text_encoders),
        "image encoder": activation_peak(lambda: image_encoder(torch.empty(1, 3, 224, 224, dtype=half))),
        "denoising step": activation_peak(step),
        "VAE decode": activation_peak(decode(None)),
        "VAE decode, 512-px tiles": activation_peak(decode(512)),
    }
    layers = [m for c in (unet, *text_encoders, image_encoder) for m in c.modules() if not list(m.children())]
    return weights, activations, max(weight_bytes(m) for m in layers)


def modes(w: dict[str, float], a: dict[str, float], largest_layer: float, steps: int) -> dict[str, tuple[float, float]]:
    """``mode → (peak bytes, host-to-accelerator bytes per image)``. The peak is the largest, over the phases,
    of the weights resident in the phase plus its activations."""
    resident = sum(w.values()) - w["VAE (fp32)"] / 2  # the VAE is kept in fp16 between decodes
    acting = max(a["text encoders"], a["image encoder"], a["denoising step"])
    everything = resident + max(acting, a["VAE decode"] + w["VAE (fp32)"] / 2)

    def model_offload() -> float:
        return max(
            max(w["text encoder ViT-L"], w["text encoder bigG"]) + a["text encoders"],  # one at a time
            w["image encoder"] + w["adapter"] + a["image encoder"],  # the adapter joins to project the ID
            w["U-Net"] + w["adapter"] + a["denoising step"],  # both resident through the loop
            w["VAE (fp32)"] + a["VAE decode"],  # the adapter and the U-Net left before the decode
        )

    once = sum(w.values())  # each component sent to the accelerator once per call
    swapped = once + (steps - 1) * w["adapter"]  # the adapter in the chain: sent again at every step
    grouped = once + (steps - 1) * (w["U-Net"] + w["adapter"])  # both sent again at every step
    streamed = 2 * largest_layer  # the running layer and the next one, prefetched
    return {
        "all on the accelerator (pipe.to('cuda'))": (everything, 0.0),
        "model CPU offload, adapter in the chain (before)": (model_offload(), swapped),
        "model CPU offload, adapter beside the U-Net": (model_offload(), once),
        "group offload, leaf level, streamed + 512-px VAE tiles":
            (streamed + max(acting, a["VAE decode, 512-px tiles"]), grouped),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    diffusers_logging.set_verbosity_error()
    weights, activations, largest_layer = measure(args.size)
    print(f"{args.size}², fp16, one person, three guidance rows\n")
    print("| weights | GiB |\n|---|---:|")
    for name, value in weights.items():
        print(f"| {name} | {value / GIB:.2f} |")
    print("\n| activation peak | GiB |\n|---|---:|")
    for name, value in activations.items():
        print(f"| {name} | {value / GIB:.2f} |")
    print(f"\n| mode | peak GiB | sent to the accelerator per image ({args.steps} steps), GiB |\n|---|---:|---:|")
    for name, (peak, sent) in modes(weights, activations, largest_layer, args.steps).items():
        print(f"| {name} | {peak / GIB:.1f} | {sent / GIB:.0f} |")


if __name__ == "__main__":
    main()
