"""Memory per GPU of training at the paper's recipe (batch 16 over 8 GPUs, 1024², bf16), per setup.

    python benchmarks/train_memory.py [--gpus 8] [--batch 16] [--size 1024]

Weights, gradients and optimizer states are counted exactly from the parameter counts of the real
configs (built on ``meta``, no memory). Activations are an estimate: the bytes autograd keeps from
the forward pass to the backward pass of one training step with gradient checkpointing on, counted
on ``meta`` tensors in bf16 (the transient peak of recomputing one block during the backward pass
comes on top).

Precision, as ``realisid train`` runs with ``mixed_precision: bf16``: the frozen models in bf16 except
the VAE (fp32: SDXL's VAE overflows in half precision); the trained adapter in fp32 under autocast,
fp32 gradients, AdamW's two fp32 states (8-bit AdamW: one byte each plus a float32 scale per block of
256, tensors under 4,096 elements keep fp32 states as bitsandbytes does). DDP adds its fp32 gradient
buckets (accelerate's default ``gradient_as_bucket_view=False``). DeepSpeed ZeRO-2 keeps the adapter
in bf16 on every GPU, its bf16 gradients and the fp32 master weights and AdamW states split over the
GPUs, plus its reduce bucket (5e8 elements in bf16, DeepSpeed's default).
"""

from __future__ import annotations

import argparse

import torch
from torch.autograd.graph import saved_tensors_hooks

from realisid.loading import sdxl_meta_stack
from realisid.models import RealisIDAdapter
from realisid.training.dataset import Batch
from realisid.training.step import AdapterTrainingModule, Inputs, training_loss

GIB = 2**30
BLOCK, SMALL = 256, 4096
"""bitsandbytes' 8-bit optimizer block size and the size under which it keeps fp32 states."""
DEEPSPEED_REDUCE_BUCKET = 5e8


def counts() -> dict[str, int]:
    """Parameter counts of the frozen parts and the trained adapter (all, and in tensors < 4,096)."""
    stack = sdxl_meta_stack()
    with torch.device("meta"):
        adapter = RealisIDAdapter.from_unet(stack.unet, image_encoder=stack.image_encoder)
    numel = lambda module: sum(p.numel() for p in module.parameters())
    return {
        "frozen_bf16": sum(
            numel(m) for m in (stack.unet, stack.text_encoder, stack.text_encoder_2, stack.image_encoder)
        ),
        "vae_fp32": numel(stack.vae),
        "trained": numel(adapter),
        "trained_small": sum(p.numel() for p in adapter.parameters() if p.numel() < SMALL),
    }


def activations(per_gpu: int, size: int) -> int:
    """Bytes saved for the backward pass by one training step of ``per_gpu`` samples (estimate, meta, bf16)."""
    stack = sdxl_meta_stack()
    with torch.device("meta"):
        adapter = RealisIDAdapter.from_unet(stack.unet, image_encoder=stack.image_encoder)
    unet = stack.unet.to(torch.bfloat16).requires_grad_(False)
    adapter.to(torch.bfloat16)
    for net in (unet, *(branch.net for branch in adapter.branches.values())):
        net.enable_gradient_checkpointing()
    config, h, b = adapter.config, size // 8, per_gpu
    with torch.device("meta"):
        latents = torch.empty(b, 4, h, h, dtype=torch.bfloat16)
        inputs = Inputs(
            noisy=latents,
            target=latents.float(),
            timesteps=torch.zeros(b, dtype=torch.long),
            features=torch.empty(
                b, config.image_feature_tokens, config.image_feature_dim, dtype=torch.bfloat16
            ),
            text=torch.empty(b, 77, config.cross_attention_dim, dtype=torch.bfloat16),
            added_cond_kwargs={
                "text_embeds": torch.empty(b, 1280, dtype=torch.bfloat16),
                "time_ids": torch.empty(b, 6, dtype=torch.bfloat16),
            },
        )
        batch = Batch(
            keys=[""] * b,
            captions=[""] * b,
            boxes=torch.empty(b, 3),
            time_ids=torch.empty(b, 6),
            landmark_images=torch.empty(b, 3, config.landmark_size, config.landmark_size),
        )
    saved: dict[int, int] = {}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        saved[storage._cdata] = storage.nbytes()
        return tensor

    with saved_tensors_hooks(keep, lambda tensor: tensor):
        training_loss(AdapterTrainingModule(adapter).train(), unet, inputs, batch, 1.0)
    return sum(saved.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16, help="samples per optimizer step over all GPUs")
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    n, per_gpu = counts(), args.batch // args.gpus
    frozen = 2 * n["frozen_bf16"] + 4 * n["vae_fp32"]
    trained, small = n["trained"], n["trained_small"]
    adam, adam8 = 8 * trained, 2 * (trained - small) * (1 + 4 / BLOCK) + 8 * small
    act = activations(per_gpu, args.size)
    g = args.gpus
    setups = [  # name, trained weights, gradients (with DDP's buckets, DeepSpeed's bucket), optimizer states
        ("1 GPU, AdamW", 4 * trained, 4 * trained, adam),
        ("1 GPU, 8-bit AdamW", 4 * trained, 4 * trained, adam8),
        (f"{g} GPUs DDP, AdamW", 4 * trained, 8 * trained, adam),
        (f"{g} GPUs DDP, 8-bit AdamW", 4 * trained, 8 * trained, adam8),
        (
            f"{g} GPUs ZeRO-2, AdamW",
            2 * trained,
            2 * trained / g + 2 * DEEPSPEED_REDUCE_BUCKET,
            (4 * trained + adam) / g,
        ),
        (
            f"{g} GPUs ZeRO-2, 8-bit AdamW",
            2 * trained,
            2 * trained / g + 2 * DEEPSPEED_REDUCE_BUCKET,
            (4 * trained + adam8) / g,
        ),
    ]
    print(
        f"frozen: {n['frozen_bf16']:,} parameters in bf16 + VAE {n['vae_fp32']:,} in fp32; "
        f"trained: {trained:,} ({small:,} in tensors under {SMALL:,} elements)"
    )
    print(
        f"batch {args.batch} = {per_gpu} per GPU and step ({args.batch // per_gpu} accumulation steps on 1 GPU), "
        f"{args.size}², activations (estimate) {act / GIB:.1f} GiB at {per_gpu} samples\n"
    )
    print(
        "| setup | frozen models | trained weights | gradients | optimizer states | activations (est.) | total |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, weights, grads, states in setups:
        total = frozen + weights + grads + states + act
        cells = " | ".join(f"{v / GIB:.1f}" for v in (frozen, weights, grads, states, act, total))
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
