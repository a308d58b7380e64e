"""The real SDXL-1.0 + CLIP ViT-H/14 + RealisID stack on the CPU with random bf16 weights: one sampling call
and one training step, every shape, dtype and value checked on the way, with wall time and peak memory.

    python benchmarks/real_size.py [--config real|tiny] [--products fp32|bf16] [--seed 0]

Every network is built from its real config (``realisid.presets``, ``RealisIDConfig()``) on ``meta`` and
given seeded random bf16 weights in place (no default init, no fp32 copy; :func:`randomize`), the
branches' zero convolutions too, so their residuals are not zero. Then, at 512² with two persons:

1. **sampling**: ``RealisIDPipeline`` for 2 DDIM steps with the ID from step 0, so all three guidance
   rows of Eq. 8 run at both steps; hooks check the ID features and tokens, the local branch's crop
   and condition, both branches' residuals before and after relocation, the U-Net's inputs and output,
   the latents after each step and the decoded image;
2. **training inputs**: ``realisid.training.step.frozen_inputs`` on one sample made by ``prepare``'s and
   the loader's own code (VAE, both text encoders, the image encoder); then those four are freed;
3. **training step**: Eq. 7 through ``training_loss`` and one backward pass, batch 1, gradient
   checkpointing on the U-Net and both branches, no optimizer: each gradient is checked (finite, the
   parameter's shape and dtype) the moment it is complete and then dropped, so gradients take no memory.

``--products fp32`` (default) runs the bf16 matrix products and convolutions in fp32 kernels
(:class:`Fp32Products`): the same bf16-input, fp32-sum arithmetic as bf16 hardware, 3.5-5x faster than
PyTorch's bf16 CPU kernels on CPUs without AVX512-BF16 or AMX (a real-width transformer block: 0.58 s
instead of 2.07 s on one core here). ``--config tiny`` runs the same code on the tiny stack at its own
128² in seconds (``tests/test_benchmarks.py``). Peak RSS is per phase where Linux lets the high-water
mark be reset (``/proc/self/clear_refs``), else the running peak.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from diffusers.utils import logging as diffusers_logging
from torch import Tensor, nn
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from realisid.faces.samples import astronaut, grace_hopper
from realisid.loading import Stack, sdxl_meta_stack, tiny_adapter_config, tiny_stack
from realisid.models import RealisIDAdapter, RealisIDConfig
from realisid.persons import Person
from realisid.pipeline import RealisIDPipeline
from realisid.sampling import SamplingOptions
from realisid.training.dataset import Batch, collate, decode_sample
from realisid.training.samples import PrepareSettings, make_sample
from realisid.training.sources import SourceItem
from realisid.training.step import AdapterTrainingModule, Inputs, StepSettings, frozen_inputs, training_loss

SIZES = {"real": 512, "tiny": 128}
"""Image side: 512² at the real size, the tiny stack's own 128² (its tests run in seconds)."""
STEPS = 2
DTYPE = torch.bfloat16
PROMPT = "two friends laughing in a park"
BOXES = ((0.3, 0.45, 0.3), (0.72, 0.5, 0.2))
"""One relative box per person, of different sizes."""
GIB = 2**30
NETWORKS = {  # Stack attribute → table name
    "unet": "U-Net",
    "vae": "VAE",
    "text_encoder": "text encoder 1",
    "text_encoder_2": "text encoder 2",
    "image_encoder": "image encoder",
}


# ------------------------------------------------------------------------------------------ weights
def randomize(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Gives ``module`` (on ``meta`` or anywhere) seeded random bf16 weights on the CPU, in place: matrices
    and kernels N(0, 1/fan-in), which keeps activations at a steady scale through the depth (finite in
    bf16); norm scales 1, other vectors 0; buffers (CLIP's position ids, the only ones) 0, 1, 2, ..."""
    module.to(DTYPE).to_empty(device="cpu")
    with torch.no_grad():
        for name, param in module.named_parameters():
            if param.ndim >= 2:
                param.normal_(0.0, param[0].numel() ** -0.5, generator=generator)
            else:
                param.fill_(1.0 if name.endswith("weight") else 0.0)
        for name, buffer in module.named_buffers():
            if not name.endswith("position_ids"):
                raise RuntimeError(f"{type(module).__name__}.{name}: a buffer this benchmark cannot rebuild")
            buffer.copy_(torch.arange(buffer.shape[-1]).expand_as(buffer))
    return module


def build(config: str, seed: int) -> tuple[Stack, RealisIDAdapter]:
    """The ``"real"`` or ``"tiny"`` stack and RealisID adapter, frozen networks and trainable adapter,
    with seeded random bf16 weights (:func:`randomize`)."""
    if config == "real":
        stack, adapter_config = sdxl_meta_stack(), RealisIDConfig()
    else:
        with torch.device("meta"):
            stack = tiny_stack()
        adapter_config = tiny_adapter_config()
    with torch.device("meta"):
        adapter = RealisIDAdapter.from_unet(stack.unet, adapter_config)
    generator = torch.Generator().manual_seed(seed)
    for name in NETWORKS:
        randomize(getattr(stack, name), generator).requires_grad_(False).eval()
    return stack, randomize(adapter, generator)


def parameter_counts(stack: Stack, adapter: RealisIDAdapter) -> dict[str, int]:
    """Parameters of each network and of all together."""
    modules = {name: getattr(stack, key) for key, name in NETWORKS.items()}
    modules.update(
        {"local branch": adapter.local_branch, "global branch": adapter.global_branch, "projection": adapter.projection}
    )
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in modules.items()}
    return {**counts, "all": sum(counts.values())}


# ---------------------------------------------------------------------------------- fp32 products
def _is_bf16(value: object) -> bool:
    return isinstance(value, Tensor) and value.dtype == DTYPE


_ATEN = torch.ops.aten
_PRODUCTS = frozenset({
    _ATEN.mm.default, _ATEN.addmm.default, _ATEN.bmm.default, _ATEN.baddbmm.default,
    _ATEN.convolution.default, _ATEN.convolution_backward.default,
})
"""Linear layers, matrix products and convolutions, forward and backward, below autograd."""


class Fp32Products(TorchDispatchMode):
    """Runs bf16 matrix products and convolutions (forward and backward) in fp32 kernels and rounds the
    results to bf16. Products of bf16 numbers are exact in fp32, so this is bf16 hardware's arithmetic
    (bf16 inputs, fp32 sums) in faster CPU kernels. It acts below autograd: weights, activations and what
    autograd saves stay bf16. Calls mixing bf16 with other float dtypes run as they are (and fail as they would)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        floats = [t for t in pytree.tree_leaves((args, kwargs)) if isinstance(t, Tensor) and t.is_floating_point()]
        if func not in _PRODUCTS or not floats or not all(map(_is_bf16, floats)):
            return func(*args, **kwargs)
        up = lambda t: t.float() if _is_bf16(t) else t
        out = func(*pytree.tree_map(up, args), **pytree.tree_map(up, kwargs))
        return pytree.tree_map(lambda t: t.to(DTYPE) if isinstance(t, Tensor) and t.is_floating_point() else t, out)


# ------------------------------------------------------------------------------------------- checks
class CheckFailed(AssertionError):
    """A tensor on the way had another shape or dtype than the configs give, or a NaN or infinity."""


@dataclass
class Checks:
    """The checks of one phase; ``count`` says how many passed."""

    count: int = 0

    def tensor(self, what: str, tensor: Tensor, shape: tuple[int, ...], dtype: torch.dtype = DTYPE) -> None:
        if tuple(tensor.shape) != tuple(shape) or tensor.dtype != dtype:
            raise CheckFailed(f"{what}: {tuple(tensor.shape)} {tensor.dtype}, expected {tuple(shape)} {dtype}")
        if not torch.isfinite(tensor).all():
            raise CheckFailed(f"{what}: holds NaN or infinity")
        self.count += 1

    def residuals(
        self, what: str, down: tuple[Tensor, ...], mid: Tensor, rows: int, grid: list[tuple[int, int]]
    ) -> None:
        """Down-block residuals and the mid-block one, ``grid`` from :func:`residual_grid`."""
        if len(down) != len(grid) - 1:
            raise CheckFailed(f"{what}: {len(down)} down-block residuals, expected {len(grid) - 1}")
        for i, (residual, (channels, side)) in enumerate(zip((*down, mid), grid)):
            self.tensor(f"{what} {'mid' if i == len(down) else f'down {i}'}", residual, (rows, channels, side, side))

    def that(self, what: str, condition: bool) -> None:
        if not condition:
            raise CheckFailed(what)
        self.count += 1


def residual_grid(unet: UNet2DConditionModel, side: int) -> list[tuple[int, int]]:
    """``(channels, side)`` of each down-block residual of a ``side``² U-Net input, then of the mid-block one,
    from the U-Net's config: conv_in, ``layers_per_block`` resnets per block, a stride-2 down-sampler
    after every block but the last."""
    widths, layers = unet.config.block_out_channels, unet.config.layers_per_block
    grid = [(widths[0], side)]
    for i, width in enumerate(widths):
        grid += [(width, side)] * layers
        if i < len(widths) - 1:
            side = -(-side // 2)
            grid.append((width, side))
    return [*grid, (widths[-1], side)]


@contextmanager
def watching(
    checks: Checks, unet: UNet2DConditionModel, adapter: RealisIDAdapter, size: int, rows: int, persons: int
) -> Iterator[list[int]]:
    """Checks every call of the projection, both branches and the U-Net while open; yields the U-Net's
    row count at each of its calls. ``size``: the image side, ``rows``: U-Net rows per call, ``persons``:
    branch rows per U-Net row."""
    config, latent = adapter.config, size // 8
    n, tokens, width = rows * persons, config.num_id_tokens, config.cross_attention_dim
    on_latent, on_crop = residual_grid(unet, latent), residual_grid(unet, config.local_size)
    unet_rows: list[int] = []

    def projection(module, args, out) -> None:
        features = args[0]
        checks.tensor("ID features", features, (len(features), config.image_feature_tokens, config.image_feature_dim))
        checks.tensor("ID tokens", out, (len(features), tokens, width))

    def branch_net(name: str, grid: list[tuple[int, int]], channels: int, pixels: int) -> Callable:
        """Checks a branch's ControlNet: its input on ``grid``, condition ``(channels, pixels, pixels)``."""

        def hook(module, args, kwargs, out) -> None:
            checks.tensor(f"{name} branch input", args[0], (n, 4, grid[0][1], grid[0][1]))
            checks.tensor(f"{name} branch ID prompt", kwargs["encoder_hidden_states"], (n, tokens, width))
            checks.tensor(f"{name} branch condition", kwargs["controlnet_cond"], (n, channels, pixels, pixels))
            checks.residuals(f"{name} branch residual", tuple(out[0]), out[1], n, grid)
        return hook

    def local_branch(module, args, out) -> None:
        checks.residuals("relocated local residual", out.down, out.mid, n, on_latent)

    def unet_call(module, args, kwargs, out) -> None:
        unet_rows.append(len(args[0]))
        checks.tensor("U-Net input", args[0], (rows, 4, latent, latent))
        checks.tensor("U-Net text", kwargs["encoder_hidden_states"], (rows, 77, width))
        checks.residuals(
            "U-Net residual", kwargs["down_block_additional_residuals"], kwargs["mid_block_additional_residual"],
            rows, on_latent,
        )
        checks.tensor("U-Net output", out[0], (rows, 4, latent, latent))

    handles = [
        adapter.projection.register_forward_hook(projection),
        adapter.local_branch.net.register_forward_hook(
            branch_net("local", on_crop, 3, config.landmark_size), with_kwargs=True
        ),
        adapter.global_branch.net.register_forward_hook(branch_net("global", on_latent, 1, size), with_kwargs=True),
        adapter.local_branch.register_forward_hook(local_branch),
        unet.register_forward_hook(unet_call, with_kwargs=True),
    ]
    try:
        yield unet_rows
    finally:
        for handle in handles:
            handle.remove()


# ------------------------------------------------------------------------------------------- phases
@dataclass
class Phase:
    name: str
    seconds: float
    peak_rss: int
    """Bytes."""
    checks: int


@dataclass
class Timeline:
    """The phases measured so far, and whether each one's peak RSS is its own (see :meth:`phase`)."""

    phases: list[Phase] = field(default_factory=list)
    own_peaks: bool = True

    @contextmanager
    def phase(self, name: str) -> Iterator[Checks]:
        """Times the block and records the peak RSS while it runs and the checks it passed."""
        try:  # Linux: "5" resets the high-water mark that ru_maxrss reports
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.own_peaks = False
        checks, start = Checks(), time.perf_counter()
        yield checks
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        self.phases.append(Phase(name, seconds, peak, checks.count))


def persons() -> list[Person]:
    return [Person(photo(), box=box) for photo, box in zip((astronaut, grace_hopper), BOXES)]


def sample(pipe: RealisIDPipeline, checks: Checks, size: int, seed: int) -> Tensor:
    """One call at ``size``² for two persons, ``STEPS`` DDIM steps, all three guidance rows at every step."""
    latent = size // 8

    def after_step(pipe, step, timestep, tensors) -> dict:
        checks.tensor(f"latents after step {step}", tensors["latents"], (1, 4, latent, latent))
        return {}

    def decoded(module, args, out) -> None:
        checks.tensor("decoded image", out, (1, 3, size, size))

    handle = pipe.vae.decoder.register_forward_hook(decoded)
    with watching(checks, pipe.unet, pipe.adapter, size, rows=3, persons=len(BOXES)) as unet_rows:
        images = pipe(
            PROMPT, persons(), height=size, width=size, output_type="pt",
            sampling=SamplingOptions(num_inference_steps=STEPS, id_start=0.0),
            generator=torch.Generator().manual_seed(seed), callback_on_step_end=after_step,
        ).images
    handle.remove()
    checks.that(f"three guidance rows at each of {STEPS} steps, got {unet_rows}", unet_rows == [3] * STEPS)
    checks.tensor("image", images, (1, 3, size, size))
    checks.that("image in [0, 1]", bool(images.min() >= 0 and images.max() <= 1))
    return images


def training_batch(pipe: RealisIDPipeline, size: int) -> Batch:
    """One training sample of the astronaut photo at ``size``², made by ``prepare``'s and the loader's code."""
    settings = PrepareSettings(
        resolution=size, crop_size=pipe.image_encoder.config.image_size, landmark_size=pipe.adapter.config.landmark_size
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "astronaut.png")
        astronaut().save(path)
        raw = make_sample("000000000", SourceItem(path, PROMPT), settings)
    return collate([decode_sample(raw, settings.landmark_size)])


def training_inputs(pipe: RealisIDPipeline, batch: Batch, checks: Checks, size: int, seed: int) -> Inputs:
    """``frozen_inputs`` of ``batch`` (no condition dropout: the ID and the text go through)."""
    config, latent = pipe.adapter.config, size // 8
    settings = StepSettings(drop_id=0.0, drop_text=0.0, drop_both=0.0)
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    inputs = frozen_inputs(pipe, scheduler, batch, torch.Generator().manual_seed(seed), settings)
    checks.tensor("noisy latents", inputs.noisy, (1, 4, latent, latent))
    checks.tensor("target", inputs.target, (1, 4, latent, latent), torch.float32)
    features = (1, config.image_feature_tokens, config.image_feature_dim)
    checks.tensor("ID features", inputs.features, features, torch.float32)
    checks.tensor("text", inputs.text, (1, 77, config.cross_attention_dim))
    checks.tensor("pooled text", inputs.added_cond_kwargs["text_embeds"], (1, pipe.text_encoder_2.config.projection_dim))
    checks.tensor("time ids", inputs.added_cond_kwargs["time_ids"], (1, 6))
    return inputs


def training_step(
    unet: UNet2DConditionModel, adapter: RealisIDAdapter, inputs: Inputs, batch: Batch, checks: Checks, size: int
) -> None:
    """Eq. 7 and one backward pass with gradient checkpointing, as ``realisid train`` sets it up; each
    gradient is checked when complete and then dropped."""
    for net in (unet, *(branch.net for branch in adapter.branches.values())):
        net.enable_gradient_checkpointing()
    model = AdapterTrainingModule(adapter).train()
    names = {param: name for name, param in model.named_parameters() if param.requires_grad}

    def check_gradient(param: nn.Parameter) -> None:
        checks.tensor(f"gradient of {names[param]}", param.grad, tuple(param.shape), param.dtype)
        param.grad = None

    handles = [param.register_post_accumulate_grad_hook(check_gradient) for param in names]
    with watching(checks, unet, adapter, size, rows=1, persons=1):
        loss, diffusion, face = training_loss(model, unet, inputs, batch, lam=1.0)
        for what, term in (("loss", loss), ("diffusion term", diffusion), ("face term", face)):
            checks.tensor(what, term, (), torch.float32)
        before = checks.count
        loss.backward()
    for handle in handles:
        handle.remove()
    checks.that(
        f"a gradient for each of the {len(names)} trainable tensors, got {checks.count - before}",
        checks.count - before == len(names),
    )


def run(config: str, products: str, seed: int) -> tuple[Timeline, dict[str, int]]:
    """Every phase in turn (see the module docstring); raises :class:`CheckFailed` at the first bad tensor."""
    torch.manual_seed(seed)
    measured, size = Timeline(), SIZES[config]
    with Fp32Products() if products == "fp32" else nullcontext():
        with measured.phase("build: meta, then seeded bf16 weights"):
            stack, adapter = build(config, seed)
        counts = parameter_counts(stack, adapter)
        pipe = RealisIDPipeline(**vars(stack), adapter=adapter)
        pipe.set_progress_bar_config(disable=True)
        del stack
        with measured.phase(f"sampling: {len(BOXES)} persons, {STEPS} steps × 3 guidance rows, decode") as checks:
            sample(pipe, checks, size, seed)
        with measured.phase("training inputs: VAE, text and image encoders") as checks:
            batch = training_batch(pipe, size)
            inputs = training_inputs(pipe, batch, checks, size, seed)
        unet, adapter = pipe.unet, pipe.adapter
        encoders = [weakref.ref(getattr(pipe, name)) for name in ("vae", "text_encoder", "text_encoder_2", "image_encoder")]
        del pipe  # and with it the VAE and the text and image encoders
        gc.collect()
        with measured.phase("training step: forward + backward, checkpointing") as checks:
            checks.that("the VAE, text and image encoders are freed", all(ref() is None for ref in encoders))
            training_step(unet, adapter, inputs, batch, checks, size)
    return measured, counts


def table(config: str, products: str, measured: Timeline, counts: dict[str, int]) -> str:
    peak = "peak RSS GiB" if measured.own_peaks else "peak RSS GiB (running)"
    heading = (
        f"{config} configuration · {SIZES[config]}² · {len(BOXES)} persons · {STEPS} DDIM steps, ID from step 0 · "
        f"bf16 weights, {products} products · {torch.get_num_threads()} threads · torch {torch.__version__}"
    )
    lines = [
        heading,
        "",
        f"| phase | wall s | {peak} | checks passed |",
        "|---|---:|---:|---:|",
    ]
    for p in measured.phases:
        lines.append(f"| {p.name} | {p.seconds:.1f} | {p.peak_rss / GIB:.2f} | {p.checks} |")
    phases = measured.phases
    lines.append(
        f"| whole run | {sum(p.seconds for p in phases):.1f} | {max(p.peak_rss for p in phases) / GIB:.2f} | "
        f"{sum(p.checks for p in phases)} |"
    )
    lines += ["", "| component | parameters | bf16 GiB |", "|---|---:|---:|"]
    lines += [f"| {name} | {n:,} | {2 * n / GIB:.2f} |" for name, n in counts.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=("real", "tiny"), default="real")
    parser.add_argument(
        "--products", choices=("fp32", "bf16"), default="fp32",
        help="kernels of the bf16 matrix products: fp32 (bf16 inputs, fp32 sums; fast on any CPU) or PyTorch's bf16",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    diffusers_logging.set_verbosity_error()
    measured, counts = run(args.config, args.products, args.seed)
    print(table(args.config, args.products, measured, counts))


if __name__ == "__main__":
    main()
