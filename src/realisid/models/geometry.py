"""Box geometry of RealisID as pure tensor functions.

Boxes are square, ``(x0, y0, size)`` in *image pixels*, shape ``(..., 3)``; coordinates and
resampling are computed in float32 whatever the features' dtype (a bf16 pixel coordinate is off by
up to 4 px at 1024), and results are returned in the features' dtype. Every function maps a
box into a feature grid through normalised image coordinates, so the same box serves the pixel
image, the latent (1/8) and every U-Net level (1/16, 1/32, ...) without rounding. Boxes may be
fractional and may extend past the image border; outside the image everything is zero.

- :func:`location_mask` — the location guidance ``c_loc`` on any grid.
- :func:`crop` — Eq. 5's ``ẑ_t``: the box region of ``z_t`` bilinearly resampled to ``L×L``.
- :func:`relocate` — Eq. 4's ``R(i, c_loc)``: a branch residual on the ``L_k×L_k`` crop grid,
  resized to the box at its level's scale and pasted into zeros of the U-Net residual's shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def location_mask(boxes: Tensor, image_size: tuple[int, int], grid: tuple[int, int]) -> Tensor:
    """``c_loc``: 1 on the cells of a ``grid = (h, w)`` whose centre lies in the box, else 0.

    Args:
        boxes: ``(N, 3)`` boxes in pixels of an image of ``image_size = (H, W)``.
        grid: the resolution of the mask (``(H, W)`` for pixels, ``(H/8, W/8)`` for latents).

    Returns:
        ``(N, 1, h, w)`` float32 mask. A box smaller than one cell still covers the cell holding
        its centre, so no box vanishes at a coarse level.
    """
    (H, W), (h, w) = image_size, grid
    boxes = boxes.float()
    x0, y0, size = (boxes[:, i, None] for i in range(3))
    xs, ys = _cell_centres(w, W, boxes), _cell_centres(h, H, boxes)
    inside_x = (xs >= x0) & (xs < x0 + size)  # (N, w)
    inside_y = (ys >= y0) & (ys < y0 + size)  # (N, h)
    centre_x = ((x0 + size / 2) * (w / W)).floor().long().clamp(0, w - 1)
    centre_y = ((y0 + size / 2) * (h / H)).floor().long().clamp(0, h - 1)
    inside_x |= torch.arange(w, device=boxes.device) == centre_x
    inside_y |= torch.arange(h, device=boxes.device) == centre_y
    return (inside_y[:, :, None] & inside_x[:, None, :]).float()[:, None]


def _cell_centres(cells: int, pixels: int, like: Tensor) -> Tensor:
    """Pixel coordinates ``(cells,)`` of the centres of a grid of ``cells`` spanning ``pixels``."""
    return (torch.arange(cells, device=like.device, dtype=like.dtype) + 0.5) * (pixels / cells)


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

    Args:
        x: ``(N, C, h, w)`` features covering the whole image (e.g. the noisy latent ``z_t``).
        boxes: ``(N, 3)`` boxes in pixels of an image of ``image_size = (H, W)``.
        size: the side ``L`` of the output grid.

    Returns:
        ``(N, C, size, size)``; the parts of a box outside the image are zeros.
    """
    theta = _box_to_image_theta(boxes.float(), image_size)
    grid = F.affine_grid(theta, [x.shape[0], x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False).to(x.dtype)


def relocate(residual: Tensor, boxes: Tensor, image_size: tuple[int, int], grid: tuple[int, int]) -> Tensor:
    """Eq. 4: puts a residual computed on the crop back at its box, in zeros of shape ``grid``.

    The residual is first resized with antialiasing from its ``L_k×L_k`` grid to the box's size at
    the target level (at least one cell), then placed by the inverse of :func:`crop`'s affine map.
    Sampling is clamped to the box and the result multiplied by :func:`location_mask`, so it is
    exactly zero outside the box, clipped at the image border, and a sub-cell box fills one cell.

    Args:
        residual: ``(N, C, L_k, L_k)`` branch residual on the crop grid.
        boxes: ``(N, 3)`` boxes in pixels of an image of ``image_size = (H, W)``.
        grid: ``(h_k, w_k)``, the spatial shape of the U-Net residual at this level.

    Returns:
        ``(N, C, h_k, w_k)``.
    """
    (H, W), (h, w) = image_size, grid
    boxes, dtype = boxes.float(), residual.dtype
    cells = (boxes[:, 2] * max(h / H, w / W)).round().clamp(min=1).long()
    placed = residual.new_empty(residual.shape[0], residual.shape[1], h, w, dtype=torch.float32)
    for n in cells.unique().tolist():  # one resize per distinct box size, not per person
        index = (cells == n).nonzero().squeeze(1)
        resized = residual[index].float()
        if n < resized.shape[-1]:
            resized = F.interpolate(resized, size=(n, n), mode="bilinear", antialias=True, align_corners=False)
        placed[index] = _paste(resized, boxes[index], image_size, grid)
    return (placed * location_mask(boxes, image_size, grid)).to(dtype)


def _paste(residual: Tensor, boxes: Tensor, image_size: tuple[int, int], grid: tuple[int, int]) -> Tensor:
    """Samples ``residual`` (covering each box) at every cell centre of ``grid``, clamped to the box."""
    (H, W), (h, w) = image_size, grid
    x0, y0, size = (boxes[:, i, None, None] for i in range(3))
    xs, ys = _cell_centres(w, W, boxes), _cell_centres(h, H, boxes)
    u = ((xs[None, None, :] - x0) / size * 2 - 1).clamp(-1, 1).expand(-1, h, w)
    v = ((ys[None, :, None] - y0) / size * 2 - 1).clamp(-1, 1).expand(-1, h, w)
    grid_uv = torch.stack([u, v], -1)
    return F.grid_sample(residual, grid_uv, mode="bilinear", padding_mode="border", align_corners=False)
