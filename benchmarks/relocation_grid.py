"""Where relocated local-branch residuals land at each U-Net level, and their gain at the border.

    python benchmarks/relocation_grid.py [--before acffdb6]

A coordinate field (each latent cell's centre, in latent cells) goes through SDXL's down-sampling
path — 3×3 convolutions with stride 2 and padding 1 whose kernel copies the centre cell — once on
the whole latent (the U-Net) and once on the crop followed by relocation (the local branch). Their
difference is how far a relocated residual sits from the U-Net cell it is added to, in latent cells
(8 px), over every cell relocation fills. "before" is ``geometry.py`` at revision ``--before`` (the
area-pool convention) called as ``LocalBranch`` called it then; "after" is the working tree. Boxes
are 1/3 … 1/12 of the image side at fractional positions, at SDXL's 1024² (crop side L = 128) and
on the tiny stack's 128² (L = 16). Gain: a constant latent relocated from a box reaching 40 % of
its side past the left and the bottom border: the least value on the image (1 = no attenuation).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import subprocess
import tempfile
import types
from pathlib import Path

import torch
from torch import nn

from realisid.models import geometry

GEOMETRIES = {"SDXL 1024², L=128": ((1024, 1024), 128), "tiny 128², L=16": ((128, 128), 16)}
LEVELS = 3  # SDXL: the latent, 1/2 and 1/4 (the last down block and the mid block)


def geometry_at(revision: str) -> types.ModuleType:
    """``realisid.models.geometry`` as of ``revision`` of this repository."""
    path = "src/realisid/models/geometry.py"
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=root, capture_output=True, text=True, check=True)
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "geometry_before.py"
        file.write_text(source.stdout)
        spec = importlib.util.spec_from_file_location(file.stem, file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def down_path(field: torch.Tensor) -> list[torch.Tensor]:
    """``field`` at every level of SDXL's down-sampling path, as centre-picking convolutions see it."""
    conv = nn.Conv2d(field.shape[1], field.shape[1], kernel_size=3, stride=2, padding=1, bias=False)
    nn.init.dirac_(conv.weight)
    out = [field]
    with torch.no_grad():
        for _ in range(LEVELS - 1):
            out.append(conv(out[-1]))
    return out


def relocate_before(before: types.ModuleType, residual, boxes, image_size, grid, level):
    """The old relocation and its support, with the old ``LocalBranch``'s level grid and image size."""
    factor, cell = 2**level, image_size[0] / grid[0]
    level_grid = (math.ceil(grid[0] / factor), math.ceil(grid[1] / factor))
    covered = (level_grid[0] * factor * cell, level_grid[1] * factor * cell)
    return before.relocate(residual, boxes, covered, level_grid), before.location_mask(boxes, covered, level_grid)


def relocate_after(residual, boxes, image_size, grid, level, side):
    placed = geometry.relocate(residual, boxes, image_size, grid, level, side)
    return placed, geometry.location_mask(boxes, image_size, grid, level)


def both(before, field, boxes, image_size, side):
    """The U-Net's field at each level, and per level (relocated field, filled cells) before and after."""
    grid = field.shape[-2:]
    crops_before = down_path(before.crop(field, boxes, image_size, side))
    crops_after = down_path(geometry.crop(field, boxes, image_size, side))
    return down_path(field), [
        [relocate_before(before, r, boxes, image_size, grid, level) for level, r in enumerate(crops_before)],
        [relocate_after(r, boxes, image_size, grid, level, side) for level, r in enumerate(crops_after)],
    ]


def coordinates(h: int, w: int) -> torch.Tensor:
    """``(1, 2, h, w)``: each cell's centre ``(x, y)`` in cells."""
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    return torch.stack([xs, ys])[None]


def position_table(before) -> None:
    print("| image, crop | box side | level | before: mean x shift | before: max error | after: mean x shift | after: max error |")
    print("|---|---|---|---|---|---|---|")
    for label, (image_size, side) in GEOMETRIES.items():
        H, W = image_size
        field = coordinates(H // 8, W // 8)
        for divisor in range(3, 13):
            s = H / divisor
            boxes = torch.tensor([[0.37 * (W - s) + 0.3, 0.61 * (H - s) + 0.1, s]])
            unet, rows = both(before, field, boxes, image_size, side)
            for level in range(LEVELS):
                cells = []
                for placed, mask in (row[level] for row in rows):
                    error = (placed - unet[level])[0][:, mask[0, 0].bool()]
                    cells += [f"{error[0].mean():+.2f}", f"{error.abs().max():.2f}"]
                print(f"| {label} | 1/{divisor} | {level} | " + " | ".join(cells) + " |")


def gain_table(before) -> None:
    print("\n| image, crop | box side | border | level | before: least gain | after: least gain |")
    print("|---|---|---|---|---|---|")
    for label, (image_size, side) in GEOMETRIES.items():
        H, W = image_size
        ones = torch.ones(1, 1, H // 8, W // 8)
        for divisor in (3, 7, 12):
            s = H / divisor
            for border, box in (("left", (-0.4 * s, H / 3, s)), ("bottom", (W / 3, H - 0.6 * s, s))):
                _, rows = both(before, ones, torch.tensor([box]), image_size, side)
                for level in range(LEVELS):
                    least = [placed[0, 0][mask[0, 0].bool()].min().item() for placed, mask in (row[level] for row in rows)]
                    print(f"| {label} | 1/{divisor} | {border} | {level} | {least[0]:.3f} | {least[1]:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="acffdb6", help="a revision with the area-pool convention")
    before = geometry_at(parser.parse_args().before)
    with torch.no_grad():
        position_table(before)
        gain_table(before)


if __name__ == "__main__":
    main()
