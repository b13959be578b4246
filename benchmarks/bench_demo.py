"""Demo-data budget and realism: `--full` timing, and framing statistics real vs generated.

    /work/venv/bin/python benchmarks/bench_demo.py [--runs 3] [--sheet /tmp/demo-sheet.png]

1. Time: generate_demo(full=True) into a temp folder (232,365 train + 38,547 test images,
   compressed .npz written atomically), from a fresh process state except that the glyph
   templates are built inside the timed call. Budget (issue 2): < 60 s on the 2-core
   machine. Prints each run, the median, its ratio to the budget, and the load average
   (on a shared machine read the ratio as pessimistic).
2. Realism: ink and framing statistics of real K49 images (../shared/data, when present) vs
   20,000 generated train images: mean pixel, fraction > 127 and > 0, ink-box height /
   width / larger side (pixels > 127), intensity centroid, near-blank share.
3. --sheet: a PNG contact sheet, real (left) vs generated (right), same classes per row.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from k49desk.core import demo
from k49desk.core.classes import OFFICIAL_TRAIN_COUNTS
from k49desk.core.dataset import read_npz_array

BUDGET_S = 60.0
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_SETS = {"real10 train": SHARED / "kuzushiji-real10" / "k49-train-imgs.npz",
             "first100 test": SHARED / "k49-test-first100" / "k49-test-imgs.npz"}


def framing(images: np.ndarray) -> dict[str, float]:
    x = images.astype(np.float64)
    ink = images > 127
    rows, cols = ink.any(2), ink.any(1)
    h = 28 - rows.argmax(1) - rows[:, ::-1].argmax(1)
    w = 28 - cols.argmax(1) - cols[:, ::-1].argmax(1)
    blank = ~ink.any((1, 2))
    h, w = np.where(blank, 0, h), np.where(blank, 0, w)
    yy, xx = np.mgrid[:28, :28]
    s = x.sum((1, 2)) + 1e-9
    return {"mean px": x.mean(), "frac >127": ink.mean(), "frac >0": (images > 0).mean(),
            "box h": h.mean(), "box w": w.mean(), "box max": np.maximum(h, w).mean(),
            "box max=28 %": 100 * (np.maximum(h, w) == 28).mean(),
            "centroid y": ((x * yy).sum((1, 2)) / s).mean(),
            "centroid x": ((x * xx).sum((1, 2)) / s).mean(),
            "blank %": 100 * (ink.mean((1, 2)) < 0.01).mean()}


def time_full(runs: int) -> tuple[list[float], Path]:
    times: list[float] = []
    keep = Path(tempfile.mkdtemp(prefix="k49-bench-demo-"))
    for r in range(runs):
        out = keep / f"run{r}"
        demo._templates.cache_clear()
        phases: dict[str, float] = {}
        t0, c0 = time.perf_counter(), time.process_time()

        def on_progress(f: float, msg: str, t0: float = t0, phases: dict = phases) -> None:
            key = msg.split(" (")[0]
            phases.setdefault(key, time.perf_counter() - t0)

        demo.generate_demo(out, full=True, seed=r, progress=on_progress)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        times.append(dt)
        marks = ", ".join(f"{k} @{v:.1f}s" for k, v in phases.items())
        print(f"  run {r + 1}: {dt:6.1f} s wall, {cpu:5.1f} s CPU (all threads; load avg "
              f"{os.getloadavg()[0]:.1f}) phases: {marks}", flush=True)
        if r < runs - 1:
            shutil.rmtree(out)
    return times, keep / f"run{runs - 1}"


def contact_sheet(path: Path, k: int = 16) -> None:
    from PIL import Image

    lab_path = SHARED / "kuzushiji-real10" / "k49-train-labels.npz"
    if not lab_path.exists():
        print("  (no real data: sheet skipped)")
        return
    real, labels = read_npz_array(REAL_SETS["real10 train"]), read_npz_array(lab_path)
    classes = [c for c in range(49) if (labels == c).sum() >= k]
    gen = demo.make_samples(np.repeat(np.array(classes, np.uint8), k), np.random.default_rng(1))
    rows = []
    for i, c in enumerate(classes):
        r = np.concatenate(list(real[labels == c][:k]), 1)
        g = np.concatenate(list(gen[i * k:(i + 1) * k]), 1)
        rows.append(np.concatenate([r, np.full((28, 6), 128, np.uint8), g], 1))
    sheet = np.concatenate(rows, 0)
    Image.fromarray(sheet).resize((sheet.shape[1] * 2, sheet.shape[0] * 2),
                                  Image.Resampling.NEAREST).save(path)
    print(f"  contact sheet: {path} (rows: classes {classes}; left real, right generated)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sheet", type=Path, default=None)
    ap.add_argument("--no-full", action="store_true",
                    help="skip the --full timing (statistics on 20,000 images drawn with the "
                         "official class proportions)")
    args = ap.parse_args()
    import torch

    print(f"demo-data --full: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    gen_imgs = None
    tmp = None
    if not args.no_full:
        times, last = time_full(args.runs)
        tmp = last.parent
        med = statistics.median(times)
        print(f"  median of {len(times)}: {med:.1f} s   budget {BUDGET_S:.0f} s   "
              f"ratio {med / BUDGET_S:.2f}")
        imgs = read_npz_array(last / "k49-train-imgs.npz")
        gen_imgs = imgs[np.random.default_rng(0).choice(len(imgs), 20_000, replace=False)]
    else:
        w = np.array(OFFICIAL_TRAIN_COUNTS, np.float64)
        labels = np.random.default_rng(0).choice(49, 20_000, p=w / w.sum()).astype(np.uint8)
        gen_imgs = np.concatenate([demo.make_samples(labels[i:i + 2048], np.random.default_rng(i))
                                   for i in range(0, len(labels), 2048)])
    print("\nframing statistics (box = ink pixels > 127):")
    cols: dict[str, dict[str, float]] = {}
    for name, p in REAL_SETS.items():
        if p.exists():
            cols[name] = framing(read_npz_array(p))
    cols["generated"] = framing(gen_imgs)
    print(f"  {'':16s}" + "".join(f"{c:>16s}" for c in cols))
    for key in cols["generated"]:
        print(f"  {key:16s}" + "".join(f"{cols[c][key]:16.3f}" for c in cols))
    if args.sheet:
        contact_sheet(args.sheet)
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
