"""``RealisIDAdapter``: the trainable part of RealisID (projection + local and global branches).

Checkpoint layout (DESIGN.md), never unpickled::

    adapter/
      config.json               RealisIDConfig + format tag
      projection.safetensors    CLIP features → p_id
      local_branch/             diffusers ControlNetModel (3-channel c_p&e)
      global_branch/            diffusers ControlNetModel (1-channel c_loc)

:func:`load_adapter` reads this folder or the InstantID-style baseline's
(:mod:`~realisid.models.instantid_style`), by its format tag.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import torch
from diffusers import ControlNetModel, UNet2DConditionModel
from diffusers.utils.accelerate_utils import apply_forward_hook
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..errors import CheckpointError
from .branches import GlobalBranch, LocalBranch, Residuals
from .geometry import location_mask
from .projection import LinearProjection, PerceiverResampler

FORMAT = "realisid-adapter"
FORMAT_VERSION = 1
VAE_SCALE = 8
"""Pixels per latent cell: the landmark drawing of an ``L×L`` crop is ``8L×8L`` pixels."""

# U-Net config keys a branch must share with the base model for its residuals to fit.
_SHAPE_KEYS = (
    "block_out_channels",
    "layers_per_block",
    "down_block_types",
    "cross_attention_dim",
    "transformer_layers_per_block",
    "addition_embed_type",
    "addition_time_embed_dim",
    "projection_class_embeddings_input_dim",
    "in_channels",
)


@dataclass
class RealisIDConfig:
    """Hyper-parameters of the adapter. Defaults are the paper's SDXL + CLIP ViT-H/14 setting."""

    cross_attention_dim: int = 2048
    """Width ``C`` of ``p_id``: the U-Net's cross-attention width."""
    image_feature_dim: int = 1280
    """Width ``D`` of the ID image encoder's penultimate hidden states."""
    image_feature_tokens: int = 257
    """Token count ``T`` of those hidden states (patches + class token)."""
    num_id_tokens: int = 16
    projection: Literal["perceiver", "linear"] = "perceiver"
    resampler_dim: int = 1280
    resampler_depth: int = 4
    resampler_heads: int = 20
    resampler_dim_head: int = 64
    local_size: int = 128
    """``L``: side of the local branch's latent crop ``ẑ_t`` (128 = 1024 px for SDXL)."""
    condition_channels: tuple[int, ...] = (16, 32, 96, 256)
    """Widths of the branches' condition encoders (ControlNet's default; 8x downsampling)."""
    branch_pooled_text: bool = True
    """Whether the branches receive the pooled text embedding (if not, both null-ID guidance
    slots give identical branch outputs)."""

    @property
    def landmark_size(self) -> int:
        """Pixel side of the landmark drawing ``c_p&e`` (``8L``)."""
        return self.local_size * VAE_SCALE

    @classmethod
    def from_dict(cls, data: dict) -> RealisIDConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise CheckpointError(f"unknown adapter config keys {sorted(unknown)}")
        if "condition_channels" in data:
            data = {**data, "condition_channels": tuple(data["condition_channels"])}
        return cls(**data)


class RealisIDAdapter(nn.Module):
    """Projection + local branch + global branch, combined over persons as in Fig. 2(c)."""

    format: ClassVar[str] = FORMAT
    """The ``config.json`` tag of this class's checkpoint folders."""
    branch_folders: ClassVar[dict[str, str]] = {"local": "local_branch", "global": "global_branch"}
    """Each branch's name (what ``local_scale``/``global_scale`` and training's ``branches`` select)
    and the folder its ControlNet is saved in."""

    def __init__(self, config: RealisIDConfig, local_branch: LocalBranch, global_branch: GlobalBranch):
        super().__init__()
        self.config = config
        if config.projection == "perceiver":
            self.projection = PerceiverResampler(
                config.image_feature_dim,
                config.cross_attention_dim,
                num_tokens=config.num_id_tokens,
                dim=config.resampler_dim,
                depth=config.resampler_depth,
                heads=config.resampler_heads,
                dim_head=config.resampler_dim_head,
            )
        elif config.projection == "linear":
            self.projection = LinearProjection(config.image_feature_dim, config.cross_attention_dim, config.num_id_tokens)
        else:
            raise CheckpointError(f"unknown projection {config.projection!r}; use 'perceiver' or 'linear'")
        self.local_branch = local_branch
        self.global_branch = global_branch

    @property
    def branches(self) -> dict[str, nn.Module]:
        """The ControlNet branches by name (the keys of :attr:`branch_folders`)."""
        return {name: getattr(self, f"{name}_branch") for name in self.branch_folders}

    @classmethod
    def assemble(cls, config: RealisIDConfig, nets: dict[str, ControlNetModel]) -> RealisIDAdapter:
        """The adapter whose branches are these ControlNets (by branch name), with a fresh projection."""
        return cls(config, LocalBranch(nets["local"], config.local_size), GlobalBranch(nets["global"]))

    def skeleton(self) -> RealisIDAdapter:
        """A weightless copy of this adapter (meta tensors), for gathered weights to be loaded into."""
        with torch.device("meta"):
            return self.assemble(
                self.config, {name: ControlNetModel.from_config(b.net.config) for name, b in self.branches.items()}
            )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    # ----------------------------------------------------------------------------------- build
    @classmethod
    def from_unet(
        cls,
        unet: UNet2DConditionModel,
        config: RealisIDConfig | None = None,
        image_encoder: nn.Module | None = None,
    ) -> RealisIDAdapter:
        """Fresh adapter whose branches copy the U-Net encoder (zero convolutions: zero residuals).

        Without ``config``, the widths come from the U-Net (and from ``image_encoder``, if given).
        """
        if config is None:
            config = RealisIDConfig(cross_attention_dim=unet.config.cross_attention_dim, local_size=unet.config.sample_size)
            if image_encoder is not None:
                vision = image_encoder.config
                patches = (vision.image_size // vision.patch_size) ** 2
                config = dataclasses.replace(
                    config, image_feature_dim=vision.hidden_size, image_feature_tokens=patches + 1
                )
        return cls(
            config,
            LocalBranch.from_unet(unet, config.local_size, config.condition_channels),
            GlobalBranch.from_unet(unet, config.condition_channels),
        )

    # --------------------------------------------------------------------------------- ID tokens
    # Called outside ``forward``, so they trigger model CPU offload's hook themselves (as the VAE's decode).
    @apply_forward_hook
    def project(self, features: Tensor) -> Tensor:
        """``p_id``: CLIP penultimate features ``(B, T, D)`` → ``(B, n_id, C)``."""
        return self.projection(features)

    @apply_forward_hook
    def null_id(self, batch: int = 1, dtype: torch.dtype | None = None) -> Tensor:
        """The dropped ID: the projection of zeroed features, ``(batch, n_id, C)``."""
        param = next(self.projection.parameters())
        zeros = param.new_zeros(batch, self.config.image_feature_tokens, self.config.image_feature_dim)
        return self.project(zeros.to(dtype or param.dtype))

    # ---------------------------------------------------------------------------------- forward
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
        """Residuals of both branches for ``B`` images of ``P`` persons each, in one call per branch.

        Args:
            latents: ``(B, 4, h, w)`` noisy latents ``z_t``.
            timestep: scalar or ``(B,)``.
            id_tokens: ``(B, P, n_id, C)``, each person's ``p_id`` (or the null ID).
            landmark_images: ``(B, P, 3, 8L, 8L)`` drawings ``c_p&e`` in ``[0, 1]``.
            boxes: ``(B, P, 3)`` face boxes ``(x0, y0, size)`` in pixels of the ``(8h, 8w)`` image.
            added_cond_kwargs: SDXL's ``text_embeds (B, d)`` and ``time_ids (B, 6)``.
            local_scale, global_scale: branch weights; 0 skips a branch (the paper's ablation).
            location_masks: ``(B, P, 1, 8h, 8w)`` ``c_loc`` of ``boxes``, if already computed.

        Returns:
            Local residuals summed over persons plus global residuals averaged over persons
            (Fig. 2c), shaped like the U-Net's; ``None`` when both branches are off.
        """
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

    def per_person_inputs(
        self, latents: Tensor, timestep: Tensor | float, added_cond_kwargs: dict[str, Tensor], persons: int
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Per-image inputs ``(B, ...)`` repeated for each of ``persons``: ``(B·P, ...)``, row ``b·P + p``;
        the pooled text zeroed unless ``config.branch_pooled_text`` (the pipeline relies on it then)."""
        repeat = lambda t: t.repeat_interleave(persons, dim=0)
        timestep = torch.as_tensor(timestep, device=latents.device)
        timestep = repeat(timestep.expand(latents.shape[0])) if timestep.ndim else timestep
        cond = {k: repeat(v) for k, v in added_cond_kwargs.items()}
        if not self.config.branch_pooled_text:
            cond["text_embeds"] = torch.zeros_like(cond["text_embeds"])
        return repeat(latents), timestep, cond

    @contextmanager
    def reusing_conditions(self) -> Iterator[None]:
        """Within this block each branch encodes an unchanged condition tensor only once (sampling)."""
        with self.local_branch.condition_memo.active(), self.global_branch.condition_memo.active():
            yield

    # --------------------------------------------------------------------------------- checking
    def check_unet(self, unet: UNet2DConditionModel) -> None:
        """Raise :class:`CheckpointError` if the branches' residuals cannot fit ``unet``."""
        branch = next(iter(self.branches.values()))
        for key in _SHAPE_KEYS:
            ours, theirs = branch.net.config.get(key), unet.config.get(key)
            if _canonical(ours) != _canonical(theirs):
                raise CheckpointError(
                    f"adapter does not fit this U-Net: {key} is {ours} in the adapter, {theirs} in the U-Net"
                )

    # ---------------------------------------------------------------------------- save and load
    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"format": self.format, "format_version": FORMAT_VERSION, **dataclasses.asdict(self.config)}
        (directory / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in self.projection.state_dict().items()}
        save_file(state, directory / "projection.safetensors", metadata={"format": "pt"})
        for name, branch in self.branches.items():
            branch.net.save_pretrained(directory / self.branch_folders[name], safe_serialization=True)

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, unet: UNet2DConditionModel | None = None, torch_dtype: torch.dtype | None = None
    ) -> RealisIDAdapter:
        """Loads a folder written by :meth:`save_pretrained`; with ``unet``, checks that it fits."""
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"adapter folder {str(directory)!r} does not exist")
        config = _read_config(directory, cls.format)
        for part in ("projection.safetensors", *cls.branch_folders.values()):
            if not (directory / part).exists():
                raise CheckpointError(f"adapter checkpoint {str(directory)!r} is missing {part}")
        nets = {name: _load_controlnet(directory / folder, torch_dtype) for name, folder in cls.branch_folders.items()}
        adapter = cls.assemble(config, nets)
        try:
            state = load_file(directory / "projection.safetensors")
        except (SafetensorError, OSError) as error:
            raise CheckpointError(f"cannot read {directory / 'projection.safetensors'}: {error}") from None
        try:
            adapter.projection.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise CheckpointError(f"projection weights do not match config.json: {error}") from None
        if torch_dtype is not None:
            adapter.projection.to(torch_dtype)
        if unet is not None:
            adapter.check_unet(unet)
        return adapter


def _canonical(value: object) -> object:
    """Config values compare equal whether stored as tuples, lists or (for per-block keys) scalars."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def load_adapter(
    directory: str | Path, unet: UNet2DConditionModel | None = None, torch_dtype: torch.dtype | None = None
) -> RealisIDAdapter:
    """An adapter folder of either format, RealisID's or the InstantID-style baseline's, by its tag."""
    from .instantid_style import InstantIDStyleAdapter

    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"adapter folder {str(directory)!r} does not exist")
    cls = InstantIDStyleAdapter if _read_meta(directory).get("format") == InstantIDStyleAdapter.format else RealisIDAdapter
    return cls.from_pretrained(directory, unet=unet, torch_dtype=torch_dtype)


def _read_meta(directory: Path) -> dict:
    path = directory / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{str(directory)!r} has no config.json: not a RealisID adapter checkpoint")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} is not a RealisID adapter config (another checkpoint format?)")
    return meta


def _read_config(directory: Path, expected: str) -> RealisIDConfig:
    path = directory / "config.json"
    meta = _read_meta(directory)
    found = meta.pop("format", None)
    if found != expected:
        raise CheckpointError(
            f"{path} is not a RealisID adapter config of format {expected!r} (it says {found!r}; another checkpoint?)"
        )
    version = meta.pop("format_version", None)
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {version}; this realisid reads {FORMAT_VERSION}")
    return RealisIDConfig.from_dict(meta)


def _load_controlnet(path: Path, torch_dtype: torch.dtype | None) -> ControlNetModel:
    try:
        return ControlNetModel.from_pretrained(path, torch_dtype=torch_dtype, use_safetensors=True)
    except (OSError, ValueError, RuntimeError, SafetensorError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"cannot load the branch in {path}: {first_line}") from None
