"""Model outputs over whole splits (issue 12): the pass, the cache, Gallery-style queries.

    python benchmarks/bench_outputs.py pass --data-dir /tmp/k49full [--runs 3] [--threads 1]
        `compute_outputs` over all 270,912 images, no cache: median wall and CPU time
        (budget 60 s on 2 cores), then the cached reopen time.
    python benchmarks/bench_outputs.py query --data-dir /tmp/k49full [--runs 20]
        filters and sorts over the 232,365 train images with numpy on the outputs' arrays
        (budget 50 ms each): wrong predictions sorted by loss, low-margin images, predicted
        class c, confident and wrong, sort by confidence.

Make the data with `k49desk demo-data --full --data-dir /tmp/k49full` (outside the repo).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from k49desk.core.dataset import open_dataset
from k49desk.core.model import load_checkpoint
from k49desk.core.outputs import compute_outputs
from k49desk.paths import DEFAULT_MODEL

PASS_BUDGET_S = 60.0
QUERY_BUDGET_MS = 50.0


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def bench_pass(args: argparse.Namespace) -> None:
    lm = load_checkpoint(args.model or DEFAULT_MODEL)
    ds = open_dataset(args.data_dir)
    walls, cpus = [], []
    for _ in range(args.runs):
        t, c = time.perf_counter(), time.process_time()
        res = compute_outputs(lm, ds, use_cache=False, threads=args.threads)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        print(f"  run: wall {walls[-1]:.1f} s, CPU {cpus[-1]:.1f} s (load {load()})", flush=True)
    n = len(ds)
    w, c = statistics.median(walls), statistics.median(cpus)
    print(f"{n:,d} images, threads={args.threads}: median wall {w:.1f} s ({n / w:,.0f} img/s), "
          f"CPU {c:.1f} s; budget {PASS_BUDGET_S:.0f} s -> ratio {w / PASS_BUDGET_S:.2f} "
          f"(CPU ratio {c / PASS_BUDGET_S:.2f})")
    d = res.embedder.dim
    print(f"memory: embeddings {n:,d} x {d} float32 = {n * d * 4 / 1e6:.0f} MB "
          f"(raw {res.embedder.components.shape[1]}-dim features would be "
          f"{n * res.embedder.components.shape[1] * 4 / 1e6:.0f} MB)")
    compute_outputs(lm, ds)  # fill the cache
    t = time.perf_counter()
    again = compute_outputs(lm, ds)
    print(f"cached reopen: {time.perf_counter() - t:.2f} s (cached={again.cached})")


def bench_query(args: argparse.Namespace) -> None:
    lm = load_checkpoint(args.model or DEFAULT_MODEL)
    ds = open_dataset(args.data_dir)
    so = compute_outputs(lm, ds).split("train")
    queries = {
        "wrong, sorted by loss": lambda: (lambda m: m[np.argsort(-so.loss[m], kind="stable")])(
            np.flatnonzero(so.predicted != so.labels)),
        "margin < 0.1, sorted by margin": lambda: (lambda m: m[np.argsort(so.margin[m])])(
            np.flatnonzero(so.margin < 0.1)),
        "predicted class 5": lambda: np.flatnonzero(so.predicted == 5),
        "confident (> 0.9) and wrong": lambda: np.flatnonzero(
            (so.confidence > 0.9) & (so.predicted != so.labels)),
        "all, sorted by confidence": lambda: np.argsort(so.confidence, kind="stable"),
        "all, sorted by loss": lambda: np.argsort(-so.loss, kind="stable"),
        "kept order: wrong by loss": lambda: (lambda o: o[(so.predicted != so.labels)[o]])(
            so.sort_order("loss", descending=True)),
        "kept order: all by confidence": lambda: so.sort_order("confidence"),
    }
    so.sort_order("loss", descending=True)  # what the Gallery does once, in the background
    so.sort_order("confidence")
    print(f"{len(so):,d} train images (load {load()})")
    for name, q in queries.items():
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            out = q()
            times.append((time.perf_counter() - t) * 1000)
        med = statistics.median(times)
        print(f"  {name:<32} {len(out):>8,d} rows  median {med:6.1f} ms -> ratio "
              f"{med / QUERY_BUDGET_MS:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("pass", "query"))
    p.add_argument("--data-dir", required=True)
    p.add_argument("--model", default=None)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    (bench_pass if args.what == "pass" else bench_query)(args)


if __name__ == "__main__":
    main()
