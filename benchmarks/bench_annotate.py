"""Gallery annotation budget at full K49 scale (232,365 train images), offscreen.

    python benchmarks/bench_annotate.py [--data DIR] [--runs 7] [--n 10000]

Budget (issue 12): select 10,000 thumbnails and relabel them in at most 100 ms to the repaint.

Each run, as a person would do it: click the first image, Shift-click the 10,000th (a real
mouse event through the view: the selection is one numpy mask), until the grid has
repainted; then relabel the selection (the Gallery's relabel: one SQLite transaction through
the app's annotation hub, fsynced, one undo step), until the grid has repainted. Reported:
the median of the runs for each half and for the whole, wall clock (the relabel is disk
I/O: an fsync) and CPU time, and the ratio to the budget. Undo of the same relabel is
reported too. The folder (random pixels, the official class counts) is made once under /tmp
by bench_gallery's `ensure_folder`; its annotation store is deleted first so every run
starts from the same empty file. The machine may be shared: the load is printed with the
figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gallery import ensure_folder  # noqa: E402

DEFAULT_DIR = Path(tempfile.gettempdir()) / "k49desk-bench-annotate"
BUDGET_MS = 100.0


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--n", type=int, default=10_000, help="images selected and relabelled")
    args = ap.parse_args()
    folder = ensure_folder(args.data, "random")
    for f in folder.glob("k49desk-annotations-*"):
        f.unlink()

    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    from k49desk.core.dataset import open_dataset
    from k49desk.gui.app import make_app
    from k49desk.gui.common.state import AppState
    from k49desk.gui.gallery.panel import GalleryPanel

    app = make_app()
    state = AppState()
    state.set_dataset(open_dataset(folder))
    panel = GalleryPanel(state)
    panel.resize(1400, 900)
    panel.show()
    view, vp = panel.view, panel.view.viewport()
    deadline = time.perf_counter() + 60
    while not panel.model.marks.has("train") and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.005)
    assert panel.model.marks.has("train"), "the annotation store did not open"
    painted = [0]
    orig = panel.delegate.paint

    def counting(*a: object) -> None:
        painted[0] += 1
        orig(*a)

    panel.delegate.paint = counting  # type: ignore[method-assign]

    def until_painted() -> None:
        """Let Qt deliver the update it scheduled; paint now if it has not (offscreen)."""
        painted[0] = 0
        app.processEvents()
        if not painted[0]:
            vp.repaint()

    def at(row: int) -> QPoint:
        return view.visualRect(panel.model.index(row)).center()

    n, store = args.n, state.annotations.store("train")
    in_store = [0.0, 0.0]  # wall, CPU inside the store's write (SQLite + fsync)
    orig_relabel = store.relabel

    def timed_relabel(*a: object, **k: object) -> object:
        c, t = time.process_time(), time.perf_counter()
        try:
            return orig_relabel(*a, **k)
        finally:
            in_store[0] += time.perf_counter() - t
            in_store[1] += time.process_time() - c

    store.relabel = timed_relabel  # type: ignore[method-assign]
    store_ms, store_cpu = [], []
    select_ms, relabel_ms, total_ms, undo_ms, cpu_ms = [], [], [], [], []
    for k in range(args.runs):
        view.clear_selection()
        view.scrollToTop()
        app.processEvents()
        QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(0))
        view.scrollTo(panel.model.index(n - 1))  # the 10,000th image in view (not timed)
        app.processEvents()
        vp.repaint()
        c0, t0 = time.process_time(), time.perf_counter()
        QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                         at(n - 1))
        until_painted()
        t1 = time.perf_counter()
        assert view.selected_count() == n, view.selected_count()
        in_store[:] = [0.0, 0.0]
        assert panel.relabel_selection(k % 49)
        until_painted()
        t2, c2 = time.perf_counter(), time.process_time()
        assert (store.final_labels()[:n] == k % 49).all()
        select_ms.append((t1 - t0) * 1e3)
        relabel_ms.append((t2 - t1) * 1e3)
        total_ms.append((t2 - t0) * 1e3)
        cpu_ms.append((c2 - c0) * 1e3)
        store_ms.append(in_store[0] * 1e3)
        store_cpu.append(in_store[1] * 1e3)
        t3 = time.perf_counter()
        panel.undo_stack.undo()
        until_painted()
        undo_ms.append((time.perf_counter() - t3) * 1e3)
        panel.undo_stack.redo()
        app.processEvents()

    med = statistics.median
    print(f"folder {folder}: {len(panel.model.dataset.split('train')):,d} train images; "
          f"{args.runs} runs, {n:,d} images selected and relabelled; load {_load()}")
    print(f"  select (Shift-click) -> repaint : median {med(select_ms):7.1f} ms")
    print(f"  relabel -> repaint              : median {med(relabel_ms):7.1f} ms, of which the "
          f"store's write (SQLite, fsync) {med(store_ms):.1f} ms wall, {med(store_cpu):.1f} ms "
          "CPU")
    print(f"  total                           : median {med(total_ms):7.1f} ms "
          f"(min {min(total_ms):.1f}, max {max(total_ms):.1f}); CPU {med(cpu_ms):.1f} ms "
          f"(GUI {med(cpu_ms) - med(store_cpu):.1f}); "
          f"budget {BUDGET_MS:.0f} ms -> ratio {med(total_ms) / BUDGET_MS:.2f}")
    print(f"  undo of the relabel -> repaint  : median {med(undo_ms):7.1f} ms")
    panel.close()
    state.set_dataset(None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
