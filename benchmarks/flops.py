"""FLOPs of one denoising step and one image at the real SDXL-1.0 size, counted on ``meta`` (no memory).

    python benchmarks/flops.py [--size 1024] [--steps 30] [--id-start 0.2]

Every network is the real configuration (``realisid.presets``) built on the ``meta`` device and
measured with ``torch.utils.flop_counter.FlopCounterMode`` at batch 1; costs are linear in the
batch, so a variant's cost is the sum of its network calls times their batch sizes:

* **SDXL**: U-Net on 2 guidance rows (uncond, text).
* **InstantID-style**: 2 rows of U-Net + one ControlNet on the whole latent (landmarks, ID tokens).
* **RealisID naive**: 3 rows (Eq. 8) every step, both branches per person, condition encoders
  re-run at every step.
* **RealisID as implemented**: delayed ID (2 rows for the first ``id_start`` of the steps), the
  condition encoders run once per phase (``ConditionMemo``), persons batched into one call per
  branch (batching changes speed, not FLOPs).

Per-image totals add what runs once: both text encoders (3 prompts: empty, text), the CLIP image
encoder per person, and the VAE decoder.
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from realisid.guidance import delayed_steps
from realisid.loading import sdxl_meta_stack
from realisid.models import RealisIDAdapter

TFLOP = 1e12


def flops(fn) -> float:
    """FLOPs (multiply-add = 2) of one call of ``fn`` on meta tensors."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def measure(size: int) -> dict[str, float]:
    """FLOPs of each network call at batch 1 for ``size×size`` images."""
    stack = sdxl_meta_stack()
    with torch.device("meta"):
        adapter = RealisIDAdapter.from_unet(stack.unet, image_encoder=stack.image_encoder)
        config = adapter.config
        h = size // 8
        latent = torch.empty(1, 4, h, h)
        t = torch.tensor(500)
        text = torch.empty(1, 77, config.cross_attention_dim)
        ids = torch.empty(1, config.num_id_tokens, config.cross_attention_dim)
        added = {"text_embeds": torch.empty(1, 1280), "time_ids": torch.empty(1, 6)}
        local_net, global_net = adapter.local_branch.net, adapter.global_branch.net
        landmarks = torch.empty(1, 3, config.landmark_size, config.landmark_size)
        mask = torch.empty(1, 1, size, size)
        crop = torch.empty(1, 4, config.local_size, config.local_size)
        half = config.local_size // 2
        return {
            "unet": flops(lambda: stack.unet(latent, t, text, added_cond_kwargs=added)),
            "local": flops(lambda: local_net(crop, t, ids, landmarks, added_cond_kwargs=added)),
            "local_encoder": flops(lambda: local_net.controlnet_cond_embedding(landmarks)),
            "local_half_L": flops(lambda: local_net(torch.empty(1, 4, half, half), t, ids, torch.empty(1, 3, 8 * half, 8 * half),
                                                    added_cond_kwargs=added)),
            "local_half_L_encoder": flops(lambda: local_net.controlnet_cond_embedding(torch.empty(1, 3, 8 * half, 8 * half))),
            "global": flops(lambda: global_net(latent, t, ids, mask, added_cond_kwargs=added)),
            "global_encoder": flops(lambda: global_net.controlnet_cond_embedding(mask)),
            # InstantID's IdentityNet: a ControlNet on the whole latent, landmark image, ID tokens.
            "instantid": flops(lambda: local_net(latent, t, ids, torch.empty(1, 3, size, size), added_cond_kwargs=added)),
            "instantid_encoder": flops(lambda: local_net.controlnet_cond_embedding(torch.empty(1, 3, size, size))),
            "text": flops(lambda: stack.text_encoder(torch.zeros(1, 77, dtype=torch.long)))
            + flops(lambda: stack.text_encoder_2(torch.zeros(1, 77, dtype=torch.long))),
            "image_encoder": flops(lambda: stack.image_encoder(torch.empty(1, 3, 224, 224))),
            "projection": flops(lambda: adapter.project(torch.empty(1, config.image_feature_tokens, config.image_feature_dim))),
            "vae_decode": flops(lambda: stack.vae.decode(torch.empty(1, 4, h, h))),
        }


def variants(f: dict[str, float], persons: int, steps: int, id_start: float) -> dict[str, tuple[float, float]]:
    """``name → (FLOPs of a step with the ID, FLOPs of a whole image)``."""
    P = persons
    once = 2 * f["text"] + f["vae_decode"]
    once_id = once + P * (f["image_encoder"] + f["projection"])
    local_body = f["local"] - f["local_encoder"]
    global_body = f["global"] - f["global_encoder"]
    branches = local_body + global_body  # one person, one row, encoders excluded
    encoder = f["local_encoder"] + f["global_encoder"]
    delayed = delayed_steps(steps, id_start)

    def realisid(branch_rows_id: int, branch_rows_delayed: int, body: float, enc: float) -> tuple[float, float]:
        """U-Net on 3 (2 while delayed) rows, branches on the given rows, encoders once per phase."""
        with_id = 3 * f["unet"] + branch_rows_id * P * body
        without = 2 * f["unet"] + branch_rows_delayed * P * body
        encoders = (branch_rows_id + branch_rows_delayed) * P * enc
        image = delayed * without + (steps - delayed) * with_id + encoders + once_id
        return with_id + branch_rows_id * P * enc / steps, image

    sdxl = 2 * f["unet"]
    instantid = 2 * (f["unet"] + f["instantid"])
    naive = 3 * (f["unet"] + P * (f["local"] + f["global"]))
    half_body = f["local_half_L"] - f["local_half_L_encoder"] + global_body
    half_encoder = f["local_half_L_encoder"] + f["global_encoder"]
    return {
        "SDXL (2-way)": (sdxl, steps * sdxl + once),
        "InstantID-style (2-way, U-Net + ControlNet)": (instantid, steps * instantid + once_id),
        "RealisID naive (3-way, every step)": (naive, steps * naive + once_id),
        "RealisID as implemented": realisid(3, 2, branches, encoder),
        "  option: branches without pooled text (null slots share)": realisid(2, 1, branches, encoder),
        "  option: local grid L = 64": realisid(3, 2, half_body, half_encoder),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--id-start", type=float, default=0.2)
    args = parser.parse_args()
    f = measure(args.size)
    print(f"Networks at batch 1, {args.size}² (TFLOP): " + ", ".join(f"{k} {v / TFLOP:.3f}" for k, v in f.items()))
    print()
    print(f"| persons | variant | TFLOP / step (with ID) | TFLOP / image ({args.steps} steps) | × SDXL (image) |")
    print("|---:|---|---:|---:|---:|")
    for persons in (1, 2, 4):
        table = variants(f, persons, args.steps, args.id_start)
        base = table["SDXL (2-way)"][1]
        for name, (step, image) in table.items():
            print(f"| {persons} | {name} | {step / TFLOP:.2f} | {image / TFLOP:.1f} | {image / base:.2f} |")
    one = variants(f, 1, args.steps, args.id_start)
    ours, theirs = one["RealisID as implemented"][1], one["InstantID-style (2-way, U-Net + ControlNet)"][1]
    print(f"\nRealisID as implemented / InstantID-style, 1 person, per image: {ours / theirs:.3f}")


if __name__ == "__main__":
    main()
