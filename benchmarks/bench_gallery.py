"""Gallery budgets at full K49 scale (232,365 train + 38,547 test images), offscreen.

    python benchmarks/bench_gallery.py [--data DIR] [--make random|demo] [--runs 5]

Budgets (issue 3):
  launch -> first thumbnail painted     < 1.5 s   (fresh `python -c` subprocess, cached folder)
  class filter change -> repainted      < 50 ms   (over the train split)
  paint one full viewport (1400x900)    < 16 ms   (default zoom)
  resident memory, train + test open    < 800 MB  (VmRSS)

The data folder has the official shapes and class counts. `--make demo` builds it with
k49desk.core.demo.generate_demo(full=True); `--make random` (default, much faster) writes
random uint8 images with the official counts. Painting cost does not depend on pixel values.
The folder is opened once before timing so its memory-mapped cache exists ("cached").
Each figure is the median of several runs; the machine may be shared, so read ratios as
upper bounds when other work is running.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

# Own folder: benchmarks/bench_reopen.py rebuilds /tmp/k49desk-bench-full while it runs.
DEFAULT_DIR = Path(tempfile.gettempdir()) / "k49desk-bench-gallery"
BUDGETS = {"launch_s": 1.5, "filter_ms": 50.0, "paint_ms": 16.0, "rss_mb": 800.0}


def ensure_folder(root: Path, make: str) -> Path:
    from k49desk.core.classes import OFFICIAL_TEST_COUNTS, OFFICIAL_TRAIN_COUNTS
    from k49desk.core.dataset import images_file, open_dataset, write_classmap, write_split

    if not all((root / images_file(s)).exists() for s in ("train", "test")):
        t0 = time.perf_counter()
        if make == "demo":
            from k49desk.core.demo import generate_demo

            generate_demo(root, full=True)
        else:
            root.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng(0)
            for split, counts in (("train", OFFICIAL_TRAIN_COUNTS),
                                  ("test", OFFICIAL_TEST_COUNTS)):
                labels = np.repeat(np.arange(49, dtype=np.uint8), counts)
                labels = labels[rng.permutation(len(labels))]
                images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
                write_split(root, split, images, labels, compressed=False)
            write_classmap(root)
        print(f"made {make} folder {root} in {time.perf_counter() - t0:.1f} s")
    ds = open_dataset(root)  # builds the .npy cache: later opens are memory maps
    n = {s: len(ds.splits[s]) for s in ds.split_names}
    assert n == {"train": 232365, "test": 38547}, f"{root}: not full scale: {n}"
    return root


CHILD = textwrap.dedent("""
    import os, sys, time
    t0 = time.perf_counter()
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    folder = sys.argv[1]
    from k49desk.gui.gallery import delegate as gallery_delegate
    painted = []
    _paint = gallery_delegate.ThumbDelegate.paint
    def paint(self, *a):
        painted.append(time.perf_counter())
        return _paint(self, *a)
    gallery_delegate.ThumbDelegate.paint = paint
    from k49desk.gui.app import make_app
    app = make_app()
    t_import = time.perf_counter()
    MainWindow = None
    if sys.argv[2] == "main":
        try:
            from k49desk.gui.main_window import MainWindow
        except ImportError:
            pass
    if MainWindow is not None:
        win = MainWindow()
        win.resize(1400, 900)
        win.show()
        win.start(data_dir=folder, load_model=False)
        what = "main window"
    else:
        from k49desk.core.dataset import open_dataset
        from k49desk.gui.gallery.panel import GalleryPanel
        from k49desk.gui.common.state import AppState
        st = AppState()
        win = GalleryPanel(st)
        win.resize(1400, 900)
        win.show()
        st.set_dataset(open_dataset(folder))
        what = "gallery panel"
    t_window = time.perf_counter()
    deadline = time.perf_counter() + 30
    while not painted and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)
    print(f"PAINTED {what} import={t_import - t0:.3f} window={t_window - t_import:.3f} "
          f"first_paint={painted[0] - t_window if painted else -1:.3f}", flush=True)
""")


def bench_launch(folder: Path, runs: int, target: str) -> tuple[float, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    times, detail = [], ""
    with tempfile.TemporaryDirectory() as home:
        env["K49DESK_SETTINGS"] = str(Path(home) / "settings.ini")
        for _ in range(runs):
            t0 = time.perf_counter()
            p = subprocess.Popen([sys.executable, "-c", CHILD, str(folder), target], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for line in p.stdout:  # type: ignore[union-attr]
                if line.startswith("PAINTED"):
                    times.append(time.perf_counter() - t0)
                    detail = line.strip()
                    break
            p.kill()
            p.wait()
    if not times:
        raise SystemExit("launch benchmark: the child never painted a thumbnail")
    return statistics.median(times), detail


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_in_process(folder: Path, runs: int) -> dict[str, float]:
    from k49desk.core.dataset import open_dataset
    from k49desk.gui.app import make_app
    from k49desk.gui.common.state import AppState
    from k49desk.gui.gallery.panel import GalleryPanel

    app = make_app()
    rss0 = _rss_mb()
    state = AppState()
    state.set_dataset(open_dataset(folder))
    panel = GalleryPanel(state)
    view = panel.view
    panel.resize(1400, 900)
    panel.show()
    for _ in range(5):
        app.processEvents()
    vp = view.viewport()

    painted = [0]
    orig = panel.delegate.paint

    def counting(*a: object) -> None:
        painted[0] += 1
        orig(*a)

    panel.delegate.paint = counting  # type: ignore[method-assign]

    # Paint one full viewport (train split, dataset order, default zoom).
    vp.repaint()
    paint_ms, per_paint = [], 0
    for _ in range(max(30, runs * 6)):
        painted[0] = 0
        t0 = time.perf_counter()
        vp.repaint()
        paint_ms.append((time.perf_counter() - t0) * 1e3)
        per_paint = painted[0]

    # Change the class filter over the train split, until the view has repainted.
    rng = np.random.default_rng(0)
    filters: list[list[int] | None] = []
    for _ in range(max(20, runs * 4)):
        filters.append([int(rng.integers(49))])
        filters.append(None)  # back to all 232,365
    filter_ms = []
    for f in filters:
        painted[0] = 0
        t0 = time.perf_counter()
        panel.set_class_filter(f)
        app.processEvents()  # delayed item layout runs here
        vp.repaint()
        filter_ms.append((time.perf_counter() - t0) * 1e3)
        assert painted[0] > 0, "the view did not repaint"

    # Memory with both splits shown, after scrolling and a random order.
    panel.set_split("both")
    panel.set_order("random", seed=1)
    for frac in np.linspace(0, 1, 9):
        view.verticalScrollBar().setValue(int(view.verticalScrollBar().maximum() * frac))
        vp.repaint()
    app.processEvents()
    return {"paint_ms": statistics.median(paint_ms),
            "paint_p90_ms": float(np.percentile(paint_ms, 90)),
            "thumbs_per_paint": per_paint, "filter_ms": statistics.median(filter_ms),
            "filter_p90_ms": float(np.percentile(filter_ms, 90)), "rss_mb": _rss_mb(),
            "rss_before_open_mb": rss0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--make", choices=("random", "demo"), default="random")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--launch", choices=("main", "panel", "both"), default="both",
                    help="launch the main window (if it exists), the gallery panel alone, or both")
    ap.add_argument("--skip-launch", action="store_true")
    a = ap.parse_args()
    folder = ensure_folder(a.data, a.make)
    print(f"data: {folder} (full scale); cpus: {os.cpu_count()}; load avg: "
          f"{os.getloadavg()[0]:.2f}")
    targets = {"main": ["main"], "panel": ["panel"], "both": ["main", "panel"]}[a.launch]
    for target in [] if a.skip_launch else targets:
        launch, detail = bench_launch(folder, a.runs, target)
        print(f"launch to first thumbnail   {launch:8.3f} s   budget {BUDGETS['launch_s']} s   "
              f"ratio {launch / BUDGETS['launch_s']:.2f}   (median of {a.runs}; last: {detail})")
    r = bench_in_process(folder, a.runs)
    print(f"class filter change          {r['filter_ms']:8.2f} ms  budget {BUDGETS['filter_ms']} ms"
          f"  ratio {r['filter_ms'] / BUDGETS['filter_ms']:.2f}   "
          f"(p90 {r['filter_p90_ms']:.2f} ms)")
    print(f"paint full viewport          {r['paint_ms']:8.2f} ms  budget {BUDGETS['paint_ms']} ms "
          f"ratio {r['paint_ms'] / BUDGETS['paint_ms']:.2f}   (p90 {r['paint_p90_ms']:.2f} ms, "
          f"{r['thumbs_per_paint']} thumbnails, 1400x900 panel)")
    print(f"resident memory              {r['rss_mb']:8.1f} MB  budget {BUDGETS['rss_mb']} MB "
          f"ratio {r['rss_mb'] / BUDGETS['rss_mb']:.2f}   (train + test shown; "
          f"{r['rss_before_open_mb']:.0f} MB before opening)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
