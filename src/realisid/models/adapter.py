"""``RealisIDAdapter``: the trainable part of RealisID (projection + local and global branches).

Its checkpoint folder holds, beside ``config.json`` and ``projection.safetensors``::

    local_branch/             diffusers ControlNetModel (3-channel c_p&e)
    global_branch/            diffusers ControlNetModel (1-channel c_loc)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from diffusers import ControlNetModel
from torch import Tensor

from .branches import GlobalBranch, LocalBranch, Residuals
from .config import VAE_SCALE, RealisIDConfig
from .geometry import location_mask
from .identity_adapter import IdentityAdapter


class RealisIDAdapter(IdentityAdapter):
    """Projection + local branch + global branch, combined over persons as in Fig. 2(c)."""

    format: ClassVar[str] = "realisid-adapter"
    branch_folders: ClassVar[dict[str, str]] = {"local": "local_branch", "global": "global_branch"}
    conditioning_channels: ClassVar[dict[str, int]] = {"local": 3, "global": 1}

    def __init__(self, config: RealisIDConfig, local_branch: LocalBranch, global_branch: GlobalBranch):
        super().__init__(config)
        self.local_branch = local_branch
        self.global_branch = global_branch

    @classmethod
    def assemble(cls, config: RealisIDConfig, nets: dict[str, ControlNetModel]) -> RealisIDAdapter:
        return cls(config, LocalBranch(nets["local"], config.local_size), GlobalBranch(nets["global"]))

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
        """Local residuals summed over persons plus global residuals averaged over persons (Fig. 2c),
        each branch in one call for all ``B·P`` persons (arguments: :meth:`IdentityAdapter.forward`)."""
        B, P = id_tokens.shape[:2]
        image_size = (latents.shape[-2] * VAE_SCALE, latents.shape[-1] * VAE_SCALE)
        flat_latents, timestep, cond = self.per_person_inputs(latents, timestep, added_cond_kwargs, P)
        flat_ids, flat_boxes = id_tokens.flatten(0, 1), boxes.flatten(0, 1)

        total = None
        if local_scale:
            local = self.local_branch(
                flat_latents, timestep, flat_ids, landmark_images.flatten(0, 1), flat_boxes, image_size, cond, local_scale
            )
            total = local.map(lambda r: r.unflatten(0, (B, P)).sum(1)).plus(total)
        if global_scale:
            if location_masks is None:
                masks = location_mask(flat_boxes, image_size, image_size).to(latents.dtype)
            else:
                masks = location_masks.flatten(0, 1)
            glob = self.global_branch(flat_latents, timestep, flat_ids, masks, cond, global_scale)
            total = glob.map(lambda r: r.unflatten(0, (B, P)).mean(1)).plus(total)
        return total

    @contextmanager
    def reusing_conditions(self) -> Iterator[None]:
        """Within this block each branch encodes an unchanged condition tensor only once (sampling)."""
        with self.local_branch.condition_memo.active(), self.global_branch.condition_memo.active():
            yield
