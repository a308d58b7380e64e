"""An InstantID-style baseline in RealisID's clothes: one ControlNet on the whole latent.

InstantID's IdentityNet is a single ControlNet over the whole image, conditioned on facial
keypoints drawn where the face goes and prompted by the ID tokens. Here it is built from the same
parts as RealisID (projection, ``c_p&e`` drawing, Eq. 7 training step in ``realisid train``, Eq. 8
guidance in :class:`~realisid.pipeline.RealisIDPipeline`), so the comparison isolates the branch
design: the landmark drawing is pasted at the face box in the full image, and no branch crops or
up-samples. It is a drop-in ``adapter`` for the pipeline and the training loop (its one branch is
``global``: ``local_scale`` is ignored, ``global_scale`` scales its residuals) and is saved as an
adapter folder with a ``whole_image_branch/`` instead of the two branches; :func:`load_adapter`
reads either folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from diffusers import ControlNetModel, UNet2DConditionModel
from torch import Tensor

from .adapter import VAE_SCALE, RealisIDAdapter, RealisIDConfig
from .branches import GlobalBranch, Residuals
from .geometry import relocate


class InstantIDStyleAdapter(RealisIDAdapter):
    """Projection + one whole-latent ControlNet conditioned on the landmark drawing placed at the box."""

    format: ClassVar[str] = "realisid-instantid-style"
    branch_folders: ClassVar[dict[str, str]] = {"global": "whole_image_branch"}

    def __init__(self, config: RealisIDConfig, net: ControlNetModel):
        super().__init__(config, None, GlobalBranch(net))

    @classmethod
    def from_unet(cls, unet: UNet2DConditionModel, config: RealisIDConfig) -> InstantIDStyleAdapter:  # type: ignore[override]
        """Fresh: the ControlNet copies the U-Net encoder (zero convolutions: zero residuals)."""
        net = ControlNetModel.from_unet(
            unet, conditioning_channels=3, conditioning_embedding_out_channels=config.condition_channels
        )
        return cls(config, net)

    @classmethod
    def assemble(cls, config: RealisIDConfig, nets: dict[str, ControlNetModel]) -> InstantIDStyleAdapter:
        return cls(config, nets["global"])

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
