"""The Map panel's GUI budgets (issue 13), measured in the real widgets (offscreen Qt).

    python benchmarks/bench_map_gui.py --data-dir DIR [--size 1920x1080] [--runs 60]
                                       [--compare] [--during-projection S] [--map pca|tsne]

DIR: a full-size K49 folder (`k49desk demo-data --full --data-dir DIR`); the map shows train
+ test, 270,912 points. Model outputs (the default model) are cached in DIR after the first
run. `--map pca` (default) lays the points out by the embedding's PCA: denser than the t-SNE
map, so zoomed-in frames hold more points (the harder case); `--map tsne` uses the t-SNE map
(computed and cached on first use: minutes).

  pan:   a frame = one pan step (12 px, as a drag moves) + a synchronous repaint of the map;
         median over `--runs` frames, at "view all" and zoomed in 4x (budget 16 ms). The raster
         is redrawn when a pan runs past its margin: p90/max and the redraw count show it.
  zoom:  a frame = one zoom step (each redraws the raster): the worst case of a frame.
  lasso: a 300-vertex lasso holding ~10,000 points -> selection published and the map's
         highlight painted; then "Show in Gallery" (Enter) -> the Gallery painted with the
         images, all selected (budget 100 ms for the two together).
  --compare: the pan frame of a plain pyqtgraph ScatterPlotItem of the same points (one
         brush per point from a table per class; one brush for all): why the raster.
  --during-projection S: pan frames while the t-SNE runs in the background for S seconds.
Load average is printed with every wall-clock figure (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("K49DESK_SETTINGS", "/tmp/k49desk-bench-map-gui.ini")

import numpy as np  # noqa: E402

FRAME_BUDGET_MS = 16.0
LASSO_BUDGET_MS = 100.0


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def stats(ms: list[float]) -> str:
    a = np.asarray(ms)
    return (f"median {np.median(a):.1f} ms (p90 {np.percentile(a, 90):.1f}, max {a.max():.1f}; "
            f"ratio {np.median(a) / FRAME_BUDGET_MS:.2f} of {FRAME_BUDGET_MS:.0f} ms)")


def setup(args: argparse.Namespace):  # noqa: ANN201
    from PySide6.QtWidgets import QApplication

    from k49desk.core.dataset import open_dataset
    from k49desk.core.model import load_checkpoint
    from k49desk.core.outputs import compute_outputs
    from k49desk.core.projection import compute_map, pca_map
    from k49desk.gui.main_window import MainWindow
    from k49desk.paths import DEFAULT_MODEL

    app = QApplication.instance() or QApplication([])
    ds = open_dataset(args.data_dir)
    lm = load_checkpoint(DEFAULT_MODEL)
    t0 = time.perf_counter()
    out = compute_outputs(lm, ds)  # cached in the data folder after the first run
    print(f"model outputs for {len(ds):,d} images: {time.perf_counter() - t0:.1f} s "
          f"({'cache' if out.cached else 'computed'})")
    names = tuple(ds.split_names)
    m = (pca_map(out, names) if args.map == "pca"
         else compute_map(out, ds, names, progress=lambda f, t, p=None: None))
    w = MainWindow()
    w.resize(*args.size)
    w.show()
    w.state.set_dataset(ds)
    w.state.set_model(lm, DEFAULT_MODEL, remember=False)
    hub = w.state.outputs
    hub.outputs = out  # what ensure() would load from the cache
    p = w.panel("map")
    p.maps[(out.key, names, p.method)] = m  # a finished map: no projection starts
    p.set_split("both")
    w.show_panel("map")
    for _ in range(20):
        app.processEvents()
    assert p.result is m and len(m) == len(ds), "the map did not show"
    print(f"map: {args.map}, {len(m):,d} points, window {args.size[0]}x{args.size[1]}, "
          f"view {p.view.width()}x{p.view.height()} px")
    return app, w, p, out, m


def pan_frames(app, view, n: int, step_px: float = 12.0) -> tuple[list[float], list[float], int]:  # noqa: ANN001
    vb, vp = view.vb, view.viewport()
    renders0 = view.cloud.renders
    wall, cpu = [], []
    for i in range(n):
        app.processEvents()
        direction = 1 if (i // 80) % 2 == 0 else -1  # long runs each way: past the margin
        t0, c0 = time.perf_counter(), time.process_time()
        vb.translateBy(x=direction * step_px * vb.viewPixelSize()[0],
                       y=0.3 * step_px * vb.viewPixelSize()[1])
        vp.repaint()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu, view.cloud.renders - renders0


def zoom_frames(app, view, n: int) -> list[float]:  # noqa: ANN001
    vb, vp = view.vb, view.viewport()
    wall = []
    for i in range(n):
        app.processEvents()
        s = 0.9 if (i // 5) % 2 == 0 else 1 / 0.9
        t0 = time.perf_counter()
        vb.scaleBy((s, s))
        vp.repaint()
        wall.append((time.perf_counter() - t0) * 1000)
    return wall


def bench_frames(args: argparse.Namespace, app, p) -> None:  # noqa: ANN001
    view = p.view
    view.fit()
    app.processEvents()
    view.viewport().repaint()
    for label, zoom in (("view all", 1.0), ("zoomed in 4x", 0.25)):
        view.fit()
        view.vb.scaleBy((zoom, zoom))
        app.processEvents()
        view.viewport().repaint()
        wall, cpu, redraws = pan_frames(app, view, args.runs)
        print(f"pan, {label}: {stats(wall)}; CPU median {statistics.median(cpu):.1f} ms; "
              f"{redraws} raster redraws in {args.runs} frames (last: "
              f"{view.cloud.last_render_s * 1000:.1f} ms, {view.cloud.last_in_view:,d} points "
              f"in view) (load {load()})")
    view.fit()
    z = zoom_frames(app, view, max(10, args.runs // 3))
    print(f"zoom steps (each redraws the raster): {stats(z)} (load {load()})")
    view.fit()


def lasso_polygon(xy: np.ndarray, n: int = 10_000, vertices: int = 300) -> np.ndarray:
    """A wobbly lasso around the densest area holding about `n` points."""
    c = np.median(xy, axis=0)
    d = np.hypot(*(xy - c).T)
    r = np.partition(d, n)[n] * 1.02
    t = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    rr = r * (1 + 0.02 * np.sin(7 * t))
    return np.stack([c[0] + rr * np.cos(t), c[1] + rr * np.sin(t)], 1)


class _PaintSpy:
    """Counts paint events of a widget (the Gallery is painted when the tab switch is
    processed; another repaint() on top would count its painting twice)."""

    def __init__(self, widget) -> None:  # noqa: ANN001
        from PySide6.QtCore import QEvent, QObject

        class _F(QObject):
            def eventFilter(inner, obj, ev) -> bool:  # noqa: ANN001, N802, N805
                if ev.type() == QEvent.Type.Paint:
                    self.count += 1
                return False

        self.count = 0
        self._f = _F()
        widget.installEventFilter(self._f)


def bench_lasso(args: argparse.Namespace, app, w, p) -> None:  # noqa: ANN001
    g = w.panel("gallery")
    spy = _PaintSpy(g.view.viewport())
    polys = [lasso_polygon(p.result.xy, n) for n in (10_000, 9_900)]  # differ run to run
    part1, part2, total, cpu = [], [], [], []
    n_sel = 0
    for i in range(max(5, args.runs // 6)):
        w.show_panel("map")
        w.state.set_selection("test-reset", {})
        for _ in range(5):
            app.processEvents()
        p.view.viewport().repaint()
        t0, c0 = time.perf_counter(), time.process_time()
        p.view.lasso(polys[i % 2])  # as a drawn lasso ends: select, publish, highlight
        p.view.viewport().repaint()
        t1 = time.perf_counter()
        painted = spy.count
        p.show_in_gallery()  # Enter: the window shows the Gallery tab
        while spy.count == painted:  # until the Gallery has painted
            app.processEvents()
        t2 = time.perf_counter()
        cpu.append((time.process_time() - c0) * 1000)
        n_sel = int(p.selected_rows.size)
        assert g.view.selected_count() == n_sel == g.model.rowCount(), "Gallery mismatch"
        part1.append((t1 - t0) * 1000)
        part2.append((t2 - t1) * 1000)
        total.append((t2 - t0) * 1000)
    med = statistics.median(total)
    print(f"lasso of {n_sel:,d} points -> map highlight painted: median "
          f"{statistics.median(part1):.1f} ms; -> Gallery painted, all selected: median "
          f"{statistics.median(part2):.1f} ms; together {med:.1f} ms (max {max(total):.1f}), "
          f"budget {LASSO_BUDGET_MS:.0f} ms -> ratio {med / LASSO_BUDGET_MS:.2f}; CPU median "
          f"{statistics.median(cpu):.1f} ms (ratio {statistics.median(cpu) / LASSO_BUDGET_MS:.2f}:"
          f" what a quiet machine's wall time approaches) (load {load()})")
    w.show_panel("map")


def bench_compare(args: argparse.Namespace, app, m) -> None:  # noqa: ANN001
    import pyqtgraph as pg

    from k49desk.core.selection import class_palette

    pal = class_palette(49)
    table = [pg.mkBrush(*map(int, c)) for c in pal]
    for label, brushes in (("one brush per point (class table)", [table[k] for k in m.labels]),
                           ("one brush for all", pg.mkBrush(37, 99, 235))):
        pw = pg.PlotWidget(background="w")
        pw.resize(*args.size)
        pw.show()
        sp = pg.ScatterPlotItem(pos=m.xy, size=3, pen=None, brush=brushes, pxMode=True,
                                useCache=True)
        pw.addItem(sp)
        pw.getPlotItem().getViewBox().autoRange()
        app.processEvents()
        pw.viewport().repaint()  # first paint builds the symbol atlas
        wall, cpu, _ = pan_frames(app, _Shim(pw), 8)
        print(f"ScatterPlotItem, {label}: pan {stats(wall)} (load {load()})")
        pw.close()


class _Shim:
    """pan_frames() on a plain PlotWidget."""

    def __init__(self, pw) -> None:  # noqa: ANN001
        self.vb = pw.getPlotItem().getViewBox()
        self._pw = pw

        class _C:
            renders = 0

        self.cloud = _C()

    def viewport(self):  # noqa: ANN201
        return self._pw.viewport()


def bench_during(args: argparse.Namespace, app, p, out) -> None:  # noqa: ANN001
    p.maps.clear()
    p.result = None
    p.refresh()  # PCA preview, then the t-SNE starts in the background
    t_end = time.perf_counter() + args.during_projection
    wall: list[float] = []
    p.view.fit()
    while time.perf_counter() < t_end and p.tasks.running("map"):
        ms, _c, _r = pan_frames(app, p.view, 40)
        wall += ms
    print(f"pan while the t-SNE runs ({p.strip_label.text()[:70]}): {stats(wall)} over "
          f"{len(wall)} frames (load {load()})")
    task = p.tasks.get("map")
    p.tasks.stop("map")
    if task is not None:
        task.cancel_and_wait(600_000)  # the neighbour search cannot be interrupted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--map", choices=("pca", "tsne"), default="pca")
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--during-projection", type=float, default=0.0, metavar="S")
    args = ap.parse_args()
    args.size = tuple(int(v) for v in args.size.lower().split("x"))
    import torch

    torch.set_num_threads(1)
    print(f"load at start {load()}, {os.cpu_count()} cores")
    app, w, p, out, m = setup(args)
    bench_frames(args, app, p)
    bench_lasso(args, app, w, p)
    if args.compare:
        bench_compare(args, app, m)
    if args.during_projection > 0:
        bench_during(args, app, p, out)
    w.close()


if __name__ == "__main__":
    main()
