"""Demo data: K49-format folders of generated hiragana, so everything works without a download.

Each character is rendered once per bundled font (Pillow, `resources/fonts/`) into a 64x64
template, in a few stroke widths. Samples are then made in vectorized torch batches: a random
affine (rotation, shear, aspect), a smooth random elastic displacement, re-framing like K49
(the larger side of the ink box fills the 28 px frame, centred), blur and ink contrast, then
an area downsample to 28x28 uint8, white on black. Exactly `noise_fraction` of the train
labels are replaced by another class, and `demo-truth.csv` lists them so that the review mode
can be checked against the truth.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from k49desk.core.atomic import atomic_write_text
from k49desk.core.classes import (
    N_CLASSES,
    OFFICIAL_CLASSES,
    OFFICIAL_TEST_COUNTS,
    OFFICIAL_TRAIN_COUNTS,
)
from k49desk.core.dataset import (
    DEMO_TRUTH_FILE,
    OFFICIAL_FILES,
    images_file,
    write_classmap,
    write_split,
)
from k49desk.core.errors import Cancelled, DataError
from k49desk.paths import FONTS_DIR

Progress = Callable[[float, str], None]

TEMPLATE = 64          # template side (px); the glyph's larger side fills it
OUT = 28
# Templates are pre-blurred by this much (template px) so that sampling them straight at
# 28x28 (a ~2.3x reduction) does not alias; far cheaper than drawing at 2x and downsampling.
_ANTIALIAS_SIGMA = 1.0
BATCH = 2048
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


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (monotone chain) of (N, 2) points; the bbox of any affine image of the
    glyph equals the bbox of the image of its hull, which is what re-framing needs."""
    pts = np.unique(points, axis=0)
    if len(pts) < 3:
        return pts

    def half(seq: np.ndarray) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for p in seq:
            while len(out) >= 2:
                a, b = out[-2], out[-1]
                if (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) > 0:
                    break
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


@lru_cache(maxsize=2)
def _templates() -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Templates (F*49*V, 1, T, T) float, hulls (F*49*V, K, 2) in normalized coords, stroke
    widths (F*49*V,) in template px, font weights (F,), font stems. Built once per process."""
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
    tpl = _gauss_blur(sharp, _ANTIALIAS_SIGMA).contiguous()
    arr = sharp[:, 0].numpy()
    hull_list = []
    for i in range(arr.shape[0]):
        ink = arr[i] > 0.5
        rows = np.flatnonzero(ink.any(1))
        if rows.size == 0:
            rows = np.array([TEMPLATE // 2])
            ink[TEMPLATE // 2, TEMPLATE // 2] = True
        # the hull of the ink is the hull of each row's leftmost and rightmost pixel corners
        left = ink[rows].argmax(1)
        right = TEMPLATE - ink[rows, ::-1].argmax(1)
        corners = np.concatenate([np.stack([left, rows], 1), np.stack([left, rows + 1], 1),
                                  np.stack([right, rows], 1), np.stack([right, rows + 1], 1)])
        hull_list.append(_hull(corners).astype(np.float32))
    k = max(len(h) for h in hull_list)
    # pad by repeating vertices: duplicates do not change a bounding box
    hulls = np.stack([h[np.arange(k) % len(h)] for h in hull_list])
    hulls = hulls * (2.0 / TEMPLATE) - 1.0  # pixel-edge coords -> grid_sample's [-1, 1]
    # stroke width of each template ~ 2 * area / boundary length (a stroke of width w and
    # length L has area wL and two edges of length L); used to aim at a target width
    ink = torch.from_numpy(arr[:, None] > 0.5).float()
    inner = -F.max_pool2d(-ink, 3, 1, 1)
    area = ink.sum((1, 2, 3))
    boundary = (ink - inner).sum((1, 2, 3)).clamp(min=1.0)
    width = (2.0 * area / boundary).numpy().astype(np.float32)
    stems = tuple(p.stem.replace("-k49subset", "") for p in files)
    weights = np.array([_FONT_WEIGHT.get(s, 1.0) for s in stems], np.float64)
    return tpl, torch.from_numpy(hulls), width, weights / weights.sum(), stems


@lru_cache(maxsize=8)
def _blur_kernel(sigma: float) -> torch.Tensor:
    r = max(1, int(np.ceil(2.5 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return torch.from_numpy((k / k.sum()).astype(np.float32))


def _gauss_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable gaussian blur of (B, H, W) as shifted sums: for these tiny kernels and
    images this is several times faster than conv2d on CPU."""
    k = _blur_kernel(sigma)
    r = (len(k) - 1) // 2
    h, w = x.shape[-2:]
    p = F.pad(x, (r, r))
    x = sum(float(k[i]) * p[..., :, i:i + w] for i in range(2 * r + 1))
    p = F.pad(x, (0, 0, r, r))
    return sum(float(k[i]) * p[..., i:i + h, :] for i in range(2 * r + 1))


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


def _bbox(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, K, 2) -> centre (B, 2), larger side (B,), smaller side (B,)."""
    lo, hi = points.amin(1), points.amax(1)
    size = hi - lo
    return (lo + hi) / 2, size.amax(1), size.amin(1)


def make_samples(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Generated images uint8 (N, 28, 28) for `labels` (one batch; vectorized)."""
    tpl, hulls, widths, font_w, _ = _templates()
    n = len(labels)
    if n == 0:
        return np.zeros((0, OUT, OUT), np.uint8)
    nv = len(_WIDTH_STEPS)
    v0 = _WIDTH_STEPS.index(0)
    font = rng.choice(len(font_w), size=n, p=font_w)
    base = (font * N_CLASSES + labels.astype(np.int64)) * nv
    # random affine in template space: rotation, shear, aspect
    rot = np.clip(rng.normal(0, 0.09, n), -0.3, 0.3)
    shear = np.clip(rng.normal(0, 0.14, n), -0.4, 0.4)
    aspect = np.exp(np.clip(rng.normal(0, 0.10, n), -0.3, 0.3))
    cos, sin = np.cos(rot), np.sin(rot)
    a = np.empty((n, 2, 2))
    # R(rot) @ [[1, shear], [0, 1]] @ diag(sqrt(aspect), 1/sqrt(aspect))
    sa, sb = np.sqrt(aspect), 1 / np.sqrt(aspect)
    a[:, 0, 0], a[:, 0, 1] = cos * sa, (cos * shear - sin) * sb
    a[:, 1, 0], a[:, 1, 1] = sin * sa, (sin * shear + cos) * sb
    extent_px = rng.uniform(25.5, 28.8, n)      # ink box's larger side in the 28 px frame
    jitter = rng.normal(0, 0.35, (n, 2)) * (2.0 / OUT)
    target_w = rng.uniform(1.1, 2.7, n)         # stroke width aimed at, in output px
    elastic = rng.uniform(0.0, 0.08, n)
    field = rng.normal(0, 1, (n, 2, 4, 4))  # elastic offsets, smoothly interpolated
    blur_level = rng.choice(3, size=n, p=(0.25, 0.45, 0.30))
    gain = rng.uniform(1.0, 1.9, n)
    peak = np.minimum(1.0, rng.uniform(0.85, 1.15, n))

    at = torch.from_numpy(a.astype(np.float32))

    def frame(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        pts = hulls[torch.from_numpy(idx)] @ at.transpose(1, 2)
        centre, big, _ = _bbox(pts)
        scale = torch.from_numpy((extent_px * 2.0 / OUT).astype(np.float32)) / big.clamp(min=1e-3)
        return centre, scale

    _, scale = frame(base + v0)
    px_per_tpl = scale.numpy() * OUT / TEMPLATE          # output px per template px
    need = (target_w / px_per_tpl - widths[base + v0]) / 2.0
    steps = np.clip(np.rint(need), _WIDTH_STEPS[0], _WIDTH_STEPS[-1]).astype(np.int64)
    # eroding strokes that are already thin would break them into dots
    steps = np.where((steps < 0) & (widths[base + v0] < 4.0), 0, steps)
    idx = base + v0 + steps
    centre, scale = frame(idx)

    inv = torch.linalg.inv(at)                          # output -> template space
    theta = torch.empty((n, 2, 3))
    theta[:, :, :2] = inv / scale[:, None, None]
    shift = centre - torch.from_numpy(jitter.astype(np.float32)) / scale[:, None]
    theta[:, :, 2] = (inv @ shift[:, :, None])[:, :, 0]
    coef = torch.cat([theta, torch.from_numpy(
        (field * elastic[:, None, None, None]).astype(np.float32)).reshape(n, 2, -1)], 2)
    grid = (coef.reshape(2 * n, -1) @ _grid_basis(OUT).T).view(n, 2, OUT, OUT)
    grid = grid.permute(0, 2, 3, 1).contiguous()
    img = F.grid_sample(tpl[torch.from_numpy(idx)], grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)[:, 0]
    # pen/scan blur, only on the samples that get it
    for level, sigma in ((1, 0.35), (2, 0.6)):
        sel = torch.from_numpy(np.flatnonzero(blur_level == level))
        if len(sel):
            img[sel] = _gauss_blur(img[sel], sigma)
    g = torch.from_numpy(gain.astype(np.float32))[:, None, None]
    pk = torch.from_numpy(peak.astype(np.float32))[:, None, None]
    out = (img * g).clamp(0, 1) * pk * 255.0
    out = torch.where(out < 6.0, torch.zeros_like(out), out)  # K49 backgrounds are exactly 0
    return out.round().to(torch.uint8).numpy()


def _split_counts(per_class: int | None, full: bool) -> dict[str, np.ndarray]:
    if full:
        return {"train": np.array(OFFICIAL_TRAIN_COUNTS), "test": np.array(OFFICIAL_TEST_COUNTS)}
    if per_class is None or per_class < 1:
        raise DataError(f"demo data: per_class must be at least 1, got {per_class}")
    return {"train": np.full(N_CLASSES, per_class),
            "test": np.full(N_CLASSES, max(1, per_class // 6))}


def _truth_csv(split: str, given: np.ndarray, true: np.ndarray) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["split", "index", "given_label", "true_label"])
    for i in np.flatnonzero(given != true):
        w.writerow([split, int(i), int(given[i]), int(true[i])])
    return buf.getvalue()


def generate_demo(root: str | os.PathLike[str], *, per_class: int | None = 200, full: bool = False,
                  seed: int = 0, noise_fraction: float = 0.01, progress: Progress | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Path:
    """Write a demo folder in the official K49 format; return its path.

    `full`: the official class counts (train 232,365 / test 38,547). Otherwise `per_class`
    train and max(1, per_class // 6) test images per class. round(noise_fraction * n_train)
    train labels are wrong on purpose, listed in demo-truth.csv. Same seed, same arrays.
    Raises Cancelled (writing nothing) when should_stop() turns true while generating.
    """
    root = Path(root)
    if not 0.0 <= noise_fraction < 1.0:
        raise DataError(f"demo data: noise_fraction must be in [0, 1), got {noise_fraction}")
    counts = _split_counts(per_class, full)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: exists and is not a folder")
    # never overwrite real K49 files with generated ones
    if root.is_dir() and not (root / DEMO_TRUTH_FILE).exists():
        real = [f for f in OFFICIAL_FILES if f != "k49_classmap.csv" and (root / f).exists()]
        if real:
            raise DataError(f"{root}: holds {real[0]}, which is not demo data; choose an empty "
                            "folder for demo data")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{root}: cannot create the folder ({e.strerror or e})") from e

    ss = np.random.SeedSequence(seed)
    s_order, s_noise, s_train, s_test = ss.spawn(4)
    total = int(sum(c.sum() for c in counts.values()))
    done = 0
    _templates()  # build before the first progress tick so the bar moves steadily afterwards
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    order_rng = np.random.default_rng(s_order)
    for split, s_img in (("train", s_train), ("test", s_test)):
        true = np.repeat(np.arange(N_CLASSES, dtype=np.uint8), counts[split])
        true = true[order_rng.permutation(len(true))]
        images = np.empty((len(true), OUT, OUT), np.uint8)
        rng = np.random.default_rng(s_img)
        for start in range(0, len(true), BATCH):
            if should_stop is not None and should_stop():
                raise Cancelled(f"{root}: demo data generation stopped; nothing was written")
            stop = min(start + BATCH, len(true))
            images[start:stop] = make_samples(true[start:stop], rng)
            done += stop - start
            if progress is not None:
                progress(done / total * 0.9,
                         f"Generating {split} images ({stop:,d}/{len(true):,d})")
        arrays[split] = (images, true)

    train_true = arrays["train"][1]
    given = train_true.copy()
    n_wrong = int(round(noise_fraction * len(given)))
    nrng = np.random.default_rng(s_noise)
    wrong = nrng.choice(len(given), size=n_wrong, replace=False)
    # a uniformly random *other* class
    given[wrong] = (train_true[wrong].astype(np.int64)
                    + nrng.integers(1, N_CLASSES, n_wrong)) % N_CLASSES
    if should_stop is not None and should_stop():
        raise Cancelled(f"{root}: demo data generation stopped; nothing was written")
    # the truth file goes first: a folder left half-written by a crash still says "demo"
    atomic_write_text(root / DEMO_TRUTH_FILE, _truth_csv("train", given, train_true),
                      error=DataError)
    if progress is not None:
        progress(0.92, f"Writing {images_file('train')}")
    write_split(root, "train", arrays["train"][0], given)
    if progress is not None:
        progress(0.98, f"Writing {images_file('test')}")
    write_split(root, "test", *arrays["test"])
    write_classmap(root)
    if progress is not None:
        progress(1.0, "Demo data written")
    return root
