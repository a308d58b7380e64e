"""Box geometry (Eq. 4, Eq. 5, c_loc) as pure tensor functions."""

from __future__ import annotations

import math

import pytest
import torch

from realisid.models.geometry import crop, location_mask, relocate


def smooth_field(h: int, w: int, channels: int = 3) -> torch.Tensor:
    """A smooth test field on an ``h×w`` grid, ``(1, C, h, w)``; varies ~0.15 per cell at most."""
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    layers = [torch.sin(xs / 7 + c) * torch.cos(ys / 9 - c) + 0.1 * c for c in range(channels)]
    return torch.stack(layers)[None]


def cells_inside(box: tuple[float, float, float], image_size, grid, margin: float) -> torch.Tensor:
    """Cells whose centre lies at least ``margin`` cells inside the box clipped to the image.

    Resampling blends a box's edge with its outside (zeros past the image border), so the
    round trip is only expected to be exact away from the edges of the visible part of the box.
    """
    (H, W), (h, w) = image_size, grid
    x0, y0, s = box
    xs = (torch.arange(w) + 0.5) * W / w
    ys = (torch.arange(h) + 0.5) * H / h
    mx, my = margin * W / w, margin * H / h
    inside_x = (xs >= max(x0, 0) + mx) & (xs < min(x0 + s, W) - mx)
    inside_y = (ys >= max(y0, 0) + my) & (ys < min(y0 + s, H) - my)
    return inside_y[:, None] & inside_x[None, :]


CASES = {
    "inside": ((256, 256), (40.0, 72.0, 96.0)),
    "fractional": ((256, 256), (33.3, 71.9, 101.7)),
    "partly outside": ((256, 256), (-30.0, 180.0, 120.0)),
    "non-square image": ((192, 320), (200.0, 20.0, 80.0)),
}


@pytest.mark.parametrize("name", CASES)
def test_relocate_inverts_crop_inside_the_box(name):
    """relocate(crop(x)) ≈ x inside the box (|error| < 0.03 on a field of amplitude ~1), 0 outside."""
    image_size, box = CASES[name]
    grid = (image_size[0] // 8, image_size[1] // 8)
    x = smooth_field(*grid)
    boxes = torch.tensor([box])
    back = relocate(crop(x, boxes, image_size, size=32), boxes, image_size, grid)
    inside = cells_inside(box, image_size, grid, margin=1.0)
    assert inside.sum() > 10
    error = (back - x)[..., inside].abs().max()
    assert error < 0.03, f"{name}: max error {error:.4f}"
    support = location_mask(boxes, image_size, grid)[0, 0].bool()
    assert torch.count_nonzero(back[..., ~support]) == 0


def test_relocate_at_every_unet_level_downsamples_with_the_box():
    """At 1/2 and 1/4 of the latent grid the relocated field still matches the field there."""
    image_size, box = (256, 256), (64.0, 64.0, 128.0)
    boxes = torch.tensor([box])
    for factor in (1, 2, 4):
        grid = (32 // factor, 32 // factor)
        x = smooth_field(32, 32)
        coarse = torch.nn.functional.interpolate(x, size=grid, mode="area")
        crop_level = crop(x, boxes, image_size, size=32 // factor)
        back = relocate(crop_level, boxes, image_size, grid)
        inside = cells_inside(box, image_size, grid, margin=1.0)
        assert (back - coarse)[..., inside].abs().max() < 0.08


def test_sub_cell_box_covers_one_cell():
    image_size, grid = (256, 256), (8, 8)  # 32 px cells; a 10 px box is under one cell
    boxes = torch.tensor([[100.0, 40.0, 10.0]])
    mask = location_mask(boxes, image_size, grid)[0, 0]
    assert mask.sum() == 1 and mask[45 // 32, 105 // 32] == 1
    residual = torch.ones(1, 2, 4, 4) * 3.0
    placed = relocate(residual, boxes, image_size, grid)
    assert torch.count_nonzero(placed[0, 0]) == 1
    assert placed[0, :, 1, 3].tolist() == [3.0, 3.0]


def test_location_mask_pixels_and_latents():
    boxes = torch.tensor([[16.0, 8.0, 32.0], [-16.0, 40.0, 48.0]])
    pixels = location_mask(boxes, (64, 96), (64, 96))
    assert pixels.shape == (2, 1, 64, 96)
    assert pixels[0].sum() == 32 * 32
    assert pixels[1].sum() == 32 * 24  # clipped at the left and bottom border
    latents = location_mask(boxes, (64, 96), (8, 12))
    assert latents[0].sum() == 4 * 4
    assert latents[0, 0, 1:5, 2:6].all()


def test_crop_is_zero_outside_the_image_and_exact_on_aligned_boxes():
    x = smooth_field(16, 16)
    half_out = crop(x, torch.tensor([[-64.0, 0.0, 128.0]]), (128, 128), size=16)
    assert torch.count_nonzero(half_out[..., :, :7]) == 0  # left half of the box is off the image
    assert torch.count_nonzero(half_out[..., :, 9:]) == half_out[..., :, 9:].numel()
    identity = crop(x, torch.tensor([[0.0, 0.0, 128.0]]), (128, 128), size=16)
    torch.testing.assert_close(identity, x, atol=1e-6, rtol=0)


def test_crop_upsamples_the_face_region():
    """A 2-cell box upsampled to 16 cells is the bilinear interpolation of those cells."""
    x = torch.zeros(1, 1, 8, 8)
    x[..., 2:4, 2:4] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    up = crop(x, torch.tensor([[16.0, 16.0, 16.0]]), (64, 64), size=16)
    assert up.shape == (1, 1, 16, 16)
    # output cell 4 has its centre at latent x = 2 + 2 * 4.5/16 = 2.5625: 1/16 of the way to cell 3
    assert math.isclose(up[0, 0, 4, 4].item(), 1 + 1 / 16 + 2 / 16, abs_tol=1e-6)
    assert up[0, 0, 4, 4] < up[0, 0, 4, 12] < up[0, 0, 12, 12]
