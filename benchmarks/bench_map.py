"""The map (issue 13): full-scale time, quality on real data, lasso selection time.

    python benchmarks/bench_map.py full --data-dir /tmp/k49full [--method tsne|umap]
        map of the full train split (232,365 images) from nothing: model outputs (no cache)
        + projection; wall and CPU time (budget 5 minutes on 2 cores) and the 10-NN label
        agreement in 2D.
    python benchmarks/bench_map.py quality --model REAL.pt [--method tsne|umap]
        kuzushiji-real10 (train + test) embedded by a model trained on other real images
        (see bench_similar.py): share of each point's 10 nearest map points with its label
        (bar: 0.90), and the PCA view's for comparison.
    python benchmarks/bench_map.py lasso [--runs 20]
        `points_in_polygon` over 270,912 points with a 300-vertex lasso holding ~10,000
        points (budget 100 ms for lasso to Gallery; this is the core's share).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from k49desk.core.dataset import K49Dataset, open_dataset
from k49desk.core.model import load_checkpoint
from k49desk.core.outputs import compute_outputs
from k49desk.core.projection import (
    DEFAULT_METHOD,
    TSNE_SAMPLE,
    compute_map,
    map_label_agreement,
    pca_map,
)
from k49desk.core.selection import points_in_polygon
from k49desk.paths import DEFAULT_MODEL

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MAP_BUDGET_S = 300.0
LASSO_BUDGET_MS = 100.0
BAR = 0.90


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _progress(t0: float):  # noqa: ANN202
    last = [""]

    def progress(f: float | None, text: str, payload: object = None) -> None:
        phase = text.split(":")[0]
        if phase != last[0]:
            last[0] = phase
            print(f"  [{time.perf_counter() - t0:5.0f} s] {text}", flush=True)

    return progress


def bench_full(args: argparse.Namespace) -> None:
    lm = load_checkpoint(args.model or DEFAULT_MODEL)
    full = open_dataset(args.data_dir)
    ds = K49Dataset(full.root, full.classes, {"train": full.split("train")})
    print(f"load at start {load()}")
    t0, c0 = time.perf_counter(), time.process_time()
    out = compute_outputs(lm, ds, use_cache=False, progress=_progress(t0))
    t1, c1 = time.perf_counter(), time.process_time()
    m = compute_map(out, None, ["train"], args.method, use_cache=False, threads=args.threads,
                    progress=_progress(t0), sample=args.sample)
    t2, c2 = time.perf_counter(), time.process_time()
    wall = t2 - t0
    print(f"embeddings: wall {t1 - t0:.1f} s, CPU {c1 - c0:.1f} s; {args.method}: wall "
          f"{t2 - t1:.1f} s, CPU {c2 - c1:.1f} s (threads {args.threads or os.cpu_count()})")
    print(f"map of {len(m):,d} train images: wall {wall:.1f} s, CPU {c2 - c0:.1f} s; budget "
          f"{MAP_BUDGET_S:.0f} s -> ratio {wall / MAP_BUDGET_S:.2f} (load at end {load()})")
    print(f"10-NN label agreement in 2D: {map_label_agreement(m.xy, m.labels):.4f} "
          f"(PCA view: {map_label_agreement(pca_map(out).xy, m.labels):.4f})")


def bench_quality(args: argparse.Namespace) -> None:
    lm = load_checkpoint(args.model)
    ds = open_dataset(SHARED / "kuzushiji-real10")
    out = compute_outputs(lm, ds)
    t, c = time.perf_counter(), time.process_time()
    m = compute_map(out, None, method=args.method, use_cache=False, threads=1,
                    sample=args.sample)
    agree = map_label_agreement(m.xy, m.labels)
    how = (f" (t-SNE on {args.sample:,d}, the rest placed)" if args.sample < len(m) else "")
    print(f"real10 ({len(m):,d} images{how}, model {Path(args.model).name}): {args.method} map "
          f"10-NN label agreement {agree:.4f} (bar {BAR}: {'met' if agree >= BAR else 'NOT met'}"
          f"), {time.perf_counter() - t:.1f} s wall, {time.process_time() - c:.1f} s CPU; "
          f"PCA view {map_label_agreement(pca_map(out).xy, m.labels):.4f}")


def bench_lasso(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    xy = (rng.normal(size=(270_912, 2)) * 10).astype(np.float32)
    t = np.linspace(0, 2 * np.pi, 300, endpoint=False)
    r = 2.9 * (1 + 0.15 * np.sin(5 * t))  # a wobbly, concave lasso
    poly = np.stack([2 + r * np.cos(t), -1 + r * np.sin(t)], 1)
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        sel = points_in_polygon(xy, poly)
        times.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(times)
    print(f"lasso of {sel.size:,d} of {len(xy):,d} points (300 vertices): median {med:.1f} ms, "
          f"budget {LASSO_BUDGET_MS:.0f} ms -> ratio {med / LASSO_BUDGET_MS:.2f} "
          f"(load {load()})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("full", "quality", "lasso"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--method", default=DEFAULT_METHOD, choices=("tsne", "umap"))
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--sample", type=int, default=TSNE_SAMPLE,
                   help="t-SNE lays out this many points and places the rest (quality: try "
                        "1000 on real10 to see what placing costs)")
    args = p.parse_args()
    {"full": bench_full, "quality": bench_quality, "lasso": bench_lasso}[args.what](args)


if __name__ == "__main__":
    main()
