"""``RealisIDPipeline``: SDXL sampling with RealisID's local and global branches (paper Fig. 2).

Prompt encoding, latents, time ids and offloading are ``StableDiffusionXLPipeline``'s; only the
denoising loop differs:

* three-way guidance (Eq. 8) with the slots (empty text, null ID), (text, null ID), (text, ID)
  evaluated in one batch;
* delayed subject conditioning: for the first ``id_start`` fraction of steps the ID is absent and
  only the two null-ID slots run;
* optionally, ID guidance in a limited interval: after ``id_stop`` the ID row stops and the two
  remaining slots both carry the ID, (empty text, ID) and (text, ID): text guidance, ID unamplified;
* any number of persons, each with its own ID tokens (the mean over its reference photos), box and
  landmarks; the adapter batches them into one call per branch and combines local residuals by sum,
  global ones by mean (Fig. 2c).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from diffusers.utils import BaseOutput
from PIL import Image
from transformers import (
    CLIPImageProcessor,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionModelWithProjection,
)

from .errors import CheckpointError, RealisIDError, whole_number
from .faces import landmark_image_tensor
from .guidance import id_steps, realisid_guidance
from .layout import draw_layout
from .loading import Stack, load_stack, tiny_adapter_config, tiny_stack
from .models import IdentityAdapter, RealisIDAdapter, face_features, load_adapter, location_mask
from .persons import Person, ResolvedPerson, resolve_persons
from .sampling import SamplingOptions


@dataclass
class RealisIDPipelineOutput(BaseOutput):
    """``images``: the generated images; ``layout``: the picture of what was asked (on request)."""

    images: list[Image.Image] | np.ndarray | torch.Tensor
    layout: Image.Image | None = None


class RealisIDPipeline(StableDiffusionXLPipeline):
    """Zero-shot identity customization with location, size, pose and expression control."""

    # The adapter runs beside the U-Net at every step, so it stays out of the chain (as diffusers' ControlNets):
    # model CPU offload then gives it a hook of its own, on the accelerator from its first use until the VAE
    # decodes, instead of swapping it with the U-Net at every step.
    model_cpu_offload_seq = "text_encoder->text_encoder_2->image_encoder->unet->vae"
    _optional_components = ["feature_extractor"]  # noqa: RUF012 (diffusers' class attribute)

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        text_encoder_2: CLIPTextModelWithProjection,
        tokenizer: CLIPTokenizer,
        tokenizer_2: CLIPTokenizer,
        unet: UNet2DConditionModel,
        scheduler: DDIMScheduler,
        image_encoder: CLIPVisionModelWithProjection,
        adapter: IdentityAdapter,
        feature_extractor: CLIPImageProcessor | None = None,
        force_zeros_for_empty_prompt: bool = True,
    ):
        super().__init__(
            vae, text_encoder, text_encoder_2, tokenizer, tokenizer_2, unet, scheduler,
            image_encoder=image_encoder, feature_extractor=feature_extractor,
            force_zeros_for_empty_prompt=force_zeros_for_empty_prompt,
            add_watermarker=False,
        )
        adapter.check_unet(unet)
        adapter.check_image_encoder(image_encoder)
        self.register_modules(adapter=adapter)

    @classmethod
    def from_pretrained(
        cls,
        base: str | Path,
        adapter: str | Path | IdentityAdapter,
        image_encoder: str | Path | CLIPVisionModelWithProjection | None = None,
        torch_dtype: torch.dtype | None = None,
        **kwargs: Any,
    ) -> RealisIDPipeline:
        """Loads SDXL from ``base`` (hub id or folder), the adapter and the ID image encoder.

        ``image_encoder``: a ``CLIPVisionModelWithProjection`` or its folder or hub id; by default
        the base folder's own ``image_encoder/``, else CLIP ViT-H/14 (:func:`~realisid.loading.load_stack`).
        The scheduler becomes DDIM (paper).
        """
        if not isinstance(adapter, IdentityAdapter) and not Path(adapter).is_dir():
            raise CheckpointError(f"adapter folder {str(adapter)!r} does not exist")
        return cls.from_stack(load_stack(base, image_encoder, torch_dtype, **kwargs), adapter, torch_dtype)

    @classmethod
    def from_stack(
        cls, stack: Stack, adapter: str | Path | IdentityAdapter | None = None, torch_dtype: torch.dtype | None = None
    ) -> RealisIDPipeline:
        """The pipeline over ``stack`` with ``adapter`` (a module or folder); ``None``: fresh branches
        copied from the U-Net (zero convolutions: the base model's own output)."""
        if adapter is None:
            adapter = RealisIDAdapter.from_unet(stack.unet, image_encoder=stack.image_encoder)
        elif not isinstance(adapter, IdentityAdapter):
            adapter = load_adapter(adapter, unet=stack.unet, torch_dtype=torch_dtype)
        return cls(**vars(stack), adapter=adapter)

    def enable_group_offload(
        self,
        onload_device: torch.device,
        offload_device: str | torch.device = "cpu",
        offload_type: str = "leaf_level",
        **kwargs: Any,
    ) -> None:
        """diffusers' group offloading (the low-memory mode), leaf by leaf only: the adapter's ID projection
        runs outside its ``forward``, where a block-level group would be onloaded."""
        if offload_type != "leaf_level":
            raise RealisIDError(f"group offloading runs leaf by leaf here: offload_type='leaf_level', not {offload_type!r}")
        super().enable_group_offload(onload_device, torch.device(offload_device), offload_type, **kwargs)

    # ------------------------------------------------------------------------------- conditions
    @torch.no_grad()
    def encode_persons(self, persons: list[ResolvedPerson]) -> torch.Tensor:
        """Each person's ``p_id``, once per call: ``(P, n_id, C)``.

        ``p_id`` is the projection of one masked face crop's CLIP features (or of the person's given
        ``id_embedding``); with several references it is the plain mean of their projected tokens. The
        mean is taken after the projection: the resampler turns pose- and framing-dependent patch
        features into ID tokens, which the branches were trained on, whereas a mean of the patch
        features mixes different face parts at each patch. Weights are equal: the detector's score
        tells faces from non-faces rather than rating identity detail, and given features have none.
        """
        device = self._execution_device
        crops = [r.conditions.masked_crop for p in persons if p.id_embedding is None for r in p.references]
        encoded = iter(face_features(self.image_encoder, crops) if crops else ())
        config = self.adapter.config
        expected = (config.image_feature_tokens, config.image_feature_dim)
        features = []  # per person (R, T, D)
        for i, person in enumerate(persons):
            given = person.id_embedding
            if given is None:
                features.append(torch.stack([next(encoded) for _ in person.references]))
                continue
            if given.ndim not in (2, 3) or tuple(given.shape[-2:]) != expected or not len(given):
                raise RealisIDError(
                    f"person {i}: id_embedding has shape {tuple(given.shape)}, expected {expected} "
                    f"or (references, *{expected})"
                )
            features.append(given.reshape(-1, *expected))
        # Given features may sit on another device or dtype than encoded ones: align each before joining.
        tokens = self.adapter.project(torch.cat([f.to(device, self.adapter.dtype) for f in features]))
        return torch.stack([t.mean(0) for t in tokens.split([len(f) for f in features])])

    def landmark_images(self, persons: list[ResolvedPerson]) -> torch.Tensor:
        """The ``c_p&e`` drawings at the local branch's pixel size: ``(P, 3, 8L, 8L)``."""
        size = self.adapter.config.landmark_size
        return torch.stack([landmark_image_tensor(p.landmarks, size) for p in persons])

    # ------------------------------------------------------------------------------------- call
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        persons: list[Person],
        negative_prompt: str | list[str] | None = None,
        height: int = 1024,
        width: int = 1024,
        sampling: SamplingOptions | None = None,
        num_inference_steps: int | None = None,
        text_scale: float | None = None,
        id_scale: float | None = None,
        id_start: float | None = None,
        local_scale: float | None = None,
        global_scale: float | None = None,
        id_stop: float | None = None,
        num_images_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_layout: bool = False,
        callback_on_step_end: Callable[[RealisIDPipeline, int, int, dict], dict] | None = None,
        return_dict: bool = True,
    ) -> RealisIDPipelineOutput | tuple:
        """Generates images of ``persons`` as described by ``prompt``.

        Args:
            prompt: the text prompt (a list gives one image batch per prompt).
            persons: one :class:`Person` per identity; their boxes may overlap.
            height, width: output size in pixels, multiples of 8.
            sampling: the denoising settings (:class:`~realisid.sampling.SamplingOptions`; default:
                the paper's). The seven keywords below override single fields of it:
            num_inference_steps: DDIM steps.
            text_scale, id_scale: ``λ_t`` and ``λ_i`` of Eq. 8.
            id_start: fraction of the steps run before the ID joins (delayed subject conditioning).
            local_scale, global_scale: branch weights; 0 switches a branch off (paper's ablation).
            id_stop: fraction of the steps after which the ID guidance row stops (1: never).
            return_layout: also return a picture of the boxes and landmarks asked for.
            callback_on_step_end: ``fn(pipe, step, timestep, {"latents": ...}) -> dict``; a returned
                ``"latents"`` replaces the current ones.
        """
        options = (sampling or SamplingOptions()).replace(
            num_inference_steps=num_inference_steps, text_scale=text_scale, id_scale=id_scale,
            id_start=id_start, local_scale=local_scale, global_scale=global_scale, id_stop=id_stop,
        )
        self._check_call(prompt, height, width, num_images_per_prompt)
        resolved = resolve_persons(persons, width, height)
        device = self._execution_device
        batch = (1 if isinstance(prompt, str) else len(prompt)) * num_images_per_prompt

        prompt_embeds, negative_embeds, pooled, negative_pooled = self.encode_prompt(
            prompt=prompt,
            device=device,
            num_images_per_prompt=num_images_per_prompt,
            do_classifier_free_guidance=True,
            negative_prompt=negative_prompt,
        )
        text_dim = self.text_encoder_2.config.projection_dim
        time_ids = self._get_add_time_ids(
            (height, width), (0, 0), (height, width), dtype=prompt_embeds.dtype, text_encoder_projection_dim=text_dim
        ).to(device)
        # Guidance slots, in order: (empty text, null ID), (text, null ID), (text, ID).
        slot_text = torch.cat([negative_embeds, prompt_embeds, prompt_embeds])
        slot_pooled = torch.cat([negative_pooled, pooled, pooled])
        slot_time_ids = time_ids.repeat(3 * batch, 1)

        # Per slot and person, built once: ID tokens, landmark drawings, boxes and location masks.
        id_tokens = self.encode_persons(resolved)  # (P, n_id, C)
        null_tokens = self.adapter.null_id(1, id_tokens.dtype).expand_as(id_tokens)
        slot_ids = torch.stack([null_tokens, null_tokens, id_tokens]).repeat_interleave(batch, dim=0)
        late_ids = slot_ids[2 * batch :].repeat(2, 1, 1, 1)  # after id_stop: (empty text, ID), (text, ID)
        per_slot = lambda x, dtype=id_tokens.dtype: x.to(device, dtype).repeat(3 * batch, *([1] * x.ndim))
        boxes = torch.tensor([list(p.box) for p in resolved], dtype=torch.float32)
        slot_boxes = per_slot(boxes, torch.float32)  # pixel coordinates stay exact in fp16 runs
        slot_landmarks = per_slot(self.landmark_images(resolved))
        slot_masks = per_slot(location_mask(boxes, (height, width), (height, width)))

        self.scheduler.set_timesteps(options.num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        latents = self.prepare_latents(
            batch, self.unet.config.in_channels, height, width, prompt_embeds.dtype, device, generator, latents
        )
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, 0.0)
        steps = len(timesteps)
        with_id = id_steps(steps, options.id_start, options.id_stop) if options.id_scale else range(steps, steps)
        # Without the pooled text, the branches see the same inputs in slots 0 and 1 (both null ID, or both
        # the ID after id_stop): run slot 1 only.
        first = 0 if self.adapter.config.branch_pooled_text else batch

        with self.progress_bar(total=steps) as progress, self.adapter.reusing_conditions():
            for i, t in enumerate(timesteps):
                slots = 3 if i in with_id else 2
                rows = slots * batch
                ids = late_ids if i >= with_id.stop else slot_ids[:rows]
                model_input = self.scheduler.scale_model_input(latents.repeat(slots, 1, 1, 1), t)
                added = {"text_embeds": slot_pooled[:rows], "time_ids": slot_time_ids[:rows]}
                residuals = self.adapter(
                    model_input[first:],
                    t,
                    ids[first:],
                    slot_landmarks[first:rows],
                    slot_boxes[first:rows],
                    {k: v[first:] for k, v in added.items()},
                    local_scale=options.local_scale,
                    global_scale=options.global_scale,
                    location_masks=slot_masks[first:rows],
                )
                if first and residuals is not None:
                    residuals = residuals.map(lambda r: torch.cat([r[:batch], r]))
                noise_pred = self.unet(
                    model_input,
                    t,
                    encoder_hidden_states=slot_text[:rows],
                    added_cond_kwargs=added,
                    return_dict=False,
                    **(residuals.unet_kwargs() if residuals is not None else {}),
                )[0].chunk(slots)
                id_row = noise_pred[2] if slots == 3 else None
                noise_pred = realisid_guidance(*noise_pred[:2], id_row, options.text_scale, options.id_scale)
                latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs, return_dict=False)[0]
                if callback_on_step_end is not None:
                    latents = callback_on_step_end(self, i, t, {"latents": latents}).get("latents", latents)
                progress.update()

        self._release_adapter()
        images = latents if output_type == "latent" else self._decode(latents, output_type)
        layout = draw_layout(width, height, [(p.box, p.landmarks) for p in resolved]) if return_layout else None
        self.maybe_free_model_hooks()
        if not return_dict:
            return (images, layout)
        return RealisIDPipelineOutput(images=images, layout=layout)

    def _release_adapter(self) -> None:
        """Under model CPU offload, sends the adapter back to the CPU once the denoising loop is done."""
        for hook in getattr(self, "_all_hooks", []):
            if hook.model is self.adapter:
                hook.offload()

    def _decode(self, latents: torch.Tensor, output_type: str) -> Any:
        upcast = self.vae.dtype == torch.float16 and self.vae.config.force_upcast  # SDXL's VAE overflows in fp16
        if upcast:
            self.vae.to(dtype=torch.float32)
        image = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor, return_dict=False)[0]
        if upcast:
            self.vae.to(dtype=torch.float16)
        return self.image_processor.postprocess(image, output_type=output_type)

    def _check_call(self, prompt, height, width, num_images) -> None:
        if height % 8 or width % 8 or height <= 0 or width <= 0:
            raise RealisIDError(f"height and width must be positive multiples of 8, got {height}x{width}")
        whole_number("the number of images per prompt", num_images, 1)
        if not isinstance(prompt, (str, list)):
            raise RealisIDError(f"prompt must be a string or a list of strings, got {type(prompt).__name__}")
        for text in [prompt] if isinstance(prompt, str) else prompt:
            tokens = len(self.tokenizer(text).input_ids)
            if tokens > self.tokenizer.model_max_length:
                warnings.warn(
                    f"the prompt is {tokens} tokens long; CLIP reads {self.tokenizer.model_max_length}, "
                    "the rest is dropped",
                    stacklevel=3,
                )


def tiny_pipeline(seed: int = 0, adapter: str | Path | IdentityAdapter | None = None) -> RealisIDPipeline:
    """RealisID on the offline tiny stack (random weights, seeded): shapes and steps, not images.

    Without ``adapter`` the branches are fresh (zero convolutions: the tiny SDXL's own output).
    """
    stack = tiny_stack(seed)
    pipe = RealisIDPipeline.from_stack(stack, adapter or RealisIDAdapter.from_unet(stack.unet, tiny_adapter_config()))
    pipe.set_progress_bar_config(disable=None)
    return pipe
