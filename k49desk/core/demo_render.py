"""Demo-data drawing: bundled fonts -> glyph templates -> K49-like 28x28 samples, in batches.

Each character is rendered once per bundled font (Pillow, `resources/fonts/`) into a 48x48
template (ink box scaled to fill it), in five stroke widths, pre-blurred against aliasing.
Samples are then drawn straight at 28x28 in vectorized torch batches: a random affine
(rotation, shear, aspect), a smooth random elastic displacement, re-framing like K49 (the
larger side of the ink box spans the frame, centred), sometimes a neighbour's stroke poking
in at the top or bottom (K49 crops come from lines of text), blur and ink contrast; uint8,
white on black, background exactly 0. No Qt: the GUI draws with the same fonts separately.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from k49desk.core.classes import N_CLASSES, OFFICIAL_CLASSES
from k49desk.core.errors import DataError
from k49desk.paths import FONTS_DIR

TEMPLATE = 48          # template side (px); the glyph's larger side fills it
OUT = 28
# Templates are pre-blurred by this much (template px) so that sampling them straight at
# 28x28 (a ~2.3x reduction) does not alias; far cheaper than drawing at 2x and downsampling.
_ANTIALIAS_SIGMA = 0.8
# Plain fonts look least like brush writing: the sans comes first (font_index 0, readable
# for tests) but is drawn rarely; brush fonts dominate like in K49.
_FONT_ORDER = ("NotoSansCJKjp", "KouzanBrushSousyo", "KouzanBrushGyousyo", "KouzanBrush",
               "AoyagiKouzanT", "AoyagiSoseki", "Seto", "Kiloji")
_FONT_WEIGHT = {"NotoSansCJKjp": 0.4, "Seto": 0.7, "Kiloji": 0.8}
# Stroke-width variants of each template, in template px: erode 1, as drawn, dilate 1..3.
_WIDTH_STEPS = (-1, 0, 1, 2, 3)


def font_files() -> list[Path]:
    """The bundled subset fonts in a fixed order (index = `font_index`)."""
    if not FONTS_DIR.is_dir():
        raise DataError(f"{FONTS_DIR}: bundled fonts folder not found (run scripts/make_fonts.py)")
    files = [p for p in FONTS_DIR.iterdir() if p.suffix.lower() in (".ttf", ".otf")]
    if not files:
        raise DataError(f"{FONTS_DIR}: no bundled .ttf/.otf fonts (run scripts/make_fonts.py)")

    def key(p: Path) -> tuple[int, str]:
        stem = p.stem.replace("-k49subset", "")
        return (_FONT_ORDER.index(stem) if stem in _FONT_ORDER else len(_FONT_ORDER), p.name)

    return sorted(files, key=key)


@lru_cache(maxsize=64)
def _pil_font(path: str, px: int):  # noqa: ANN202
    from PIL import ImageFont

    try:
        return ImageFont.truetype(path, px)
    except OSError as e:
        raise DataError(f"{Path(path).name}: cannot be read as a font ({e})") from e


def render_char(char: str, size: int, font_index: int = 0) -> np.ndarray:
    """`char` in bundled font `font_index` as uint8 (size, size), white on black.

    The ink box is scaled (aspect kept) so its larger side fills the square, and centred.
    """
    from PIL import Image, ImageDraw

    fonts = font_files()
    path = fonts[font_index % len(fonts)]
    px = max(4 * size, 128)
    font = _pil_font(str(path), px)
    canvas = Image.new("L", (2 * px, 2 * px), 0)
    ImageDraw.Draw(canvas).text((px // 2, px // 2), char, fill=255, font=font)
    arr = np.asarray(canvas)
    ys, xs = np.nonzero(arr > 8)
    out = np.zeros((size, size), np.uint8)
    if ys.size == 0:
        return out
    crop = canvas.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    scale = size / max(crop.width, crop.height)
    w, h = max(1, round(crop.width * scale)), max(1, round(crop.height * scale))
    small = np.asarray(crop.resize((w, h), Image.Resampling.BOX))
    y0, x0 = (size - h) // 2, (size - w) // 2
    out[y0:y0 + h, x0:x0 + w] = small
    return out


def _outline_points(ink: np.ndarray) -> np.ndarray:
    """(N, T, T) bool -> (N, 4T, 2) float32 points (x, y in pixel-edge units): the corners of
    each row's leftmost and rightmost ink pixel. Their convex hull is the glyph's, so the ink
    box of any affine image of the glyph is the box of their images (what re-framing needs)."""
    n, t, _ = ink.shape
    rows_on = ink.any(2)
    left = ink.argmax(2).astype(np.float32)
    right = (t - ink[:, :, ::-1].argmax(2)).astype(np.float32)
    y = np.broadcast_to(np.arange(t, dtype=np.float32), (n, t))
    # empty rows repeat a real point (the first ink row's left corner): boxes are unchanged
    first = rows_on.argmax(1)
    fill_x, fill_y = left[np.arange(n), first][:, None], first.astype(np.float32)[:, None]
    left, right = np.where(rows_on, left, fill_x), np.where(rows_on, right, fill_x)
    y0, y1 = np.where(rows_on, y, fill_y), np.where(rows_on, y + 1, fill_y)
    xs = np.stack([left, left, right, right], 2).reshape(n, -1)
    ys = np.stack([y0, y1, y0, y1], 2).reshape(n, -1)
    return np.stack([xs, ys], 2)


@lru_cache(maxsize=2)
def _templates() -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Templates (F*49*V, 1, T, T) float, outline points (F*49*V, K, 2) in normalized coords,
    stroke widths (F*49*V,) in template px, font weights (F,), font stems. Built once per
    process (about a second)."""
    files = font_files()
    base = np.stack([np.stack([render_char(c.char, TEMPLATE, fi) for c in OFFICIAL_CLASSES])
                     for fi in range(len(files))]).astype(np.float32) / 255.0  # (F, 49, T, T)
    x = torch.from_numpy(base).reshape(-1, 1, TEMPLATE, TEMPLATE)
    variants = []
    for step in _WIDTH_STEPS:
        v = x
        for _ in range(abs(step)):
            v = F.max_pool2d(v, 3, 1, 1) if step > 0 else -F.max_pool2d(-v, 3, 1, 1)
        variants.append(v)
    # (F*49, V, T, T) -> flat index ((f*49 + c) * V + v)
    sharp = torch.stack(variants, 1).reshape(-1, 1, TEMPLATE, TEMPLATE)
    k = torch.from_numpy(_blur_matrices(np.array([_ANTIALIAS_SIGMA]), TEMPLATE)[0])
    tpl = (k @ sharp @ k.T).contiguous()
    arr = sharp[:, 0].numpy()
    ink_np = arr > 0.5
    ink_np[~ink_np.any((1, 2)), TEMPLATE // 2, TEMPLATE // 2] = True  # never happens; be safe
    hulls = _outline_points(ink_np) * (2.0 / TEMPLATE) - 1.0  # -> grid_sample's [-1, 1]
    # stroke width of each template ~ 2 * area / boundary length (a stroke of width w and
    # length L has area wL and two edges of length L); used to aim at a target width
    ink = torch.from_numpy(arr[:, None] > 0.5).float()
    inner = -F.max_pool2d(-ink, 3, 1, 1)
    area = ink.sum((1, 2, 3))
    boundary = (ink - inner).sum((1, 2, 3)).clamp(min=1.0)
    width = (2.0 * area / boundary).numpy().astype(np.float32)
    stems = tuple(p.stem.replace("-k49subset", "") for p in files)
    weights = np.array([_FONT_WEIGHT.get(s, 1.0) for s in stems], np.float64)
    return tpl, hulls, width, weights / weights.sum(), stems


@lru_cache(maxsize=2)
def _grid_basis(n: int, k: int = 4) -> torch.Tensor:
    """(n*n, 3 + k*k): for each output pixel, its (x, y, 1) in grid_sample's [-1, 1] coords
    (align_corners=False) and the weights of a k x k grid of elastic offsets under cubic
    interpolation. grid = basis @ [affine; offsets]: one matmul builds the whole sampling grid
    (affine_grid plus per-sample upsampling of the offsets is several times slower)."""
    c = (torch.arange(n, dtype=torch.float32) * 2 + 1) / n - 1
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    eye = torch.eye(k).view(k, 1, k, 1)
    b = F.interpolate(eye, size=(n, 1), mode="bicubic", align_corners=True)[:, 0, :, 0].T
    smooth = torch.einsum("yi,xj->yxij", b, b).reshape(n * n, k * k)
    return torch.cat([xx.reshape(-1, 1), yy.reshape(-1, 1), torch.ones(n * n, 1), smooth], 1)


def _blur_matrices(sigma: np.ndarray, size: int = OUT) -> np.ndarray:
    """(n, size, size) float32 gaussian band matrices K (identity where sigma=0), normalised by
    the untruncated kernel sum (zero padding at the border): K @ img @ K^T blurs img. For
    small images two batched matmuls beat per-sample convolutions by far."""
    s = np.maximum(sigma, 1e-3).astype(np.float32)[:, None]
    taps = np.exp(-0.5 * (np.arange(size, dtype=np.float32)[None, :] / s) ** 2)  # (n, size)
    taps /= 2.0 * taps.sum(1, keepdims=True) - taps[:, :1]
    d = np.abs(np.arange(size)[:, None] - np.arange(size)[None, :])
    return np.ascontiguousarray(taps[:, d])  # fancy indexing may return a transposed layout


def _frame(hulls: np.ndarray, a: np.ndarray,
           extent_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre of each transformed ink box, and the scale that makes its larger side
    extent_px long (the image of the hull has the same box as the image of the glyph)."""
    px, py = hulls[:, :, 0], hulls[:, :, 1]
    a = a.astype(np.float32)
    x = a[:, 0, 0, None] * px + a[:, 0, 1, None] * py
    y = a[:, 1, 0, None] * px + a[:, 1, 1, None] * py
    lo = np.stack([x.min(1), y.min(1)], 1).astype(np.float64)
    hi = np.stack([x.max(1), y.max(1)], 1).astype(np.float64)
    return (lo + hi) / 2, (extent_px * 2.0 / OUT) / np.maximum((hi - lo).max(1), 1e-3)


def _draw(tpl: torch.Tensor, hulls: np.ndarray, idx: np.ndarray, idx_thick: np.ndarray,
          a: np.ndarray, extent_px: np.ndarray, jitter: np.ndarray, field: np.ndarray,
          pressure: np.ndarray) -> torch.Tensor:
    """Templates `idx` through affine `a`, re-framed like K49, moved by `jitter` (normalized
    output units) and the elastic `field` -> float (n, 28, 28) in [0, 1]. Like brush
    pressure, a smooth random mask (coefficients `pressure`, (n, 16)) blends in the thicker
    variant `idx_thick`: both are sampled as two channels of one grid_sample."""
    n = len(idx)
    centre, scale = _frame(hulls[idx], a, extent_px)
    # output -> template: p_in = A^-1 (p_out - jitter) / scale + A^-1 centre
    inv = np.linalg.inv(a) / scale[:, None, None]
    shift = np.einsum("nij,nj->ni", inv, centre * scale[:, None] - jitter)
    coef = np.concatenate([inv, shift[:, :, None], field], 2).astype(np.float32)  # (n, 2, 19)
    basis = _grid_basis(OUT)
    grid = (torch.from_numpy(coef).view(2 * n, -1) @ basis.T).view(n, 2, OUT, OUT)
    grid = grid.permute(0, 2, 3, 1).contiguous()
    both = torch.from_numpy(np.stack([idx, idx_thick], 1).reshape(-1))
    src = torch.index_select(tpl, 0, both).view(n, 2, TEMPLATE, TEMPLATE)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mask = (torch.from_numpy(pressure.astype(np.float32)) @ basis[:, 3:].T).view(n, OUT, OUT)
    mask = mask.clamp_(0.0, 1.0)
    return torch.lerp(out[:, 0], out[:, 1], mask)


def make_samples(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Generated images uint8 (N, 28, 28) for `labels` (one batch, vectorized).

    Per-sample parameters are drawn and composed in numpy (tiny arrays); torch does the
    per-pixel work: one matmul for the sampling grids, grid_sample, blur and contrast.
    """
    tpl, hulls, widths, font_w, _ = _templates()
    n = len(labels)
    if n == 0:
        return np.zeros((0, OUT, OUT), np.uint8)
    nv, v0 = len(_WIDTH_STEPS), _WIDTH_STEPS.index(0)
    font = rng.choice(len(font_w), size=n, p=font_w)
    base = (font * N_CLASSES + labels.astype(np.int64)) * nv + v0
    # forward affine in template space: R(rot) @ shear @ diag(sqrt(aspect), 1/sqrt(aspect))
    rot = np.clip(rng.normal(0, 0.09, n), -0.3, 0.3)
    shear = np.clip(rng.normal(0, 0.14, n), -0.4, 0.4)
    # K49 glyphs come from vertical text and run tall: aspect (width/height) below 1
    aspect = np.exp(np.clip(rng.normal(-0.1, 0.12, n), -0.45, 0.3))
    cos, sin, sa, sb = np.cos(rot), np.sin(rot), np.sqrt(aspect), 1 / np.sqrt(aspect)
    a = np.stack([np.stack([cos * sa, (cos * shear - sin) * sb], 1),
                  np.stack([sin * sa, (sin * shear + cos) * sb], 1)], 1)  # (n, 2, 2)
    extent_px = rng.uniform(27.6, 30.0, n)      # ink box's larger side in the 28 px frame
    # K49 ink sits a little low in the frame (mean centroid row ~13.8-14.3 of 0..27)
    jitter = rng.normal((0.0, 0.7), 0.35, (n, 2)) * (2.0 / OUT)
    target_w = rng.uniform(0.7, 1.6, n)         # stroke width aimed at, in output px
    elastic = rng.uniform(0.0, 0.09, n)
    field = rng.normal(0, 1, (n, 2, 16)) * elastic[:, None, None]  # 4x4 offsets per axis
    # brush pressure: where this smooth field is > 0 the stroke turns one step wider
    pressure = (rng.normal(0, 1, (n, 16)) * rng.uniform(0.3, 0.9, (n, 1))
                - rng.uniform(0.0, 0.5, (n, 1)))
    blur = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.2, 0.45, n))  # sigma, px
    gain = rng.uniform(1.15, 1.9, n)            # > 1: stroke cores saturate like K49 scans
    peak = np.minimum(1.0, rng.uniform(0.88, 1.2, n))
    # K49 crops come from vertical lines of text: a neighbour's stroke often pokes in
    frag = np.flatnonzero(rng.random(n) < 0.3)
    frag_cls = rng.integers(0, N_CLASSES, len(frag))
    frag_side = rng.choice([-1.0, 1.0], len(frag))
    frag_gap = rng.uniform(1.5, 1.9, len(frag))
    frag_dx = rng.normal(0, 0.12, len(frag))
    frag_ext = extent_px[frag] * rng.uniform(0.8, 1.1, len(frag))

    scale = _frame(hulls[base], a, extent_px)[1]
    px_per_tpl = scale * OUT / TEMPLATE          # output px per template px
    steps = np.rint((target_w / px_per_tpl - widths[base]) / 2.0)
    steps = np.clip(steps, _WIDTH_STEPS[0], _WIDTH_STEPS[-1]).astype(np.int64)
    # eroding strokes that are already thin would break them into dots
    steps = np.where((steps < 0) & (widths[base] < 4.0), 0, steps)
    idx = base + steps
    thick = np.where(v0 + steps < nv - 1, 1, 0)  # the next wider variant, where there is one
    img = _draw(tpl, hulls, idx, idx + thick, a, extent_px, jitter, field, pressure)
    if len(frag):
        fidx = (font[frag] * N_CLASSES + frag_cls) * nv + v0 + steps[frag]
        fj = np.stack([frag_dx, frag_side * frag_gap], 1)
        piece = _draw(tpl, hulls, fidx, fidx + thick[frag], a[frag], frag_ext, fj, field[frag],
                      pressure[frag])
        img[torch.from_numpy(frag)] = torch.maximum(img[torch.from_numpy(frag)], piece)
    # pen/scan blur with a per-sample sigma
    k = torch.from_numpy(_blur_matrices(blur))
    img = torch.bmm(torch.bmm(k, img), k.transpose(1, 2))
    # ink contrast: min(img * gain, 1) * peak, in 0..255; img >= 0 already
    pk = torch.from_numpy((peak * 255.0).astype(np.float32))[:, None, None]
    img.mul_(torch.from_numpy(gain.astype(np.float32))[:, None, None] * pk)
    img = torch.minimum(img, pk)
    F.threshold_(img, 6.0, 0.0)  # K49 backgrounds are exactly 0
    return img.add_(0.5).to(torch.uint8).numpy()  # +0.5 then truncate = round
