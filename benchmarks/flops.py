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
* **Options** one at a time: the null-ID rows sharing a branch pass (branches without the pooled
  text), a local grid ``L`` of 64, the ID guidance row only until ``id_stop`` (2 rows afterwards);
  and the **efficient preset** of ``realisid.presets`` (``EFFICIENT_ADAPTER``, ``EFFICIENT_SAMPLING``).

Per-image totals add what runs once: both text encoders (3 prompts: empty, text), the CLIP image
encoder per person, and the VAE decoder.
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from realisid.guidance import id_steps
from realisid.loading import sdxl_meta_stack
from realisid.models import RealisIDAdapter
from realisid.presets import EFFICIENT_ADAPTER, EFFICIENT_SAMPLING

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
    no_pooled, id_stop = not EFFICIENT_ADAPTER["branch_pooled_text"], EFFICIENT_SAMPLING["id_stop"]
    once = 2 * f["text"] + f["vae_decode"]
    once_id = once + P * (f["image_encoder"] + f["projection"])
    full_L = (f["local"] - f["local_encoder"] + f["global"] - f["global_encoder"],  # one person, one row
              f["local_encoder"] + f["global_encoder"])
    half_L = (f["local_half_L"] - f["local_half_L_encoder"] + f["global"] - f["global_encoder"],
              f["local_half_L_encoder"] + f["global_encoder"])

    def realisid(shared: bool = False, grid: tuple[float, float] = full_L, id_stop: float = 1.0) -> tuple[float, float]:
        """U-Net on 3 rows while the ID guidance row runs, on 2 before it (delayed ID) and after it (``id_stop``);
        the branches on as many rows, one fewer when the first two rows ``shared`` a pass; encoders once per phase."""
        body, encoders = grid
        interval = id_steps(steps, id_start, max(id_start, id_stop))
        branch_rows = lambda rows: (rows - shared) * P
        phases = [(interval.start, 2), (len(interval), 3), (steps - interval.stop, 2)]  # (steps, guidance rows)
        image = once_id + sum(
            n * (rows * f["unet"] + branch_rows(rows) * body) + (n > 0) * branch_rows(rows) * encoders
            for n, rows in phases
        )
        return 3 * f["unet"] + branch_rows(3) * (body + encoders / steps), image

    sdxl = 2 * f["unet"]
    instantid = 2 * (f["unet"] + f["instantid"])
    naive = 3 * (f["unet"] + P * (f["local"] + f["global"]))
    return {
        "SDXL (2-way)": (sdxl, steps * sdxl + once),
        "InstantID-style (2-way, U-Net + ControlNet)": (instantid, steps * instantid + once_id),
        "RealisID naive (3-way, every step)": (naive, steps * naive + once_id),
        "RealisID as implemented": realisid(),
        "  option: branches without pooled text (null slots share)": realisid(shared=True),
        "  option: local grid L = 64": realisid(grid=half_L),
        f"  option: ID guidance row until id_stop = {id_stop}": realisid(id_stop=id_stop),
        "RealisID efficient preset (null slots share + id_stop)": realisid(no_pooled, id_stop=id_stop),
        "  efficient preset + L = 64": realisid(no_pooled, half_L, id_stop),
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
    theirs = one["InstantID-style (2-way, U-Net + ControlNet)"][1]
    for name in ("RealisID as implemented", "RealisID efficient preset (null slots share + id_stop)"):
        print(f"\n{name} / InstantID-style, 1 person, per image: {one[name][1] / theirs:.3f}", end="")
    print()


if __name__ == "__main__":
    main()
