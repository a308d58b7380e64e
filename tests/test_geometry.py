"""Box geometry (Eq. 4, Eq. 5, c_loc) as pure tensor functions."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from diffusers import ControlNetModel, UNet2DConditionModel

from realisid.models.geometry import crop, location_mask, relocate
from realisid.presets import TINY_UNET


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


def test_sub_cell_box_covers_one_cell():
    image_size, grid = (256, 256), (8, 8)  # 32 px cells; a 10 px box is under one cell
    boxes = torch.tensor([[100.0, 40.0, 10.0]])
    mask = location_mask(boxes, image_size, grid)[0, 0]
    assert mask.sum() == 1 and mask[45 // 32, 105 // 32] == 1
    residual = torch.ones(1, 2, 4, 4) * 3.0
    placed = relocate(residual, boxes, image_size, grid)
    assert torch.count_nonzero(placed[0, 0]) == 1
    torch.testing.assert_close(placed[0, :, 1, 3], torch.tensor([3.0, 3.0]))


def test_location_mask_pixels_and_latents():
    boxes = torch.tensor([[16.0, 8.0, 32.0], [-16.0, 40.0, 48.0]])
    pixels = location_mask(boxes, (64, 96), (64, 96))
    assert pixels.shape == (2, 1, 64, 96)
    assert pixels[0].sum() == 32 * 32
    assert pixels[1].sum() == 32 * 24  # clipped at the left and bottom border
    latents = location_mask(boxes, (64, 96), (8, 12))
    assert latents[0].sum() == 4 * 4
    assert latents[0, 0, 1:5, 2:6].all()
    # latent cells [1, 3)²: level-1 cell 1 is centred at latent 2.5, inside; cell 0 at 0.5, outside
    level_1 = location_mask(torch.tensor([[8.0, 8.0, 16.0]]), (64, 96), (8, 12), level=1)
    assert level_1.shape == (1, 1, 4, 6) and level_1.sum() == 1 and level_1[0, 0, 1, 1] == 1


def test_crop_mirrors_the_image_past_its_border_and_is_exact_on_aligned_boxes():
    """Outside the image the branch sees the latent mirrored at the border: noise stays noise, not zeros."""
    x = smooth_field(16, 16)
    half_out = crop(x, torch.tensor([[-64.0, 0.0, 128.0]]), (128, 128), size=16)  # left half off the image
    torch.testing.assert_close(half_out[..., :8], half_out[..., 8:].flip(-1), atol=1e-6, rtol=0)
    torch.testing.assert_close(half_out[..., 8:], x[..., :8], atol=1e-6, rtol=0)
    noise = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    corner = crop(noise, torch.tensor([[-96.0, 160.0, 192.0]]), (256, 256), size=48)
    outside, inside = corner[..., 24:, :24], corner[..., :24, 24:]  # below-left of the image, and in it
    assert 0.85 < outside.std() / inside.std() < 1.15
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


def test_relocate_into_pixels_is_an_antialiased_resize_into_the_box():
    """Level 0 with the pixel grid (how a landmark drawing is pasted): F.interpolate's antialiased
    bilinear resize of the drawing to the box, away from the box's edge cells."""
    drawing = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for x0, y0, side in ((16, 24, 32), (16, 24, 20), (10, 8, 48)):
        placed = relocate(drawing, torch.tensor([[float(x0), float(y0), float(side)]]), (96, 128), (96, 128))
        resized = F.interpolate(drawing, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
        got = placed[..., y0 : y0 + side, x0 : x0 + side]
        torch.testing.assert_close(got[..., 1:-1, 1:-1], resized[..., 1:-1, 1:-1], atol=1e-5, rtol=0)
        assert torch.count_nonzero(placed[0, 0]) == side * side


def centre_picking(sampler: torch.nn.Module) -> torch.nn.Module:
    """A copy of a diffusers ``Downsample2D`` whose convolution copies each channel's centre input cell."""
    sampler = copy.deepcopy(sampler)
    conv = sampler.conv
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        channels = range(conv.out_channels)
        conv.weight[channels, channels, conv.kernel_size[0] // 2, conv.kernel_size[1] // 2] = 1
    return sampler


@pytest.fixture(scope="module")
def down_paths():
    """The down-sampling paths of the U-Net (on the image) and of a ControlNet made from it (on the
    crop): SDXL's blocks with their kernel, stride and padding, made to pick their centre cell."""
    unet = UNet2DConditionModel(**TINY_UNET)
    net = ControlNetModel.from_unet(unet)
    return tuple(
        [centre_picking(block.downsamplers[0]) for block in model.down_blocks if block.downsamplers]
        for model in (unet, net)
    )


def levels(field: torch.Tensor, samplers) -> list[torch.Tensor]:
    """``field`` ``(1, c, h, w)`` at every level of a down-sampling path, the input first."""
    out = [field]
    for sampler in samplers:
        padded = F.pad(out[-1], (0, 0, 0, 0, 0, sampler.channels - field.shape[1]))
        out.append(sampler(padded)[:, : field.shape[1]])
    return out


def coordinate_field(h: int, w: int) -> torch.Tensor:
    """``(1, 2, h, w)``: each cell's centre ``(x, y)`` in cells of the grid."""
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    return torch.stack([xs, ys])[None]


def through_both_paths(field, boxes, image_size, side, down_paths):
    """``field`` on the latent at each U-Net level, and relocated from the crop at the same levels."""
    unet_path, branch_path = down_paths
    grid = field.shape[-2:]
    crop_levels = levels(crop(field, boxes, image_size, side), branch_path)
    relocated = [relocate(r, boxes, image_size, grid, level, side) for level, r in enumerate(crop_levels)]
    return levels(field, unet_path), crop_levels, relocated


# (image size, crop side L): SDXL's 1024² and an odd-sized non-square one, and the tiny stack's
GEOMETRIES = [((1024, 1024), 128), ((1016, 1352), 128), ((128, 192), 16)]


@pytest.mark.parametrize("divisor", range(3, 13))
@pytest.mark.parametrize("image_size, side", GEOMETRIES)
@torch.no_grad()
def test_relocated_residuals_sit_where_the_unet_has_them(down_paths, image_size, side, divisor):
    """A coordinate field pushed through the U-Net's down-samplers on the image, and through crop,
    the ControlNet's down-samplers and relocate, agrees within 0.05 cell at every level, at every
    cell of the box whose centre the crop's cells bracket (the others lie past the crop's outermost
    cell centre: the edge cells of small boxes)."""
    H, W = image_size
    s = min(image_size) / divisor
    boxes = torch.tensor([[0.37 * (W - s) + 0.3, 0.61 * (H - s) + 0.1, s]])  # fractional, off-centre
    field = coordinate_field(-(-H // 8), -(-W // 8))  # odd latent sizes round up
    expected, crop_levels, relocated = through_both_paths(field, boxes, image_size, side, down_paths)
    for level, (want, got, cropped) in enumerate(zip(expected, relocated, crop_levels)):
        support = location_mask(boxes, image_size, field.shape[-2:], level)[0, 0].bool()
        assert torch.count_nonzero(got[..., ~support]) == 0
        low, high = cropped.amin((-2, -1))[0, :, None, None], cropped.amax((-2, -1))[0, :, None, None]
        bracketed = ((want[0] >= low) & (want[0] <= high)).all(0) & support
        assert bracketed.any() or s / 8 < 2 ** (level + 1), f"level {level}: no cell to check"
        error = ((got - want)[0, :, bracketed] / 2**level).abs()  # in cells of the level
        assert (error < 0.05).all(), f"level {level}: off by {error.max():.3f} cell"


@pytest.mark.parametrize("divisor", [3, 5, 7, 12])
@pytest.mark.parametrize("image_size, side", GEOMETRIES)
@torch.no_grad()
def test_border_boxes_keep_the_gain_of_interior_ones(down_paths, image_size, side, divisor):
    """A constant latent comes back at the gain of an interior box at every level, on every cell of
    the image that a box reaching past the left, top, right or bottom border covers."""
    H, W = image_size
    s = min(image_size) / divisor
    ones = torch.ones(1, 1, -(-H // 8), -(-W // 8))

    def gains(box):
        boxes = torch.tensor([box])
        expected, _, relocated = through_both_paths(ones, boxes, image_size, side, down_paths)
        masks = [location_mask(boxes, image_size, ones.shape[-2:], level)[0, 0].bool() for level in range(3)]
        return [(got / want)[0, 0, mask] for got, want, mask in zip(relocated, expected, masks)]

    interior = [g.mean() for g in gains((W / 3, H / 3, s))]
    for box in ((-0.4 * s, H / 3, s), (W / 3, -0.3 * s, s), (W - 0.7 * s, H - 0.45 * s, s)):
        for level, (gain, reference) in enumerate(zip(gains(box), interior)):
            assert (gain - reference).abs().max() < 0.02 * reference, f"{box} level {level}: gain {gain.min():.3f}"
