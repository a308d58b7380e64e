"""An InstantID-style baseline in RealisID's clothes: one ControlNet on the whole latent.

InstantID's IdentityNet is a single ControlNet over the whole image, conditioned on facial
keypoints drawn where the face goes and prompted by the ID tokens. Here it is built from the same
parts as RealisID (projection, ``c_p&e`` drawing, Eq. 7 training step in ``realisid train``, Eq. 8
guidance in :class:`~realisid.pipeline.RealisIDPipeline`), so the comparison isolates the branch
design: the landmark drawing is pasted at the face box in the full image, and no branch crops or
up-samples. It is a drop-in ``adapter`` for the pipeline and the training loop (its one branch is
``global``: ``local_scale`` is ignored, ``global_scale`` scales its residuals). Its checkpoint
folder holds, beside ``config.json`` and ``projection.safetensors``::

    whole_image_branch/       diffusers ControlNetModel (3-channel c_p&e placed in the image)
"""

from __future__ import annotations

from typing import ClassVar

from diffusers import ControlNetModel

from .branches import GlobalBranch, Residuals
from .config import RealisIDConfig
from .geometry import relocate
from .identity_adapter import IdentityAdapter, PersonRows


class InstantIDStyleAdapter(IdentityAdapter):
    """Projection + one whole-latent ControlNet conditioned on the landmark drawing placed at the box."""

    format: ClassVar[str] = "realisid-instantid-style"
    branch_folders: ClassVar[dict[str, str]] = {"global": "whole_image_branch"}
    conditioning_channels: ClassVar[dict[str, int]] = {"global": 3}

    def __init__(self, config: RealisIDConfig, net: ControlNetModel):
        super().__init__(config)
        self.global_branch = GlobalBranch(net)

    @classmethod
    def assemble(cls, config: RealisIDConfig, nets: dict[str, ControlNetModel]) -> InstantIDStyleAdapter:
        return cls(config, nets["global"])

    def branch_residuals(self, rows: PersonRows, local_scale: float, global_scale: float) -> Residuals | None:
        """The whole-latent branch's residuals averaged over persons, each person's drawing relocated
        into the full image (``local_scale`` and location masks unused)."""
        if not global_scale:
            return None
        drawings = relocate(rows.landmark_images, rows.boxes, rows.image_size, rows.image_size)
        residuals = self.global_branch(
            rows.latents, rows.timestep, rows.id_tokens, drawings.to(rows.latents.dtype), rows.added_cond_kwargs,
            global_scale,
        )
        return rows.per_image(residuals, "mean")
