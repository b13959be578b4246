"""Do drawn-and-preprocessed characters look like real K49 images? Print the numbers side by side.

    /work/venv/bin/python benchmarks/bench_preprocess_stats.py [--fonts N] [--quick]

Real images: ../shared/data/kuzushiji-real10 (train + test, 5,000) and k49-test-first100.
"Drawn" characters, all 49 classes, at canvas scale (280 px) then `preprocess`:
  font:     each bundled font's glyph (`k49desk.core.demo.render_char`) at 60-85% of the
            canvas, at a random offset: a character filled like a brush wrote it;
  pen N:    the same glyph thinned to its skeleton and re-drawn with a round pen N px wide
            (the canvas's pen widths), which is what a mouse or stylus produces.
"real10 pre": every 5th real10 image through `preprocess` (it should change little).
Per set: mean and standard deviation of mean ink (mean pixel / 255), fraction of pixels > 127,
bbox height/width and bbox centre (of pixels > 127) and stroke width (2 * area / perimeter,
see `k49desk.core.inference.stroke_width`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.dataset import read_npz_array
from k49desk.core.inference import image_stats, preprocess
from k49desk.gui.draw.glyphs import thin  # numpy only, no Qt

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
KEYS = ("mean_ink", "frac_ink", "bbox_h", "bbox_w", "centre_y", "centre_x", "stroke_width")
CANVAS = 280
GLYPH = 220  # glyphs are rendered at this size, thinned, then scaled onto the canvas


def pen_redraw(skel: np.ndarray, pen: float) -> np.ndarray:
    """A skeleton drawn again with a round pen `pen` px wide, anti-aliased (2x supersampled)."""
    big = np.kron(skel, np.ones((2, 2), bool)).astype(np.float32)
    r = max(pen, 1.0)  # radius in 2x pixels = pen / 2 * 2
    ri = int(np.ceil(r))
    yy, xx = np.mgrid[-ri:ri + 1, -ri:ri + 1]
    disc = (yy ** 2 + xx ** 2 <= r * r).astype(np.float32)
    shape = (big.shape[0] + disc.shape[0], big.shape[1] + disc.shape[1])
    conv = np.fft.irfft2(np.fft.rfft2(big, shape) * np.fft.rfft2(disc, shape), shape)
    conv = conv[ri:ri + big.shape[0], ri:ri + big.shape[1]] > 0.5
    out = conv.reshape(skel.shape[0], 2, skel.shape[1], 2).mean((1, 3))
    return (out * 255).astype(np.uint8)


def place(glyph: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """The glyph scaled to `side` px somewhere on a 280 px canvas (people don't centre)."""
    g = np.asarray(Image.fromarray(glyph).resize((side, side), Image.Resampling.BOX))
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    y, x = rng.integers(0, CANVAS - side + 1, size=2)
    canvas[y:y + side, x:x + side] = g
    return canvas


def stats_of(images: list[np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
    rows = [image_stats(im) for im in images]
    return {k: np.array([r[k] for r in rows if r["bbox_h"] > 0]) for k in KEYS}


def table(sets: dict[str, dict[str, np.ndarray]]) -> None:
    names = list(sets)
    print(f"{'':>14}" + "".join(f"{n:>17}" for n in names))
    print(f"{'n':>14}" + "".join(f"{len(sets[n]['mean_ink']):>17d}" for n in names))
    for k in KEYS:
        cells = []
        for n in names:
            v = sets[n][k]
            cells.append(f"{v.mean():7.3f} ± {v.std():6.3f}")
        print(f"{k:>14}" + "".join(f"{c:>17}" for c in cells))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fonts", type=int, default=8, help="how many bundled fonts (default all 8)")
    ap.add_argument("--pens", type=int, nargs="*", default=[6, 14, 30])
    ap.add_argument("--quick", action="store_true", help="1,000 real images, 3 fonts")
    args = ap.parse_args()
    if args.quick:
        args.fonts = min(args.fonts, 3)
    from k49desk.core.demo import font_files, render_char

    sets: dict[str, dict[str, np.ndarray]] = {}
    for name, files in (("real10", ["k49-train-imgs.npz", "k49-test-imgs.npz"]),
                        ("first100", ["k49-test-imgs.npz"])):
        folder = SHARED / ("kuzushiji-real10" if name == "real10" else "k49-test-first100")
        if not folder.is_dir():
            print(f"{folder}: absent, skipped", file=sys.stderr)
            continue
        imgs = np.concatenate([read_npz_array(folder / f) for f in files])
        if args.quick:
            imgs = imgs[:: max(1, len(imgs) // 1000)]
        sets[name] = stats_of(imgs)
        if name == "real10":  # real images through preprocess: it should leave them alone
            sets["real10 pre"] = stats_of([preprocess(im) for im in imgs[::5]])
    n_fonts = min(args.fonts, len(font_files()))
    rng = np.random.default_rng(0)
    glyphs = [(c.index, f, render_char(c.char, GLYPH, f)) for f in range(n_fonts)
              for c in OFFICIAL_CLASSES]
    t0 = time.perf_counter()
    times: list[float] = []
    drawn: dict[str, list[np.ndarray]] = {"font": []}
    skeletons = [thin(g > 127) for _, _, g in glyphs]
    for _, _, g in glyphs:
        canvas = place(g, int(CANVAS * rng.uniform(0.6, 0.85)), rng)
        t = time.perf_counter()
        drawn["font"].append(preprocess(canvas))
        times.append(time.perf_counter() - t)
    for pen in args.pens:
        key = f"pen {pen}"
        drawn[key] = []
        for skel in skeletons:
            side = int(CANVAS * rng.uniform(0.6, 0.85))
            # The pen is `pen` px on the 280 px canvas, so thinner relative to a big glyph.
            canvas = place(pen_redraw(skel, pen * GLYPH / side), side, rng)
            # Slight blur: QPainter's anti-aliasing on the real canvas.
            canvas = np.asarray(Image.fromarray(canvas).filter(ImageFilter.GaussianBlur(0.7)))
            t = time.perf_counter()
            drawn[key].append(preprocess(canvas))
            times.append(time.perf_counter() - t)
    for key, imgs in drawn.items():
        sets[key] = stats_of(imgs)
    print(f"{len(glyphs)} glyphs (49 classes x {n_fonts} fonts), drawn sets built in "
          f"{time.perf_counter() - t0:.1f} s; preprocess of a 280 px canvas: median "
          f"{np.median(times) * 1000:.2f} ms, p95 {np.percentile(times, 95) * 1000:.2f} ms "
          f"over {len(times)} calls")
    print("mean ± standard deviation per image set:")
    table(sets)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
