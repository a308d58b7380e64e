"""``IdentityAdapter``: what every identity adapter shares, whatever its branches.

An identity adapter projects CLIP features of a face to the ID tokens ``p_id`` and prompts its
ControlNet branches (initialised from the U-Net) with them; the branches' residuals go into the
frozen U-Net. Its checkpoint folder, never unpickled::

    adapter/
      config.json               RealisIDConfig + format tag and version (the adapter class)
      projection.safetensors    CLIP features → p_id
      <branch folder>/          one diffusers ControlNetModel per branch (the class's branch_folders)
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, NamedTuple, Self

import torch
from diffusers import ControlNetModel, UNet2DConditionModel
from diffusers.utils.accelerate_utils import apply_forward_hook
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..errors import CheckpointError
from .branches import Residuals
from .config import VAE_SCALE, RealisIDConfig, is_size, read_config, read_meta, write_config
from .projection import LinearProjection, PerceiverResampler


class PersonRows(NamedTuple):
    """A call's inputs with one row per (image, person), row ``b·P + p``: what each branch runs on."""

    latents: Tensor
    """``(B·P, 4, h, w)``."""
    timestep: Tensor
    id_tokens: Tensor
    """``(B·P, n_id, C)``."""
    landmark_images: Tensor
    """``(B·P, 3, 8L, 8L)``."""
    boxes: Tensor
    """``(B·P, 3)`` in pixels of the ``image_size`` image."""
    location_masks: Tensor | None
    """``(B·P, 1, 8h, 8w)``, if already computed."""
    added_cond_kwargs: dict[str, Tensor]
    image_size: tuple[int, int]
    persons: int

    def per_image(self, residuals: Residuals, combine: str) -> Residuals:
        """``(B·P, ...)`` residuals → ``(B, ...)``, each image's persons combined by ``"sum"`` or ``"mean"``."""
        return residuals.map(lambda r: getattr(r.unflatten(0, (-1, self.persons)), combine)(1))


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


class IdentityAdapter(nn.Module, ABC):
    """Projection + ControlNet branches by name; subclasses say which branches and how they combine."""

    format: ClassVar[str]
    """The ``config.json`` tag of this class's checkpoint folders."""
    branch_folders: ClassVar[dict[str, str]]
    """Each branch's name (what ``local_scale``/``global_scale`` and training's ``branches`` select)
    and the folder its ControlNet is saved in; the branch itself is the attribute ``<name>_branch``."""
    conditioning_channels: ClassVar[dict[str, int]]
    """Each branch's condition image channels (landmark drawing: 3, location mask: 1)."""

    def __init__(self, config: RealisIDConfig):
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

    @classmethod
    @abstractmethod
    def assemble(cls, config: RealisIDConfig, nets: dict[str, ControlNetModel]) -> Self:
        """The adapter whose branches are these ControlNets (by branch name), with a fresh projection."""

    @property
    def branches(self) -> dict[str, nn.Module]:
        """The ControlNet branches by name (the keys of :attr:`branch_folders`)."""
        return {name: getattr(self, f"{name}_branch") for name in self.branch_folders}

    def skeleton(self) -> Self:
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
    ) -> Self:
        """Fresh adapter whose branches copy the U-Net encoder (zero convolutions: zero residuals).

        Without ``config``, the widths come from the U-Net (and from ``image_encoder``, if given).
        """
        if config is None:
            config = RealisIDConfig(cross_attention_dim=unet.config.cross_attention_dim, local_size=unet.config.sample_size)
            if image_encoder is not None:
                tokens, dim = feature_shape(image_encoder)
                config = dataclasses.replace(config, image_feature_dim=dim, image_feature_tokens=tokens)
        nets = {
            name: ControlNetModel.from_unet(
                unet, conditioning_channels=channels, conditioning_embedding_out_channels=config.condition_channels
            )
            for name, channels in cls.conditioning_channels.items()
        }
        return cls.assemble(config, nets)

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
        """Residuals of the branches for ``B`` images of ``P`` persons each, combined over persons.

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
            Residuals shaped like the U-Net's; ``None`` when every branch is off.
        """
        persons = id_tokens.shape[1]
        flat_latents, timestep, cond = self.per_person_inputs(latents, timestep, added_cond_kwargs, persons)
        rows = PersonRows(
            latents=flat_latents,
            timestep=timestep,
            id_tokens=id_tokens.flatten(0, 1),
            landmark_images=landmark_images.flatten(0, 1),
            boxes=boxes.flatten(0, 1),
            location_masks=None if location_masks is None else location_masks.flatten(0, 1),
            added_cond_kwargs=cond,
            image_size=(latents.shape[-2] * VAE_SCALE, latents.shape[-1] * VAE_SCALE),
            persons=persons,
        )
        return self.branch_residuals(rows, local_scale, global_scale)

    @abstractmethod
    def branch_residuals(self, rows: PersonRows, local_scale: float, global_scale: float) -> Residuals | None:
        """The branches' residuals for one row per person, combined over each image's persons
        (:meth:`PersonRows.per_image`); ``None`` when every branch is off."""

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
        """Within this block the branches may reuse work on unchanged conditions (sampling); here, none."""
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

    def check_image_encoder(self, image_encoder: nn.Module) -> None:
        """Raise :class:`CheckpointError` if ``image_encoder``'s features are not those the projection reads."""
        theirs, ours = feature_shape(image_encoder), (self.config.image_feature_tokens, self.config.image_feature_dim)
        if theirs != ours:
            raise CheckpointError(
                f"adapter does not fit this ID image encoder: it reads {ours[0]} tokens of {ours[1]} features, "
                f"the encoder gives {theirs[0]} of {theirs[1]}"
            )

    # ---------------------------------------------------------------------------- save and load
    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_config(directory, self.format, self.config)
        state = {k: v.detach().contiguous() for k, v in self.projection.state_dict().items()}
        save_file(state, directory / "projection.safetensors", metadata={"format": "pt"})
        for name, branch in self.branches.items():
            branch.net.save_pretrained(directory / self.branch_folders[name], safe_serialization=True)

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, unet: UNet2DConditionModel | None = None, torch_dtype: torch.dtype | None = None
    ) -> Self:
        """Loads a folder written by :meth:`save_pretrained`; with ``unet``, checks that it fits."""
        directory = Path(directory)
        config = read_config(directory, cls.format)
        for part in ("projection.safetensors", *cls.branch_folders.values()):
            if not (directory / part).exists():
                raise CheckpointError(f"adapter checkpoint {str(directory)!r} is missing {part}")
        nets = {name: _load_controlnet(directory / folder, torch_dtype) for name, folder in cls.branch_folders.items()}
        with torch.device("meta"):  # the projection's weights come from the file, whatever config.json claims
            adapter = cls.assemble(config, nets)
        path = directory / "projection.safetensors"
        try:
            state = load_file(path)
        except (SafetensorError, OSError) as error:
            raise CheckpointError(f"cannot read {path}: {error}") from None
        _check_shapes(path, state, adapter.projection.state_dict())
        adapter.projection.load_state_dict(state, strict=True, assign=True)
        adapter.projection.to(torch_dtype or torch.float32)  # assign=True kept the file's dtype
        bad = [name for name, weight in adapter.named_parameters() if not torch.isfinite(weight).all()]
        if bad:
            raise CheckpointError(f"adapter checkpoint {str(directory)!r}: {bad[0]} holds NaN or infinity")
        if unet is not None:
            adapter.check_unet(unet)
        return adapter


def feature_shape(image_encoder: nn.Module) -> tuple[int, int]:
    """The ``(tokens, width)`` of ``image_encoder``'s penultimate features: its patches and class token."""
    vision = image_encoder.config
    return (vision.image_size // vision.patch_size) ** 2 + 1, vision.hidden_size


def _canonical(value: object) -> object:
    """Config values compare equal whether stored as tuples, lists or (for per-block keys) scalars."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _check_shapes(path: Path, found: dict[str, Tensor], expected: dict[str, Tensor]) -> None:
    """A one-line error naming the first tensor that ``found`` (a file's) lacks, adds or shapes otherwise."""
    mismatch = f"the weights in {path} do not match config.json"
    for name in sorted(found.keys() | expected.keys()):
        if name not in found:
            raise CheckpointError(f"{mismatch}: they lack {name}")
        if name not in expected:
            raise CheckpointError(f"{mismatch}: {name} is unknown")
        if found[name].shape != expected[name].shape:
            raise CheckpointError(
                f"{mismatch}: {name} is {tuple(found[name].shape)} in the file, "
                f"{tuple(expected[name].shape)} by the config"
            )


_BRANCH_SIZES = (
    "in_channels", "conditioning_channels", "block_out_channels", "layers_per_block", "cross_attention_dim",
    "transformer_layers_per_block", "conditioning_embedding_out_channels", "attention_head_dim",
)
"""Sizes in a branch's ``config.json`` that diffusers builds it from unchecked."""


def _load_controlnet(path: Path, torch_dtype: torch.dtype | None) -> ControlNetModel:
    config = read_meta(path)
    for key in _BRANCH_SIZES:
        value = config.get(key)
        if value is not None and not all(map(is_size, value if isinstance(value, list) else [value])):
            raise CheckpointError(
                f"{path / 'config.json'}: {key} must be a positive whole number or a list of them, "
                f"got {value!r}"
            )
    try:
        net = ControlNetModel.from_pretrained(path, torch_dtype=torch_dtype, use_safetensors=True)
    except (OSError, ValueError, TypeError, RuntimeError, SafetensorError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"cannot load the branch in {path}: {first_line}") from None
    missing = [name for name, weight in net.named_parameters() if weight.is_meta]
    if missing:
        raise CheckpointError(f"the branch in {path} lacks {len(missing)} weight(s), the first {missing[0]}")
    return net
