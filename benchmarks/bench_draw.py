"""Drawing pad budgets, offscreen: stroke end -> top-5 repainted, and event-loop stalls.

    QT_QPA_PLATFORM=offscreen /work/venv/bin/python benchmarks/bench_draw.py [--runs 30]

1. Latency: a stroke is drawn with synthetic mouse events; the clock starts just before the
   mouse release and stops when the five candidate rows and the 28x28 view have repainted
   (preprocessing + inference + paint). Budget: median < 30 ms.
2. Stalls: a 5 ms QTimer probe records the gaps between its timeouts while a second timer
   draws continuously (a move every 8 ms, a new stroke every 60 moves) with live
   recognition on, for a few seconds. Budget: max gap < 50 ms.
Both are run with recognition on the panel's worker thread (its default) and on the GUI
thread, alternating so both see the same load; the stall test also runs two baselines (an
idle loop, and drawing with recognition only at stroke end) that show how much of a gap
comes from other processes on the machine rather than from our work. Uses --model, else
models/k49desk-default.pt when present, else an untrained default-architecture model.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

LATENCY_BUDGET_MS = 30.0
STALL_BUDGET_MS = 50.0


def get_model(path: str | None = None):  # noqa: ANN201
    from pathlib import Path

    from k49desk.core.model import LoadedModel, ModelConfig, build_model, load_checkpoint
    from k49desk.paths import DEFAULT_MODEL

    if path:
        return load_checkpoint(path), Path(path).name
    if DEFAULT_MODEL.exists():
        return load_checkpoint(DEFAULT_MODEL), DEFAULT_MODEL.name
    cfg = ModelConfig()
    return LoadedModel(build_model(cfg).eval(), cfg), "untrained default architecture"


def send(canvas, kind: QEvent.Type, x: float, y: float) -> None:  # noqa: ANN001
    r = canvas.paper_rect()
    pos = QPointF(r.x() + x * r.width(), r.y() + y * r.height())
    left = Qt.MouseButton.LeftButton
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else left
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else left
    ev = QMouseEvent(kind, pos, canvas.mapToGlobal(pos), button, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas, ev)


def stroke_points(k: int, n: int = 40) -> list[tuple[float, float]]:
    """A wavy stroke, different for each k, inside the paper."""
    a, b = 0.2 + 0.1 * (k % 5), 0.15 + 0.12 * (k % 4)
    return [(a + 0.5 * i / n * math.cos(k), b + 0.6 * i / n + 0.05 * math.sin(i / 4 + k))
            for i in range(n + 1)]


def wait_until(app: QApplication, cond, timeout_s: float = 10.0) -> None:  # noqa: ANN001
    end = time.perf_counter() + timeout_s
    while not cond():
        if time.perf_counter() > end:
            raise TimeoutError("no prediction arrived")
        app.processEvents()
        time.sleep(0.0005)


def latency(app: QApplication, panel, runs: int) -> dict[bool, list[float]]:  # noqa: ANN001
    """Stroke end -> repainted top-5, in ms, for both modes, alternating stroke by stroke so
    that both see the same (changing) load from other processes."""
    done: list[float] = []

    def on_update() -> None:
        for b in panel.candidates:
            b.repaint()  # the top-5 as the user sees it, painted now
        panel.pixel_view.repaint()
        done.append(time.perf_counter())

    panel.predictions_updated.connect(on_update)
    out: dict[bool, list[float]] = {True: [], False: []}
    for k in range(runs + 3):
        for use_worker in ((True, False) if k % 2 else (False, True)):
            panel.use_worker = use_worker
            panel.canvas.clear()
            wait_until(app, lambda: not panel.busy)
            pts = stroke_points(k)
            send(panel.canvas, QEvent.Type.MouseButtonPress, *pts[0])
            for p in pts[1:]:
                send(panel.canvas, QEvent.Type.MouseMove, *p)
            panel._live_timer.stop()  # live updates are measured in the stall test
            wait_until(app, lambda: not panel.busy)
            done.clear()
            t0 = time.perf_counter()
            send(panel.canvas, QEvent.Type.MouseButtonRelease, *pts[-1])
            wait_until(app, lambda: bool(done))
            if k >= 3:  # the first calls warm up torch
                out[use_worker].append((done[0] - t0) * 1000)
    panel.predictions_updated.disconnect(on_update)
    return out


def stalls(app: QApplication, panel, seconds: float,  # noqa: ANN001
           draw: bool = True) -> tuple[list[float], int]:
    gaps: list[float] = []
    last = [time.perf_counter()]
    updates = [0]
    panel.predictions_updated.connect(lambda: updates.__setitem__(0, updates[0] + 1))

    def probe() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        last[0] = now

    state = {"k": 0, "i": 0, "pts": stroke_points(0, 60)}

    def pen() -> None:
        pts, i = state["pts"], state["i"]
        if i == 0:
            send(panel.canvas, QEvent.Type.MouseButtonPress, *pts[0])
        elif i < len(pts) - 1:
            send(panel.canvas, QEvent.Type.MouseMove, *pts[i])
        else:
            send(panel.canvas, QEvent.Type.MouseButtonRelease, *pts[-1])
            state["k"] += 1
            state["pts"] = stroke_points(state["k"], 60)
            state["i"] = -1
            if state["k"] % 4 == 0:
                panel.canvas.clear()
        state["i"] += 1

    t_probe, t_pen = QTimer(), QTimer()
    t_probe.setTimerType(Qt.TimerType.PreciseTimer)
    t_pen.setTimerType(Qt.TimerType.PreciseTimer)
    t_probe.timeout.connect(probe)
    t_pen.timeout.connect(pen)
    t_probe.start(5)
    if draw:
        t_pen.start(8)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.0005)
    t_probe.stop()
    t_pen.stop()
    return gaps[1:], updates[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=3, help="stall runs per mode")
    ap.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    from k49desk.gui.common.state import AppState
    from k49desk.gui.draw.panel import DrawPanel

    model, model_name = get_model(args.model)
    state = AppState()
    state.set_model(model, None)
    panel = DrawPanel(state)
    panel.resize(1000, 640)
    panel.show()
    app.processEvents()
    print(f"model: {model_name}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    lat = latency(app, panel, args.runs)
    for use_worker in (True, False):
        mode = "worker thread" if use_worker else "GUI thread"
        v = lat[use_worker]
        med = statistics.median(v)
        print(f"[{mode}] stroke end -> top-5 repainted: median {med:.1f} ms, "
              f"p90 {np.percentile(v, 90):.1f} ms, max {max(v):.1f} ms over {len(v)} "
              f"strokes; budget {LATENCY_BUDGET_MS:.0f} ms, ratio {med / LATENCY_BUDGET_MS:.2f}")
    # Baselines: the same probe with nothing to do, and while drawing without recognition,
    # show how much of a gap is the machine (other processes) rather than our work.
    maxima: dict[object, list[float]] = {True: [], False: [], "idle": [], "live off": []}
    for _ in range(args.repeats):
        for use_worker in (True, False, "idle", "live off"):
            panel.use_worker = use_worker is not False
            panel.live_check.setChecked(use_worker != "live off")
            mode = {True: "worker thread", False: "GUI thread"}.get(use_worker, use_worker)
            gaps, n_updates = stalls(app, panel, args.seconds, draw=use_worker != "idle")
            maxima[use_worker].append(max(gaps))
            over = sum(g > STALL_BUDGET_MS for g in gaps)
            what = {"idle": "no input", "live off": "drawing, recognition only at stroke end"}
            print(f"[{mode}]   {args.seconds:.0f} s, {what.get(mode, 'drawing, live on')}: "
                  f"probe gap median "
                  f"{statistics.median(gaps):.1f} ms, max {max(gaps):.1f} ms, "
                  f"{over} gaps > {STALL_BUDGET_MS:.0f} ms, {n_updates} live updates")
    panel.live_check.setChecked(True)
    for use_worker in (True, False, "idle", "live off"):
        mode = {True: "worker thread", False: "GUI thread"}.get(use_worker, use_worker)
        med_max = statistics.median(maxima[use_worker])
        print(f"[{mode}] max event-loop gap: median over {args.repeats} runs {med_max:.1f} ms; "
              f"budget {STALL_BUDGET_MS:.0f} ms, ratio {med_max / STALL_BUDGET_MS:.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    panel.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
