"""Download pipeline budgets, on loopback (127.0.0.1), at the official sizes (77.3 MB).

    python benchmarks/bench_download.py [--runs 3]

A local HTTP server (tests/httpserver.py) serves five files with the official names and
sizes (random bytes; the md5 table is set to theirs). Budgets (issue 2):
  fresh download, all five files        >= 40 MB/s  (the downloader must never be what limits
                                                     a real link: a fast home line is ~12 MB/s)
  rerun on a complete folder (md5 only) <  1.0 s    (files are checked, none fetched)
  resume: only the missing bytes        == exact    (bytes served counted by the server)
  GUI: longest event-loop stall while   <  100 ms   (DataPanel downloading the 77.3 MB into
       the start page downloads                      a folder, then opening nothing: the
                                                     files are random, so only the download
                                                     phase is timed)
The server runs in the same process, so the throughput figure also pays for it: read it as
a lower bound. Each figure is the median of several runs; on a shared machine read the ratios
as pessimistic.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
from httpserver import FileServer  # noqa: E402

import k49desk.core.download as dl  # noqa: E402

BUDGETS = {"download_mb_s": 40.0, "verify_s": 1.0, "gui_stall_ms": 100.0}


def gui_stall_ms(srv: FileServer, expected: dict, folder: Path) -> float:
    """Longest gap between 5 ms timer ticks on the GUI thread during a DataPanel download."""
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from k49desk.gui.common.state import AppState
    from k49desk.gui.data.panel import DataPanel

    app = QApplication.instance() or QApplication([])
    errors: list[str] = []
    QMessageBox.critical = staticmethod(lambda _p, t, x, *a: errors.append(f"{t}: {x}") or 0)
    page = DataPanel(AppState())
    page.set_target_dir(folder)
    page.show()
    app.processEvents()  # the first paint is not part of the download
    clock, gaps = QElapsedTimer(), []
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    page.start_download(base_url=srv.base_url, expected=expected)
    # The download ends, then opening the random bytes fails (expected, a dialog): done.
    while page.busy:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    page.shutdown()
    assert all((folder / n).exists() for n in expected), "the GUI download did not finish"
    return float(max(gaps)) if gaps else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    files = {n: rng.integers(0, 256, size, dtype=np.uint8).tobytes()
             for n, (size, _md5) in dl.EXPECTED.items()}
    expected = {n: (len(b), hashlib.md5(b).hexdigest()) for n, b in files.items()}
    total = sum(len(b) for b in files.values())
    work = Path(tempfile.mkdtemp(prefix="k49desk-bench-dl-"))
    speeds, verifies = [], []
    try:
        with FileServer(files, chunk=1 << 20) as srv:
            for i in range(args.runs):
                d = work / f"run{i}"
                t0 = time.perf_counter()
                dl.download_k49(d, base_url=srv.base_url, expected=expected)
                speeds.append(total / 1e6 / (time.perf_counter() - t0))
                served = sum(srv.bytes_served.values())
                t0 = time.perf_counter()
                dl.download_k49(d, base_url=srv.base_url, expected=expected)
                verifies.append(time.perf_counter() - t0)
                assert sum(srv.bytes_served.values()) == served, "a complete folder was refetched"
                shutil.rmtree(d)
            # Resume: a third of the big file is there; only the rest may cross the wire.
            name = "k49-train-imgs.npz"
            d = work / "resume"
            d.mkdir()
            have = len(files[name]) // 3
            (d / (name + ".part")).write_bytes(files[name][:have])
            before = srv.bytes_served[name]
            dl.download_k49(d, base_url=srv.base_url, expected=expected, files=[name])
            resumed = srv.bytes_served[name] - before
            assert (d / name).read_bytes() == files[name]
            stalls = [gui_stall_ms(srv, expected, work / f"gui{i}") for i in range(args.runs)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mb_s, verify = statistics.median(speeds), statistics.median(verifies)
    print(f"payload: {total:,} bytes in 5 files (official sizes), {args.runs} runs, loopback")
    print(f"fresh download          median {mb_s:7.1f} MB/s   budget >= "
          f"{BUDGETS['download_mb_s']:.0f} MB/s   ratio {BUDGETS['download_mb_s'] / mb_s:.2f} "
          f"(runs: {', '.join(f'{s:.1f}' for s in speeds)})")
    print(f"rerun, md5 check only   median {verify:7.3f} s      budget <  "
          f"{BUDGETS['verify_s']:.1f} s      ratio {verify / BUDGETS['verify_s']:.2f} "
          f"(runs: {', '.join(f'{v:.3f}' for v in verifies)})")
    print(f"resume after {have:,} bytes: {resumed:,} bytes fetched "
          f"(missing part: {len(files[name]) - have:,})")
    stall = statistics.median(stalls)
    print(f"GUI longest stall       median {stall:7.1f} ms     budget <  "
          f"{BUDGETS['gui_stall_ms']:.0f} ms     ratio {stall / BUDGETS['gui_stall_ms']:.2f} "
          f"(runs: {', '.join(f'{v:.0f}' for v in stalls)})")
    ok = mb_s >= BUDGETS["download_mb_s"] and verify < BUDGETS["verify_s"]
    ok = ok and stall < BUDGETS["gui_stall_ms"]
    ok = ok and resumed == len(files[name]) - have
    print("within budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
