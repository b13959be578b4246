"""Import, add-to-samples and merge: how long they take (no budget in the issue; measured
so the GUI knows what to run as a background task).

    python benchmarks/bench_import.py [--full DIR] [--runs 3] [--photos 50]

1. `import_images` of N photo-like files (1200x900 JPEG, dark ink on light paper) with the
   default model: ms per image (CPU time of this process, one torch thread).
2. `append_samples` of one drawing to a samples folder of 0 / 1,000 / 20,000 images: the
   Ctrl+S latency (the whole npz is rewritten, so it grows with the folder).
3. `merge_folders` of DIR (a full-size K49 folder, e.g. from `k49desk demo-data --full`)
   with a small samples folder: wall and CPU seconds, peak resident memory.
Medians of --runs runs; `uptime` load is printed with the wall-clock figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from k49desk.core.classes import OFFICIAL_CLASSES  # noqa: E402
from k49desk.core.demo import render_char  # noqa: E402


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _photos(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        ink = render_char(OFFICIAL_CLASSES[i % 49].char, 700, i % 4)
        page = np.full((900, 1200), 235, np.uint8)
        y, x = rng.integers(0, 150), rng.integers(0, 450)
        page[y:y + 700, x:x + 700] -= (ink.astype(np.int32) * 200 // 255).astype(np.uint8)
        page = np.clip(page.astype(np.int16) + rng.integers(-8, 9, page.shape), 0, 255)
        Image.fromarray(page.astype(np.uint8)).save(folder / f"p{i:04d}.jpg", quality=90)


def bench_import(tmp: Path, n: int, runs: int) -> None:
    import torch

    from k49desk.core.importer import import_images
    from k49desk.core.model import load_checkpoint
    from k49desk.paths import DEFAULT_MODEL

    torch.set_num_threads(1)
    src = tmp / "photos"
    src.mkdir()
    _photos(src, n)
    model = load_checkpoint(DEFAULT_MODEL)
    cpu, wall = [], []
    for r in range(runs):
        out = tmp / f"imp{r}"
        t0, c0 = time.perf_counter(), time.process_time()
        res = import_images([src], out, model=model)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert res.n_imported == n
    print(f"import {n} photos 1200x900: {1000 * statistics.median(cpu) / n:.1f} ms CPU per "
          f"image, {1000 * statistics.median(wall) / n:.1f} ms wall (load {_load()})")


def bench_append(tmp: Path, runs: int) -> None:
    from k49desk.core.samples import append_samples

    img = np.zeros((28, 28), np.uint8)
    img[5:23, 12:16] = 255
    for size in (0, 1_000, 20_000):
        times = []
        for r in range(runs):
            folder = tmp / f"s{size}-{r}"
            if size:
                rng = np.random.default_rng(r)
                base = rng.integers(0, 256, (size, 28, 28), dtype=np.uint8)
                base[:, :4] = 0  # K49-like: mostly black
                append_samples(folder, base, rng.integers(0, 49, size))
            t0 = time.perf_counter()
            append_samples(folder, img, 7)
            times.append(time.perf_counter() - t0)
        print(f"add one sample to a folder of {size:,d}: {1000 * statistics.median(times):.1f} "
              f"ms wall (load {_load()})")


def bench_merge(tmp: Path, full: Path, runs: int) -> None:
    from k49desk.core.merge import merge_folders
    from k49desk.core.samples import append_samples

    samples = tmp / "mine"
    append_samples(samples, np.zeros((200, 28, 28), np.uint8), np.arange(200) % 49)
    wall, cpu = [], []
    for r in range(runs):
        out = tmp / f"merged{r}"
        t0, c0 = time.perf_counter(), time.process_time()
        res = merge_folders([full, samples], out)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        shutil.rmtree(out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"merge {full.name} ({res.totals}) + 200 samples: {statistics.median(wall):.1f} s "
          f"wall, {statistics.median(cpu):.1f} s CPU, peak RSS {peak:.0f} MB (load {_load()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", type=Path, default=None, help="a full-size K49 folder to merge")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--photos", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as d:
        tmp = Path(d)
        bench_import(tmp, args.photos, args.runs)
        bench_append(tmp, args.runs)
        if args.full is not None:
            bench_merge(tmp, args.full, args.runs)


if __name__ == "__main__":
    main()
