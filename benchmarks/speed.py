"""Wall-clock per denoising step and per image: SDXL, InstantID-style, RealisID naive and as implemented.

    python benchmarks/speed.py                                   # CPU, tiny stack, 256²
    python benchmarks/speed.py --stack sdxl --device cuda --dtype fp16 --size 1024   # GPU, SDXL size

Speed does not depend on weight values, so the SDXL-size run builds every network from the real
configs with random weights. Variants are timed interleaved (one call of each per round) and
the median over rounds is reported, so machine noise hits them alike; ratios are to SDXL from
the same run. On CUDA the peak memory of each variant is reported too; ``benchmarks/gpu.sh`` runs the
GPU table of docs/performance.md (offloading and training included) in one command.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from diffusers import ControlNetModel, StableDiffusionXLPipeline

from realisid.faces import extract_conditions
from realisid.faces.samples import astronaut, grace_hopper
from realisid.loading import Stack, sdxl_meta_stack, tiny_adapter_config, tiny_stack
from realisid.models import RealisIDAdapter, RealisIDConfig, location_mask
from realisid.persons import Person
from realisid.pipeline import RealisIDPipeline


def random_stack(stack_name: str, device: str) -> Stack:
    """The tiny stack, or the real SDXL-1.0 + CLIP ViT-H/14 shapes with random weights made on ``device``."""
    if stack_name == "tiny":
        return tiny_stack(0)
    stack = sdxl_meta_stack()
    for name in ("unet", "vae", "text_encoder", "text_encoder_2", "image_encoder"):
        module = getattr(stack, name).to_empty(device=device)
        for param in module.parameters():
            torch.nn.init.normal_(param, std=0.02)
        for buffer in module.buffers():  # CLIP's position ids, the only buffers: 0, 1, 2, ...
            buffer.copy_(torch.arange(buffer.shape[-1]).expand_as(buffer))
        setattr(stack, name, module)
    return stack


def adapter_config(stack_name: str) -> RealisIDConfig:
    return tiny_adapter_config() if stack_name == "tiny" else RealisIDConfig()


def build(stack_name: str, device: str, dtype: torch.dtype) -> RealisIDPipeline:
    stack = random_stack(stack_name, device)
    adapter = RealisIDAdapter.from_unet(stack.unet, adapter_config(stack_name))
    pipe = RealisIDPipeline(**vars(stack), adapter=adapter).to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def step_variants(pipe: RealisIDPipeline, size: int, persons: int) -> dict:
    """One denoising step of each variant (network calls only), as zero-argument callables."""
    device, dtype = pipe.unet.device, pipe.unet.dtype
    config = pipe.adapter.config
    g = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(device, dtype)

    h = size // 8
    text_dim = pipe.unet.config.cross_attention_dim
    pooled = pipe.text_encoder_2.config.projection_dim
    latents = rand(1, 4, h, h)
    t = torch.tensor(500, device=device)

    def rows(n):
        return {"text_embeds": rand(n, pooled), "time_ids": rand(n, 6)}

    text = {n: rand(n, 77, text_dim) for n in (2, 3)}
    ids = rand(3, persons, config.num_id_tokens, text_dim)
    landmarks = torch.rand(3, persons, 3, config.landmark_size, config.landmark_size, generator=g).to(device, dtype)
    boxes = torch.tensor([[size * (0.1 + 0.2 * p), size * 0.3, size / 6] for p in range(persons)], device=device)
    boxes = boxes.expand(3, persons, 3).contiguous()
    masks = location_mask(boxes.flatten(0, 1), (size, size), (size, size)).to(dtype).unflatten(0, (3, persons))
    identitynet = ControlNetModel.from_unet(pipe.unet, conditioning_channels=3).to(device, dtype)
    face_image = rand(2, 3, size, size)
    added2, added3 = rows(2), rows(3)

    def unet(x, n, residuals=None):
        kwargs = residuals.unet_kwargs() if residuals is not None else {}
        return pipe.unet(x, t, text[n], added_cond_kwargs=added2 if n == 2 else added3, **kwargs).sample

    def sdxl():
        unet(latents.repeat(2, 1, 1, 1), 2)

    def instantid():
        x = latents.repeat(2, 1, 1, 1)
        down, mid = identitynet(x, t, ids[:2, 0], face_image, added_cond_kwargs=added2, return_dict=False)
        pipe.unet(x, t, text[2], added_cond_kwargs=added2, down_block_additional_residuals=down,
                  mid_block_additional_residual=mid)

    def naive():  # 3 rows every step, a branch call per person, condition encoders every step
        x = latents.repeat(3, 1, 1, 1)
        total = None
        for p in range(persons):
            fresh = landmarks[:, p : p + 1].clone()  # a new tensor: encoded again, as at every step
            residual = pipe.adapter(x, t, ids[:, p : p + 1], fresh, boxes[:, p : p + 1], added3)
            total = residual.plus(total)
        unet(x, 3, total)

    def implemented():  # persons batched, encodings reused (the pipeline keeps them across steps)
        x = latents.repeat(3, 1, 1, 1)
        unet(x, 3, pipe.adapter(x, t, ids, landmarks, boxes, added3, location_masks=masks))

    return {"SDXL (2-way)": sdxl, "InstantID-style": instantid, "RealisID naive": naive,
            "RealisID as implemented": implemented}


def timed(fn, device: str) -> tuple[float, float]:
    """Seconds of one call, and the peak memory it reached (GiB; 0 on CPU)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return time.perf_counter() - start, torch.cuda.max_memory_allocated() / 2**30
    return time.perf_counter() - start, 0.0


def interleaved(variants: dict, rounds: int, device: str) -> dict[str, tuple[float, float]]:
    results = {name: [] for name in variants}
    peaks = dict.fromkeys(variants, 0.0)
    for name, fn in variants.items():  # warm-up
        fn()
    for _ in range(rounds):
        for name, fn in variants.items():
            seconds, peak = timed(fn, device)
            results[name].append(seconds)
            peaks[name] = max(peaks[name], peak)
    return {name: (statistics.median(times), peaks[name]) for name, times in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", choices=("tiny", "sdxl"), default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32")
    parser.add_argument("--size", type=int, default=None, help="image side in pixels")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--persons", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--channels-last", action="store_true", help="channels-last U-Net and branches")
    parser.add_argument("--compile", action="store_true", help="torch.compile the U-Net and both branches")
    parser.add_argument("--offload", choices=("model", "group"),
                        help="only: one single-person image with model CPU offload, or leaf-level group offload "
                             "(streamed), and 512-px VAE tiles: time and peak memory")
    args = parser.parse_args()
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    size = args.size or (256 if args.stack == "tiny" else 1024)
    pipe = build(args.stack, args.device, dtype)
    networks = [pipe.unet, pipe.adapter.local_branch.net, pipe.adapter.global_branch.net]
    if args.channels_last:
        for net in networks:
            net.to(memory_format=torch.channels_last)
    if args.compile:
        for net in networks:
            net.compile(dynamic=True)
    options = ", ".join(name for name in ("channels_last", "compile") if getattr(args, name)) or "eager"
    print(f"device {args.device}, {args.stack} stack, {args.dtype}, {options}, {size}², "
          f"median of {args.rounds} interleaved rounds")

    print("\n| persons | variant | s / step | × SDXL | peak GiB |\n|---:|---|---:|---:|---:|")
    with torch.no_grad(), pipe.adapter.reusing_conditions():  # as in the pipeline's denoising loop
        for persons in args.persons:
            results = interleaved(step_variants(pipe, size, persons), args.rounds, args.device)
            base = results["SDXL (2-way)"][0]
            for name, (seconds, peak) in results.items():
                print(f"| {persons} | {name} | {seconds:.4f} | {seconds / base:.2f} | {peak:.2f} |")

    references = [extract_conditions(astronaut()), extract_conditions(grace_hopper())]
    sdxl = StableDiffusionXLPipeline(**{k: v for k, v in pipe.components.items() if k != "adapter"})
    sdxl.set_progress_bar_config(disable=True)
    common = {"height": size, "width": size, "num_inference_steps": args.steps, "output_type": "pil"}
    images = {"SDXL pipeline": lambda: sdxl("a photo of a person", guidance_scale=7.5, **common)}
    for persons in args.persons:
        people = [Person(references[p % 2], box=(0.25 + 0.5 * (p % 2), 0.3 + 0.2 * (p // 2), 1 / 6)) for p in range(persons)]
        images[f"RealisID pipeline, {persons} person(s)"] = lambda people=people: pipe("a photo", people, **common)
    print(f"\n| per image ({args.steps} steps, whole call) | s / image | × SDXL | peak GiB |\n|---|---:|---:|---:|")
    with torch.no_grad():
        results = interleaved(images, max(1, args.rounds // 2), args.device)
    base = results["SDXL pipeline"][0]
    for name, (seconds, peak) in results.items():
        print(f"| {name} | {seconds:.2f} | {seconds / base:.2f} | {peak:.2f} |")


def offloaded(args: argparse.Namespace, dtype: torch.dtype, size: int) -> None:
    """Time and peak accelerator memory of a single-person image with a diffusers offload mode on."""
    pipe = build(args.stack, "cpu", dtype)
    if args.offload == "model":
        pipe.enable_model_cpu_offload(device=args.device)
    else:
        pipe.enable_group_offload(torch.device(args.device), offload_type="leaf_level", use_stream=True)
    pipe.vae.enable_tiling()
    pipe.vae.tile_sample_min_size, pipe.vae.tile_latent_min_size = 512, 64  # the default tile is 1024 px
    person = [Person(extract_conditions(astronaut()), box=(0.5, 0.4, 1 / 6))]
    with torch.no_grad():
        seconds, peak = timed(lambda: pipe("a photo", person, height=size, width=size,
                                           num_inference_steps=args.steps), args.device)
    print(f"{args.offload} offload + 512-px VAE tiles, {args.stack} stack, {args.dtype}, {size}², 1 person, "
          f"{args.steps} steps: {seconds:.1f} s, peak {peak:.2f} GiB")


if __name__ == "__main__":
    main()
