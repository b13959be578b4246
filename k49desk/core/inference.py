"""Drawn or photographed character -> a K49-like 28x28 image -> top-k classes.

K49 images are white ink on black, the character's bounding box scaled so that its longer side
spans the full 28 pixels (aspect ratio kept) and centred, with soft anti-aliased edges. The
drawing pad and `k49desk predict` both go through `preprocess` so the model sees the same
kind of input it was trained on, whatever the canvas size, pen width or paper polarity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFilter

from k49desk.core.image_file import (  # noqa: F401  (re-exported: CLI, GUI, core callers)
    load_image_file,
    to_gray01,
)

if TYPE_CHECKING:
    from k49desk.core.model import LoadedModel

SIZE = 28
# Working resolution for stroke-width adjustment: 4 px per output pixel, so a one-pixel
# dilation is a quarter of an output pixel, fine enough to match K49 stroke widths.
_SCALE = 4
_WORK = SIZE * _SCALE
# Stroke width of real K49 images (the estimator `stroke_width`, in output pixels), measured
# on 2,000 real images of /work/shared/data/kuzushiji-real10: p10 1.19, median 1.72, p90 2.37.
# Widths inside [lo, hi] are left alone (natural variation); outside, they are pulled to the
# nearest bound, so a hairline or a marker-thick pen still gives K49-like strokes.
K49_STROKE_WIDTH = (1.2, 2.35)
_INK_THRESHOLD = 0.2  # after background removal; below this is paper noise


def background_level(gray: np.ndarray) -> float:
    """Median of the border pixels: the paper (or canvas) colour."""
    if min(gray.shape) < 3:
        return float(np.median(gray))
    border = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    return float(np.median(border))


def is_dark_on_light(gray: np.ndarray) -> bool:
    """True when the image is dark ink on light paper (the border is lighter than mid-grey).

    When the border is ambiguous (mid-grey), the majority of pixels decides: ink covers less
    of a character image than the paper does.
    """
    bg = background_level(gray)
    if abs(bg - 0.5) > 0.1:
        return bg > 0.5
    return float(np.median(gray)) > 0.5


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary image, in pixels: 2 * area / perimeter.

    Exact for long straight axis-aligned strokes, smaller for diagonal ones; used the same way
    on drawn and on real images, so the comparison is fair.
    """
    m = np.asarray(mask, dtype=bool)
    area = int(m.sum())
    if area == 0:
        return 0.0
    per = int((m[1:] != m[:-1]).sum() + (m[:, 1:] != m[:, :-1]).sum())
    per += int(m[0].sum() + m[-1].sum() + m[:, 0].sum() + m[:, -1].sum())
    return 2.0 * area / max(per, 1)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _ink_box(ink: np.ndarray, trim: float = 0.002) -> tuple[int, int, int, int] | None:
    """Bounding box of the ink, ignoring stray specks: each side is pulled in past rows or
    columns that together hold less than `trim` of all the ink (dust on a photo, a stray
    click on the canvas), but never into the character itself."""
    mask = ink > _INK_THRESHOLD
    box = _bbox(mask)
    if box is None:
        return None
    w = np.where(mask, ink, 0.0)
    total = float(w.sum())
    out = []
    for axis in (1, 0):  # rows, then columns
        prof = w.sum(axis=axis)
        c = np.cumsum(prof)
        lo = int(np.searchsorted(c, trim * total, side="right"))
        hi = int(np.searchsorted(c, (1.0 - trim) * total, side="left")) + 1
        # Keep the exact extent unless the outer part is a separate, tiny speck: the stroke
        # tips of a real character are thin but connected (no empty gap before them).
        first, last = np.flatnonzero(prof)[[0, -1]]
        lo = first if not (prof[first:lo] == 0).any() else lo
        hi = last + 1 if not (prof[hi:last + 1] == 0).any() else hi
        lo = int(np.flatnonzero(prof[lo:])[0]) + lo if prof[lo:].any() else lo
        hi = int(np.flatnonzero(prof[:hi])[-1]) + 1 if prof[:hi].any() else hi
        out += [lo, hi]
    return out[0], out[1], out[2], out[3]


def _square_frame(ink: np.ndarray, box: tuple[int, int, int, int], side: int,
                  margin: int = 0) -> np.ndarray:
    """Crop `box`, scale its longer side to `side` pixels (aspect kept), centre it on a square
    canvas of `side + 2 * margin`. Uses area-averaging when shrinking, bicubic when growing."""
    y0, y1, x0, x1 = box
    crop = ink[y0:y1, x0:x1]
    h, w = crop.shape
    s = side / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    img = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32))
    shrinking = s < 1.0
    if shrinking:
        # Pre-shrink by an integer factor with a box filter (exact area average, fast for a
        # big canvas), then finish with an antialiased resize.
        factor = int(1.0 / s) // 2
        if factor >= 2:
            img = img.reduce(factor)
    img = img.resize((nw, nh), Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC)
    out = np.zeros((side + 2 * margin, side + 2 * margin), np.float32)
    # An odd leftover pixel goes before the ink, as in K49 (bbox centres average 13.57).
    oy = margin + (side - nh + 1) // 2
    ox = margin + (side - nw + 1) // 2
    out[oy:oy + nh, ox:ox + nw] = np.clip(np.asarray(img), 0.0, 1.0)
    return out


def _morph(work: np.ndarray, radius: int) -> np.ndarray:
    """Dilate (radius > 0) or erode (radius < 0) a [0,1] image by |radius| pixels per side."""
    if radius == 0:
        return work
    img = Image.fromarray(np.rint(work * 255).astype(np.uint8))
    # Repeated 3x3 passes: same square element as one big rank filter, but O(r) instead of
    # O(r^2) per pixel in PIL.
    flt = ImageFilter.MaxFilter(3) if radius > 0 else ImageFilter.MinFilter(3)
    for _ in range(abs(radius)):
        img = img.filter(flt)
    return np.asarray(img, dtype=np.float32) / 255.0


def preprocess(image: np.ndarray, *, invert: bool | None = None) -> np.ndarray:
    """Any image of one character -> uint8 (28, 28), white ink on black, framed like K49.

    Steps: grayscale in [0, 1]; invert dark-on-light images (`invert=None` detects it from the
    border); remove the paper level; crop the ink's bounding box; scale its longer side to the
    full 28 pixels and centre it (how K49 images are framed); bring the stroke width into the
    range of real K49 images; downsample with area averaging (K49's soft edges); stretch the
    darkest-to-brightest ink to 0..255. An image with no ink gives all zeros.
    """
    gray = to_gray01(image)
    if invert is None:
        invert = is_dark_on_light(gray)
    ink = 1.0 - gray if invert else gray
    bg = background_level(ink)
    hi = float(ink.max())
    if hi - bg < 0.05:  # blank page: nothing to frame
        return np.zeros((SIZE, SIZE), np.uint8)
    ink = np.clip((ink - bg) / (hi - bg), 0.0, 1.0)
    ink[ink < _INK_THRESHOLD] = 0.0
    box = _ink_box(ink)
    if box is None:
        return np.zeros((SIZE, SIZE), np.uint8)
    y0, y1, x0, x1 = box
    ink = np.ascontiguousarray(ink[y0:y1, x0:x1])  # specks outside the box are dropped too
    box = (0, y1 - y0, 0, x1 - x0)

    # Framing at 4x resolution with room around it for dilation.
    margin = 2 * _SCALE
    work = _square_frame(ink, box, _WORK, margin)
    lo, hi_w = K49_STROKE_WIDTH
    # The width is judged on the finished 28x28 image, exactly as `image_stats` measures real
    # K49 images; the estimator is not linear in the pen radius (crossings merge), so a few
    # corrective steps beat one computed jump.
    best: tuple[float, np.ndarray] | None = None
    radius, tried = 0, set()
    for _ in range(6):
        tried.add(radius)
        out = _render(work, radius)
        if out is None:  # a hairline faded out, or erosion removed whole strokes
            radius = radius + 1 if radius >= 0 else radius // 2 + (1 if radius % 2 else 0)
            if radius in tried:
                break
            continue
        width = _final_width(out)
        miss = max(lo - width, width - hi_w, 0.0)
        if best is None or miss < best[0]:
            best = (miss, out)
        if miss == 0.0:
            break
        target = lo if width < lo else hi_w
        step = int(round((target - width) * _SCALE / 2))  # radius r adds ~r px per side
        radius += step if step else (1 if width < lo else -1)
        if radius in tried:
            break
    if best is None:
        return _finish(_square_frame(ink, box, SIZE))
    return best[1]


def _render(work: np.ndarray, radius: int) -> np.ndarray | None:
    """Working image -> adjusted stroke width -> soft edges -> framed uint8 28x28.

    None when nothing is left above half intensity, or when erosion shrank the character's
    extent (whole strokes vanished): such a result would zoom in on a fragment.
    """
    adjusted = _morph(work, radius)
    box = _bbox(adjusted > 0.5)
    if box is None or max(box[1] - box[0], box[3] - box[2]) < 0.8 * _WORK:
        return None
    # Soften before the final 4:1 average: K49's edges are a little blurrier than a pure
    # box-downsample of a crisp stroke.
    blurred = Image.fromarray(np.rint(adjusted * 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(1.5))
    soft = np.asarray(blurred, dtype=np.float32) / 255.0
    return _finish(_square_frame(soft, box, SIZE))


def _final_width(img28: np.ndarray) -> float:
    up = np.asarray(Image.fromarray(img28).resize((_WORK, _WORK), Image.Resampling.BILINEAR))
    return stroke_width(up > 127) / _SCALE


def _finish(img: np.ndarray) -> np.ndarray:
    top = float(img.max())
    if top <= 0:
        return np.zeros((SIZE, SIZE), np.uint8)
    return np.clip(np.rint(img / top * 255.0), 0, 255).astype(np.uint8)


def too_little_ink(img28: np.ndarray) -> bool:
    """"Too little ink" for a FRAMED image (`preprocess` output, or a K49 image): see
    `k49desk.core.ink.too_little_ink_framed`, where the rules and their measurements live."""
    from k49desk.core.ink import too_little_ink_framed

    return too_little_ink_framed(img28)


def topk(loaded: LoadedModel, img28: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """The k most probable classes of one preprocessed image: [(class index, probability)]."""
    img = np.asarray(img28, dtype=np.uint8)
    if img.shape != (SIZE, SIZE):
        raise ValueError(f"topk expects a (28, 28) image, got {img.shape}; call preprocess first")
    proba = np.asarray(_predict_one_thread(loaded, img[None]))[0]
    k = max(0, min(int(k), proba.shape[0]))
    order = np.argsort(-proba, kind="stable")[:k]
    return [(int(i), float(proba[i])) for i in order]


def _predict_one_thread(loaded: LoadedModel, images: np.ndarray) -> np.ndarray:
    """predict_proba with one intra-op thread for the duration of the call.

    One 28x28 image is far too little work to split: with torch's default 2 threads on a
    busy 2-core machine, the threads wait for each other and a 1 ms forward pass took a
    median 36 ms (p90 310 ms); with one thread it stays ~1 ms. The count is per calling
    thread for OpenMP, and is put back afterwards so threads started later (training) get
    the usual default.
    """
    try:
        import torch
    except ImportError:  # a stand-in model without torch
        return loaded.predict_proba(images)
    prev = torch.get_num_threads()
    if prev == 1:
        return loaded.predict_proba(images)
    torch.set_num_threads(1)
    try:
        return loaded.predict_proba(images)
    finally:
        torch.set_num_threads(prev)


def image_stats(img28: np.ndarray) -> dict[str, float]:
    """Numbers that describe how a 28x28 image is framed: used to compare drawn and real ones.

    mean_ink: mean pixel / 255; frac_ink: fraction of pixels > 127; bbox_h/bbox_w and
    centre_y/centre_x: of the pixels > 127; stroke_width: `stroke_width` of an upsampled copy.
    """
    img = np.asarray(img28, dtype=np.uint8)
    m = img > 127
    out = {"mean_ink": float(img.mean() / 255.0), "frac_ink": float(m.mean())}
    box = _bbox(m)
    if box is None:
        out.update(bbox_h=0.0, bbox_w=0.0, centre_y=float("nan"), centre_x=float("nan"),
                   stroke_width=0.0)
        return out
    y0, y1, x0, x1 = box
    out.update(bbox_h=float(y1 - y0), bbox_w=float(x1 - x0), centre_y=(y0 + y1 - 1) / 2.0,
               centre_x=(x0 + x1 - 1) / 2.0, stroke_width=_final_width(img))
    return out
