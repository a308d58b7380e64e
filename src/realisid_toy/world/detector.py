"""Finding the face in a synthetic-world image, for the identity backend (which gets no box).

A tiny fully-convolutional net predicts the face-oval mask of a ``128×128`` copy of the image; the
largest connected blob is the face, and its square box follows from the renderer's geometry: the
face oval spans the box from cheek to cheek and from ``0.13`` box sizes above it to its bottom edge.
Trained on renderings, whose exact face masks are free; a learned mask, unlike a skin-colour rule,
does not confuse faces with skin-coloured necks, hair or backgrounds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from scipy import ndimage
from torch import nn

from realisid.boxes import Box

from .identity_net import to_tensor
from .sampling import sample_rendering
from .traits import Paint

DETECTION_SIZE = 128
OVAL_TOP = -0.13
"""Top of the face oval in box units (its bottom is at ``1``)."""


class FaceSegmenter(nn.Module):
    """Stride-4 features with dilated context, upsampled to a face-mask logit per pixel."""

    def __init__(self, width: int = 24):
        super().__init__()
        self.width = width

        def block(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
            conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation)
            return [conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        self.net = nn.Sequential(
            *block(3, width, 2),
            *block(width, width, 2),
            *block(width, width, dilation=2),
            *block(width, width, dilation=4),
            *block(width, width, dilation=8),
            nn.Conv2d(width, 1, 1),
        )

    def save(self, path: str | Path) -> None:
        """Weights in safetensors, the width in its metadata."""
        state = {k: v.contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(path), metadata={"width": str(self.width)})

    @classmethod
    def load(cls, path: str | Path) -> FaceSegmenter:
        with safe_open(str(path), "pt") as file:
            net = cls(int(file.metadata()["width"]))
        net.load_state_dict(load_file(str(path)))
        return net.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(self.net(images), size=images.shape[-2:], mode="bilinear")

    @torch.no_grad()
    def find_box(self, image: Image.Image, min_pixels: int = 12) -> Box | None:
        """The square face box of the largest face blob in ``image``, or ``None`` if there is none."""
        small = image.convert("RGB").resize((DETECTION_SIZE, DETECTION_SIZE), Image.BILINEAR)
        mask = (self.eval()(to_tensor(small)[None])[0, 0] > 0).numpy()
        blobs, count = ndimage.label(mask)
        if count == 0:
            return None
        sizes = ndimage.sum(mask, blobs, index=range(1, count + 1))
        if sizes.max() < min_pixels:
            return None
        ys, xs = np.nonzero(blobs == 1 + int(np.argmax(sizes)))
        height = ys.max() + 1 - ys.min()
        size = height / (1 - OVAL_TOP)
        x0 = (xs.min() + xs.max() + 1) / 2 - size / 2
        box = Box(float(x0), float(ys.max() + 1 - size), float(size))
        return (
            box.scaled(image.width / DETECTION_SIZE) if image.width == image.height else _rescale(box, image)
        )


def _rescale(box: Box, image: Image.Image) -> Box:
    """A box found on the square resized copy, in the pixels of a non-square ``image``."""
    sx, sy = image.width / DETECTION_SIZE, image.height / DETECTION_SIZE
    cx, cy = box.center
    size = box.size * max(sx, sy)
    return Box(cx * sx - size / 2, cy * sy - size / 2, size)


def train_face_segmenter(
    images: int = 1500, epochs: int = 6, seed: int = 0, width: int = 24, paint: Paint = "none"
) -> FaceSegmenter:
    """A :class:`FaceSegmenter` trained on ``images`` random scenes (faces 1/8 to 3/5 of the image,
    wearing ``paint``) and an eighth as many blank images."""
    torch.manual_seed(seed)
    renderings = [
        sample_rendering(
            seed * 100_000 + i,
            size=DETECTION_SIZE,
            rel_size=(0.12, 0.6),
            supersample=2,
            paint=paint,
        )
        for i in range(images)
    ]
    # Blank images of random colours teach the net that an empty picture has no face.
    blanks = torch.rand(images // 8, 3, 1, 1).expand(-1, -1, DETECTION_SIZE, DETECTION_SIZE) * 2 - 1
    inputs = torch.cat([torch.stack([to_tensor(r.image) for r in renderings]), blanks])
    masks = torch.stack([torch.from_numpy(r.face_mask) for r in renderings])
    targets = torch.cat([masks, torch.zeros(len(blanks), DETECTION_SIZE, DETECTION_SIZE)])[:, None]
    net = FaceSegmenter(width)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs))
        for start in range(0, len(inputs), 32):
            index = order[start : start + 32]
            loss = nn.functional.binary_cross_entropy_with_logits(net(inputs[index]), targets[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net.eval()
