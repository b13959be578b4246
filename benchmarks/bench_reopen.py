"""Dataset reopen budget: reopening a full-size K49 folder (270,912 images) takes < 0.5 s.

The default reopen reads the verified cache into memory (see k49desk.core.datacache);
--mmap measures the mapped variant.

Builds a full-size folder in /tmp (generated demo data with the official class counts when
`k49desk.core.demo` is there, else random uint8 arrays of the official shapes), opens it once
(which decompresses into the .npy cache), then times `open_dataset` again: median of 5, and
the ratio to the 0.5 s budget.

    python benchmarks/bench_reopen.py [--dir /tmp/k49-full] [--random] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from k49desk.core.classes import OFFICIAL_TEST_COUNTS, OFFICIAL_TRAIN_COUNTS
from k49desk.core.dataset import images_file, open_dataset, write_classmap, write_split

BUDGET_S = 0.5
FULL = 270_912


def build_random(root: Path) -> None:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for split, counts in (("train", OFFICIAL_TRAIN_COUNTS), ("test", OFFICIAL_TEST_COUNTS)):
        labels = np.repeat(np.arange(49, dtype=np.uint8), counts)
        labels = labels[rng.permutation(len(labels))]
        images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
        write_split(root, split, images, labels, compressed=False)
    write_classmap(root)


def build(root: Path, random: bool) -> str:
    if (root / images_file("train")).exists():
        return "existing folder"
    if not random:
        try:
            from k49desk.core.demo import generate_demo
        except ImportError:
            random = True
        else:
            generate_demo(root, full=True, seed=0)
            return "generated demo data, official counts"
    build_random(root)
    return "random uint8 arrays of the official shapes"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", default="/tmp/k49desk-bench-full",
                   help="folder to build or reuse (default /tmp/k49desk-bench-full)")
    p.add_argument("--random", action="store_true", help="random arrays instead of demo data")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--mmap", action="store_true",
                   help="map the cache (open_dataset(mmap=True)) instead of reading it")
    args = p.parse_args()
    root = Path(args.dir)
    t = time.perf_counter()
    how = build(root, args.random)
    print(f"{root}: {how} (ready in {time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    ds = open_dataset(root)
    n = len(ds)
    print(f"first open (decompress into the cache if needed): {time.perf_counter() - t:.2f} s, "
          f"{n:,d} images")
    if n != FULL:
        print(f"warning: {n:,d} images, not the full {FULL:,d}")
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        ds = open_dataset(root, mmap=args.mmap)
        # touch both ends of the arrays so a lazy (mapped) open cannot cheat
        _ = int(ds.split("train").images[-1].sum()) + int(ds.split("test").labels[0])
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    how = "mapped" if args.mmap else "read and CRC-checked"
    print(f"reopen ({how}): median {med * 1000:.1f} ms of {args.repeats} "
          f"({', '.join(f'{x * 1000:.1f}' for x in times)} ms); budget {BUDGET_S * 1000:.0f} ms; "
          f"ratio {med / BUDGET_S:.3f} ({'meets' if med < BUDGET_S else 'MISSES'} the budget)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
