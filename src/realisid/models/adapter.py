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

from .branches import GlobalBranch, LocalBranch, Residuals
from .config import RealisIDConfig
from .geometry import location_mask
from .identity_adapter import IdentityAdapter, PersonRows


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
        local = LocalBranch(nets["local"], config.local_size, config.local_crop)
        return cls(config, local, GlobalBranch(nets["global"]))

    def branch_residuals(self, rows: PersonRows, local_scale: float, global_scale: float) -> Residuals | None:
        """Local residuals summed over persons plus global residuals averaged over persons (Fig. 2c),
        each branch in one call for all ``B·P`` persons."""
        total = None
        if local_scale:
            local = self.local_branch(
                rows.latents, rows.timestep, rows.id_tokens, rows.landmark_images, rows.boxes, rows.image_size,
                rows.added_cond_kwargs, local_scale,
            )
            total = rows.per_image(local, "sum").plus(total)
        if global_scale:
            masks = rows.location_masks
            if masks is None:
                masks = location_mask(rows.boxes, rows.image_size, rows.image_size).to(rows.latents.dtype)
            glob = self.global_branch(
                rows.latents, rows.timestep, rows.id_tokens, masks, rows.added_cond_kwargs, global_scale
            )
            total = rows.per_image(glob, "mean").plus(total)
        return total

    @contextmanager
    def reusing_conditions(self) -> Iterator[None]:
        """Within this block each branch encodes an unchanged condition tensor only once (sampling)."""
        with self.local_branch.condition_memo.active(), self.global_branch.condition_memo.active():
            yield
