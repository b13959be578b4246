"""Budgets of the annotation store (k49desk.core.annotations) at full scale: 232,365 images
(the K49 train split), every one annotated.

- one decision acknowledged (committed and fsynced) in a few ms: budget 5 ms
- a relabel of 10,000 selected images committed (one transaction, one undo step): budget 100 ms
- loading the per-image arrays of 232,365 annotated images: budget 1 s

Also timed, without a budget: undo of the 10,000-image relabel, opening the file (PRAGMA
quick_check included), loading another process's 10,000-image change (refresh_if_changed),
a tag mask, the export table of all annotations. Wall-clock times (the commits wait for the
disk); the CPU time of the process is printed beside them. The store is written to a
temporary folder (--dir: another folder, it should be on a real disk: fsync on tmpfs is free).

    python benchmarks/bench_store.py [--images 232365] [--runs 7] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

BUDGET_DECISION_MS = 5.0
BUDGET_RELABEL_MS = 100.0
BUDGET_LOAD_MS = 1000.0


def timed(fn: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """(wall ms, process CPU ms) of `runs` calls."""
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return wall, cpu


def report(name: str, wall: list[float], cpu: list[float], budget: float | None = None) -> None:
    med = statistics.median(wall)
    p90 = float(np.percentile(wall, 90))
    line = (f"{name}: median {med:.2f} ms (p90 {p90:.2f}, min {min(wall):.2f}, {len(wall)} runs;"
            f" CPU {statistics.median(cpu):.2f} ms)")
    if budget is not None:
        line += f"  budget {budget:.0f} ms, ratio {med / budget:.3f}"
    print(line, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=232_365)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()

    from k49desk.core.annotations import AnnotationStore
    from k49desk.core.review import ReviewSession

    n, runs = args.images, args.runs
    print(f"bench_store: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"{n:,} images", flush=True)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 49, n).astype(np.uint8)
    tmp = Path(tempfile.mkdtemp(prefix="k49-bench-store-", dir=args.dir))
    try:
        store = AnnotationStore.open(tmp, "train", labels=labels)
        t = time.perf_counter()
        store.prelabel(np.arange(n), rng.random(n))  # every image annotated: an import
        store.add_tag(rng.choice(n, n // 10, replace=False), "check")
        print(f"setup: {n:,} pre-labels and {n // 10:,} tags written in "
              f"{time.perf_counter() - t:.2f} s", flush=True)

        # One decision, as the Review key press makes it (with the position in the same
        # transaction), and straight on the store.
        flags = rng.choice(n, 3000, replace=False)
        fl = pd.DataFrame({"index": flags, "issue": "label", "given_label": labels[flags],
                           "suggested_label": (labels[flags].astype(int) + 1) % 49})
        s = ReviewSession.open(tmp, "train", fl, labels=labels, store=store)
        pos = iter(range(10_000))
        report("one review decision (ReviewSession.decide, fsynced)",
               *timed(lambda: s.decide(next(pos) % 3000, "keep"), runs * 10),
               BUDGET_DECISION_MS)
        img = iter(rng.permutation(n).tolist())
        report("one decision on the store (set_decisions, fsynced)",
               *timed(lambda: store.set_decisions([next(img)], "unusable"), runs * 10),
               BUDGET_DECISION_MS)

        sels = [rng.choice(n, 10_000, replace=False) for _ in range(runs)]
        it = iter(sels)
        report("relabel of 10,000 selected images (one step)",
               *timed(lambda: store.relabel(next(it), 7), runs), BUDGET_RELABEL_MS)
        report("undo of a 10,000-image relabel", *timed(store.undo, runs))

        other = AnnotationStore.open(tmp, "train", labels=labels)
        walls, cpus = [], []
        for sel in sels:
            other.relabel(sel, 11)
            w, c = timed(store.refresh_if_changed, 1)
            walls += w
            cpus += c
        report("refresh_if_changed after another process relabelled 10,000", walls, cpus)
        other.close()

        report("arrays of all annotated images (load from the file)",
               *timed(lambda: store._load(n), runs), BUDGET_LOAD_MS)
        store._tag_masks.clear()
        report("tag_mask of a tag on 10% of the images (uncached)",
               *timed(lambda: (store._tag_masks.clear(), store.tag_mask("check")), runs))
        report("annotations_frame (the export table, all images)",
               *timed(store.annotations_frame, max(runs // 2, 1)))
        path = store.path
        store.close()
        size = sum(p.stat().st_size for p in tmp.iterdir() if p.is_file()) / 2**20
        report(f"open the store ({size:.0f} MB, quick_check + arrays)",
               *timed(lambda: AnnotationStore.open_path(path, "train").close(), runs))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
