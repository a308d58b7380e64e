"""Box geometry of RealisID as pure tensor functions.

Boxes are square, ``(x0, y0, size)`` in *image pixels*, shape ``(..., 3)``; coordinates and
resampling are computed in float32 whatever the features' dtype (a bf16 pixel coordinate is off by
up to 4 px at 1024), and results are returned in the features' dtype. Boxes may be fractional and
may extend past the image border.

Grids. A *base grid* ``(h, w)`` tiles the image (the pixels, the latent): cell ``i`` is centred at
``i + 0.5`` base cells. Its *level k* is what ``k`` SDXL down-samplers (3×3 convolutions, stride 2,
padding 1) make of it: ``⌈h/2^k⌉`` cells, cell ``m`` centred on base cell ``2^k·m``, i.e. at
``2^k·m + 0.5`` — not at the centre of the ``2^k`` cells it covers, as an area pool would be.
The local branch runs the same convolutions on the crop, so both sides of Eq. 4 live on such grids.

- :func:`location_mask` — the location guidance ``c_loc`` on any grid and level.
- :func:`crop` — Eq. 5's ``ẑ_t``: the box region of ``z_t`` bilinearly resampled to ``L×L``.
- :func:`relocate` — Eq. 4's ``R(i, c_loc)``: a branch residual on level k of the crop grid,
  resampled at the centres of level k of the image grid inside the box, zeros elsewhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def location_mask(boxes: Tensor, image_size: tuple[int, int], grid: tuple[int, int], level: int = 0) -> Tensor:
    """``c_loc``: 1 on the cells of level ``level`` of the base ``grid = (h, w)`` whose centre lies in the box.

    Args:
        boxes: ``(N, 3)`` boxes in pixels of an image of ``image_size = (H, W)``.
        grid: the base grid (``(H, W)`` for pixels, ``(H/8, W/8)`` for latents).
        level: how many SDXL down-samplers separate the mask from ``grid``.

    Returns:
        ``(N, 1, ⌈h/2^level⌉, ⌈w/2^level⌉)`` float32 mask. A box smaller than one cell still covers
        the cell holding its centre, so no box vanishes at a coarse level.
    """
    (x0, y0), size = _box_in_cells(boxes, image_size, grid)
    inside_x, inside_y = _support(x0, size[0], grid[1], level), _support(y0, size[1], grid[0], level)
    return (inside_y[:, :, None] & inside_x[:, None, :]).float()[:, None]


def _box_in_cells(
    boxes: Tensor, image_size: tuple[int, int], grid: tuple[int, int]
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Each box's ``(x0, y0)`` and ``(size_x, size_y)``, ``(N, 1)`` each, in cells of the base ``grid``."""
    (H, W), (h, w) = image_size, grid
    x0, y0, size = (boxes.float()[:, i, None] for i in range(3))
    return (x0 * (w / W), y0 * (h / H)), (size * (w / W), size * (h / H))


def _centres(cells: int, level: int, like: Tensor) -> Tensor:
    """``(⌈cells/2^level⌉,)`` centres, in base cells, of one axis of level ``level`` of a base grid."""
    stride = 2**level
    return torch.arange(-(-cells // stride), device=like.device, dtype=torch.float32) * stride + 0.5


def _support(start: Tensor, size: Tensor, cells: int, level: int) -> Tensor:
    """``(N, n)`` bool: the level's cells on one axis centred in ``[start, start + size)`` or holding its centre."""
    centres = _centres(cells, level, start)
    inside = (centres >= start) & (centres < start + size)
    nearest = ((start + size / 2 - 0.5) / 2**level + 0.5).floor().long().clamp(0, len(centres) - 1)
    return inside | (torch.arange(len(centres), device=start.device) == nearest)


def _box_to_image_theta(boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Affine maps ``(N, 2, 3)`` from box coordinates ``[-1, 1]²`` to image coordinates ``[-1, 1]²``."""
    H, W = image_size
    x0, y0, size = boxes.unbind(-1)
    theta = boxes.new_zeros(boxes.shape[0], 2, 3)
    theta[:, 0, 0] = size / W
    theta[:, 0, 2] = (2 * x0 + size) / W - 1
    theta[:, 1, 1] = size / H
    theta[:, 1, 2] = (2 * y0 + size) / H - 1
    return theta


def crop(x: Tensor, boxes: Tensor, image_size: tuple[int, int], size: int) -> Tensor:
    """Eq. 5: crops each box from ``x`` and bilinearly resamples it to ``size×size``, in one affine step.

    Past the image border the crop sees ``x`` mirrored at the border, so a noisy latent stays noise
    of the same statistics there (zeros would be a pattern ``z_t`` never shows) and bilinear
    samples near the border are not blended with zeros.

    Args:
        x: ``(N, C, h, w)`` features covering the whole image (e.g. the noisy latent ``z_t``).
        boxes: ``(N, 3)`` boxes in pixels of an image of ``image_size = (H, W)``.
        size: the side ``L`` of the output grid; crop cell ``j`` is centred at ``x0 + (j + 0.5)·s/L``.

    Returns:
        ``(N, C, size, size)``.
    """
    theta = _box_to_image_theta(boxes.float(), image_size)
    grid = F.affine_grid(theta, [x.shape[0], x.shape[1], size, size], align_corners=False)
    resampled = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return resampled.to(x.dtype)


def relocate(
    residual: Tensor,
    boxes: Tensor,
    image_size: tuple[int, int],
    grid: tuple[int, int],
    level: int = 0,
    crop_size: int | None = None,
) -> Tensor:
    """Eq. 4: puts a residual computed on level ``level`` of the crop back at its box, on that level of ``grid``.

    Every image cell whose centre lies in the box (see :func:`location_mask`) takes the residual at
    the same point of the crop, through a separable triangle filter one image cell wide on each side
    (bilinear when the crop is the coarser grid, antialiased when it is the finer). The filter only
    reads crop cells centred inside the image, so the in-image part of a border box keeps its gain,
    and it narrows symmetrically near the crop's edge so that its centroid stays on the cell centre.

    Args:
        residual: ``(N, C, L_k, L_k)``, ``L_k = ⌈L/2^level⌉``: level ``level`` of an ``L×L`` crop.
        boxes: ``(N, 3)`` boxes in pixels of an image of ``image_size = (H, W)``.
        grid: ``(h, w)``, the image's base grid (the latent for the U-Net, ``(H, W)`` for pixels).
        level: how many SDXL down-samplers separate ``residual`` from the crop, and the output from ``grid``.
        crop_size: ``L``; by default the residual's side (level 0).

    Returns:
        ``(N, C, ⌈h/2^level⌉, ⌈w/2^level⌉)``, zero outside the box.
    """
    (x0, y0), size = _box_in_cells(boxes, image_size, grid)
    side = crop_size or residual.shape[-1]
    rows = _resampling_weights(y0, size[1], grid[0], level, side, residual.shape[-2])
    columns = _resampling_weights(x0, size[0], grid[1], level, side, residual.shape[-1])
    placed = rows[:, None] @ residual.float() @ columns[:, None].transpose(-1, -2)
    return placed.to(residual.dtype)


def _resampling_weights(start: Tensor, size: Tensor, cells: int, level: int, side: int, crop_cells: int) -> Tensor:
    """``(N, n, crop_cells)``: one axis of :func:`relocate`, image cells of the level from its crop cells.

    ``start``, ``size``: ``(N, 1)`` box in base cells; ``side``: the crop's base side ``L``.
    """
    stride, scale = 2**level, side / size  # scale: crop base cells per image base cell
    # crop cell j of the level is centred at crop base cell 2^k·j + 0.5, i.e. image base cell
    # start + (2^k·j + 0.5) / scale: where each image cell's centre falls among the crop cells, and the
    # first and last crop cells centred in the image
    at = ((_centres(cells, level, start) - start) * scale - 0.5) / stride
    first = ((-start * scale - 0.5) / stride).ceil().clamp(0, crop_cells - 1)
    last = torch.maximum((((cells - start) * scale - 0.5) / stride).ceil() - 1, first).clamp(max=crop_cells - 1)
    # a triangle one image cell wide each side, inside [first, last] and symmetric about its centre there
    at = torch.minimum(torch.maximum(at, first), last)
    half_width = torch.minimum(scale.clamp(min=1), torch.minimum(at - first, last - at) + 1)
    offsets = torch.arange(crop_cells, device=start.device, dtype=torch.float32) - at[..., None]
    weights = (1 - offsets.abs() / half_width[..., None]).clamp(min=0)
    weights = weights / weights.sum(-1, keepdim=True)
    return weights * _support(start, size, cells, level)[..., None]
