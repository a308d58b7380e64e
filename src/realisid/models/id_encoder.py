"""The frozen ID image encoder: masked face crops → CLIP penultimate hidden states.

The trainable half (features → ``p_id``) is the adapter's projection; this module only turns
face crops into the features it projects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from transformers import CLIPVisionModelWithProjection

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_pixels(faces: Sequence[Image.Image] | Tensor, size: int) -> Tensor:
    """Face crops → CLIP input ``(N, 3, size, size)``, resized with antialiasing and normalised.

    ``faces`` are PIL images (square crops, background zeroed) or a ``(N, 3, H, W)`` tensor in ``[0, 1]``.
    """
    if not isinstance(faces, Tensor):
        resized = [np.asarray(face.convert("RGB").resize((size, size), Image.BICUBIC)) for face in faces]
        faces = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float() / 255.0
    elif faces.shape[-2:] != (size, size):
        faces = F.interpolate(faces, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    mean = faces.new_tensor(CLIP_MEAN)[:, None, None]
    std = faces.new_tensor(CLIP_STD)[:, None, None]
    return (faces.clamp(0, 1) - mean) / std


@torch.no_grad()
def penultimate_features(image_encoder: CLIPVisionModelWithProjection, pixel_values: Tensor) -> Tensor:
    """CLIP hidden states of the penultimate layer, all tokens: ``(N, T, D)``."""
    param = next(image_encoder.parameters())
    outputs = image_encoder(pixel_values.to(param.device, param.dtype), output_hidden_states=True)
    return outputs.hidden_states[-2]


def face_features(image_encoder: CLIPVisionModelWithProjection, faces: Sequence[Image.Image] | Tensor) -> Tensor:
    """Masked face crops → ``(N, T, D)`` features, ready for ``IdentityAdapter.project``."""
    return penultimate_features(image_encoder, clip_pixels(faces, image_encoder.config.image_size))
