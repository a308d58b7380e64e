"""An InstantID-style baseline in RealisID's clothes: one ControlNet on the whole latent.

InstantID's IdentityNet is a single ControlNet over the whole image, conditioned on facial
keypoints drawn where the face goes and prompted by the ID tokens. Here it is built from the same
parts as RealisID (projection, ``c_p&e`` drawing, Eq. 7 training step, Eq. 8 guidance in
:class:`~realisid.pipeline.RealisIDPipeline`), so the comparison isolates the branch design: the
landmark drawing is pasted at the face box in the full image, and no branch crops or up-samples.
It is a drop-in ``adapter`` for the pipeline (``local_scale`` is ignored; ``global_scale`` scales
its residuals) and is saved as an adapter folder with a ``whole_image_branch/`` instead of the two
branches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from diffusers import ControlNetModel, DDPMScheduler, UNet2DConditionModel
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..models import RealisIDAdapter, RealisIDConfig, Residuals
from ..models.adapter import VAE_SCALE
from ..models.branches import GlobalBranch
from ..models.geometry import relocate

FORMAT = "realisid-instantid-style"
BRANCH = "whole_image_branch"


class InstantIDStyleAdapter(RealisIDAdapter):
    """Projection + one whole-latent ControlNet conditioned on the landmark drawing placed at the box."""

    def __init__(self, config: RealisIDConfig, net: ControlNetModel):
        super().__init__(config, None, GlobalBranch(net))

    @classmethod
    def from_unet(cls, unet: UNet2DConditionModel, config: RealisIDConfig) -> InstantIDStyleAdapter:  # type: ignore[override]
        """Fresh: the ControlNet copies the U-Net encoder (zero convolutions: zero residuals)."""
        net = ControlNetModel.from_unet(
            unet, conditioning_channels=3, conditioning_embedding_out_channels=config.condition_channels
        )
        return cls(config, net)

    def forward(
        self,
        latents: Tensor,
        timestep: Tensor | float,
        id_tokens: Tensor,
        landmark_images: Tensor,
        boxes: Tensor,
        added_cond_kwargs: dict[str, Tensor],
        local_scale: float = 1.0,
        global_scale: float = 1.0,
        location_masks: Tensor | None = None,
    ) -> Residuals | None:
        """Same arguments as :meth:`RealisIDAdapter.forward`; residuals averaged over persons."""
        if not global_scale:
            return None
        B, P = id_tokens.shape[:2]
        image_size = (latents.shape[-2] * VAE_SCALE, latents.shape[-1] * VAE_SCALE)
        flat_latents, timestep, cond = self.per_person_inputs(latents, timestep, added_cond_kwargs, P)
        flat_boxes = boxes.flatten(0, 1)
        drawings = relocate(landmark_images.flatten(0, 1), flat_boxes, image_size, image_size)
        residuals = self.global_branch(
            flat_latents, timestep, id_tokens.flatten(0, 1), drawings.to(latents.dtype), cond, global_scale
        )
        return residuals.map(lambda r: r.unflatten(0, (B, P)).mean(1))

    @contextmanager
    def reusing_conditions(self) -> Iterator[None]:
        yield  # the full-image drawing is rebuilt each step; nothing to reuse

    def check_unet(self, unet: UNet2DConditionModel) -> None:
        RealisIDAdapter.check_unet(_CheckView(self.global_branch), unet)  # type: ignore[arg-type]

    def save_pretrained(self, directory: str | Path) -> None:
        import dataclasses

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, **dataclasses.asdict(self.config)}
        (directory / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in self.projection.state_dict().items()}
        save_file(state, directory / "projection.safetensors", metadata={"format": "pt"})
        self.global_branch.net.save_pretrained(directory / BRANCH, safe_serialization=True)

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls, directory: str | Path, unet: UNet2DConditionModel | None = None, torch_dtype: torch.dtype | None = None
    ) -> InstantIDStyleAdapter:
        directory = Path(directory)
        meta = json.loads((directory / "config.json").read_text())
        if meta.pop("format", None) != FORMAT:
            raise ValueError(f"{directory} is not an InstantID-style adapter folder")
        adapter = cls(
            RealisIDConfig.from_dict(meta),
            ControlNetModel.from_pretrained(directory / BRANCH, torch_dtype=torch_dtype, use_safetensors=True),
        )
        adapter.projection.load_state_dict(load_file(directory / "projection.safetensors"), strict=True)
        if torch_dtype is not None:
            adapter.projection.to(torch_dtype)
        if unet is not None:
            adapter.check_unet(unet)
        return adapter


class _CheckView:
    """What :meth:`RealisIDAdapter.check_unet` reads (``local_branch.net.config``), for one branch."""

    def __init__(self, branch: GlobalBranch):
        self.local_branch = branch


def train_instantid_style(
    base: str | Path,
    shards: str | Path,
    output: str | Path,
    config: RealisIDConfig,
    steps: int,
    batch_size: int,
    learning_rate: float,
    resolution: int,
    seed: int = 0,
    log=print,
    device: str | torch.device = "cpu",
) -> InstantIDStyleAdapter:
    """Trains the baseline on ``device`` with RealisID's own training step (Eq. 7, ID/text dropout
    0.05, frozen base, AdamW) on ``shards`` (prepared or precomputed by ``realisid train``); saves it
    to ``output``."""
    from ..pipeline import RealisIDPipeline
    from ..training import load_config
    from ..training.dataset import Batches, ShardStream, list_shards
    from ..training.loop import _step_seed, load_stack
    from ..training.step import AdapterTrainingModule, StepSettings, frozen_inputs, training_loss
    from .base_model import IMAGE_ENCODER

    torch.manual_seed(seed)
    stack = load_stack(load_config(overrides={"base": str(base), "image_encoder": str(Path(base) / IMAGE_ENCODER)}))
    for module in (stack.unet, stack.text_encoder, stack.text_encoder_2, stack.image_encoder, stack.vae):
        module.requires_grad_(False).eval()
    adapter = InstantIDStyleAdapter.from_unet(stack.unet, config)
    pipe = RealisIDPipeline(**vars(stack), adapter=adapter).to(device)
    model = AdapterTrainingModule(adapter).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-2)
    scheduler = DDPMScheduler.from_config(stack.scheduler.config)
    settings = StepSettings()
    batches = Batches(ShardStream(list_shards(shards, resolution), seed), batch_size, config.landmark_size)
    for step in range(steps):
        batch = next(batches)
        generator = torch.Generator().manual_seed(_step_seed(seed, 0, step))
        inputs = frozen_inputs(pipe, scheduler, batch, generator, settings)
        loss, _, _ = training_loss(model, stack.unet, inputs, batch, settings.lam)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"instantid-style step {step}: loss {loss.item():.4f}")
    adapter.cpu().eval().save_pretrained(output)
    return adapter
