"""Training-time augmentation: a small random affine per image, then (with probability
`cutout`) a blacked-out 9x9 square, done on the whole batch.

Cutout (DeVries & Taylor 2017) makes the model use the whole character, not one stroke:
measured on real10 (RESULTS.md) it is worth about a point of balanced accuracy at no cost.

The random parameters are drawn separately from their use (`augment_params`), so a
data-parallel run can draw them for the whole batch in every process, identically, and apply
each process's share (see core/distributed.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812

# rotate +-10 deg, scale +-10%, shear +-0.15, shift +-2 px (of 28)
MAX_ROTATE_DEG = 10.0
MAX_SCALE = 0.10
MAX_SHEAR = 0.15
MAX_SHIFT_PX = 2.0
CUTOUT_HALF = 4  # the square spans centre +-4 px: 9 x 9
N_PARAMS = 8


def augment_params(n: int, gen: torch.Generator) -> torch.Tensor:
    """(8, n) uniform draws in [-1, 1]: rotation, scale, shear, x and y shift; whether to cut
    out, and where (the cut-out square's centre row and column)."""
    return torch.rand(N_PARAMS, n, generator=gen) * 2 - 1


def augment(x: torch.Tensor, r: torch.Tensor, cutout: float = 0.0) -> torch.Tensor:
    """Apply the affine maps `r` (from augment_params, one column per image) to x
    (N, 1, 28, 28) with affine_grid/grid_sample (cheap next to the convolutions), then cut
    out a square from each image whose draw falls under probability `cutout`."""
    n = x.shape[0]
    ang, scale = r[0] * math.radians(MAX_ROTATE_DEG), 1 + r[1] * MAX_SCALE
    shear = r[2] * MAX_SHEAR
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.empty(n, 2, 3)
    theta[:, 0, 0] = cos / scale
    theta[:, 0, 1] = (-sin + shear * cos) / scale
    theta[:, 1, 0] = sin / scale
    theta[:, 1, 1] = (cos + shear * sin) / scale
    theta[:, 0, 2] = r[3] * (MAX_SHIFT_PX / 14)  # [-1, 1] coordinates: 14 px per unit
    theta[:, 1, 2] = r[4] * (MAX_SHIFT_PX / 14)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if cutout <= 0:
        return x
    cut = (r[5] + 1) / 2 < cutout
    cy = ((r[6] + 1) * 14).long().clamp(0, 27).view(-1, 1, 1)
    cx = ((r[7] + 1) * 14).long().clamp(0, 27).view(-1, 1, 1)
    yy = torch.arange(28).view(1, 28, 1)
    xx = torch.arange(28).view(1, 1, 28)
    box = ((yy - cy).abs() <= CUTOUT_HALF) & ((xx - cx).abs() <= CUTOUT_HALF) & cut.view(-1, 1, 1)
    return x.masked_fill(box.unsqueeze(1).to(x.device), 0.0)
