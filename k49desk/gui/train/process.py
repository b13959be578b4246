"""Training in a child process, supervised from the panel's worker thread. No Qt here.

Why a process: a training thread in the GUI process holds the GIL whenever it runs Python
between torch ops, and every return of the GUI thread into Python (a pyqtgraph paint, a
slot) waits for it. Measured on real10 under load: the event loop stalled up to 300-600 ms
with training on a QThread, whatever the switch interval. In a child process the GUI keeps
its own interpreter; the worker thread only waits on a pipe (GIL released) and hands event
lists to the GUI. Throughput is that of `train_folder` called directly, since it is.

Protocol on the pipe (child -> parent): ("info", {"device": text}) once training starts;
("events", [TrainEvent, ...]) batched every ~0.2 s and at each epoch end; then exactly one of
("done", TrainResult without its module), ("cancelled", message), ("error", exception,
traceback text). Before "done" the child has written the run's side files (`finish_run`), so
its curves survive even when the app quits while it stops.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from k49desk.core.errors import Cancelled, K49Error
from k49desk.core.progress import Progress

BATCH_INTERVAL_S = 0.2
KILL_AFTER_STOP_S = 60.0  # a child that ignores Stop this long is terminated


def batched_progress(send: Callable[[list[Any]], None],
                     interval_s: float = BATCH_INTERVAL_S) -> tuple[Progress, list]:
    """A `Progress` for train_folder that hands its TrainEvents over in lists (every
    `interval_s` and at each epoch end). Returns (callback, buffer of unsent events)."""
    buf: list[Any] = []
    last = [time.monotonic()]

    def on_progress(fraction: float | None, text: str, ev: Any = None) -> None:
        if ev is None:
            return
        buf.append(ev)
        now = time.monotonic()
        if ev.kind == "epoch" or now - last[0] >= interval_s:
            last[0] = now
            batch = buf[:]
            buf.clear()
            send(batch)

    return on_progress, buf


def describe_device(cfg: Any) -> str:
    """Where a run with `cfg` trains, as the log says it: "CPU, 2 threads (auto)"."""
    import torch

    from k49desk.core.training import resolve_device

    try:
        dev = resolve_device(cfg.device)
    except K49Error as e:
        return str(e)
    if dev.type == "cuda":
        where = f"GPU {torch.cuda.get_device_name(dev)}"
    elif dev.type == "mps":
        where = "GPU (Apple MPS)"
    else:
        where = "CPU"
    n = cfg.threads if cfg.threads > 0 else torch.get_num_threads()
    return (f"{where}, {n} CPU thread{'' if n == 1 else 's'}"
            f"{' (auto)' if cfg.threads <= 0 else ''}")


def finish_run(res: Any, cfg: Any, out_path: str | Path,
               test: tuple[str, str] | None = None) -> list[str]:
    """After `train_folder`: the run's side files (`runs.save_run_side_files`)."""
    from k49desk.core import runs

    return runs.save_run_side_files(out_path, res, cfg.epochs, test)


def _child(cfg: Any, data_dir: str, out_path: str, conn: Any, stop: Any,
           test: tuple[str, str] | None = None) -> None:
    """Entry point of the training process (spawned: imports only core code)."""
    try:
        from k49desk.core.training import train_folder

        conn.send(("info", {"device": describe_device(cfg)}))
        on_progress, buf = batched_progress(lambda b: conn.send(("events", b)))
        res = train_folder(cfg, data_dir, out_path, progress=on_progress,
                           should_stop=stop.is_set)
        if buf:
            conn.send(("events", buf[:]))
        res.warnings = finish_run(res, cfg, out_path, test)
        res.model = None  # the parent loads the saved checkpoint instead of a pickled module
        conn.send(("done", res))
    except Cancelled as e:
        conn.send(("cancelled", str(e)))
    except BaseException as e:  # noqa: BLE001  (reported to the parent, never lost)
        try:
            conn.send(("error", e, traceback.format_exc()))
        except Exception:  # noqa: BLE001  (an unpicklable exception: send its text)
            conn.send(("error", K49Error(f"{type(e).__name__}: {e}"), traceback.format_exc()))
    finally:
        conn.close()


def run_in_process(cfg: Any, data_dir: Path, out_path: Path,
                   progress: Progress,
                   should_stop: Callable[[], bool],
                   test: tuple[str, str] | None = None) -> tuple[Any, Any, Path, list[Any]]:
    """Run train_folder (then `finish_run`) in a spawned child; call from a worker thread
    (it blocks). Info messages reach `progress` as a dict payload, events as lists.

    Returns (TrainResult with the loaded module, LoadedModel, out_path, []), raises
    Cancelled when stopped before the first epoch, or the child's own exception.
    """
    from k49desk.core.model import load_checkpoint

    ctx = mp.get_context("spawn")  # fork is unsafe with Qt's and torch's threads
    parent, child = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    proc = ctx.Process(target=_child, args=(cfg, str(data_dir), str(out_path), child, stop, test),
                       name="k49desk-train", daemon=True)
    proc.start()
    child.close()
    outcome: tuple | None = None
    stop_sent_at: float | None = None
    try:
        while outcome is None:
            if should_stop() and stop_sent_at is None:
                stop.set()
                stop_sent_at = time.monotonic()
            if stop_sent_at is not None and time.monotonic() - stop_sent_at > KILL_AFTER_STOP_S:
                proc.terminate()
                raise Cancelled(f"{out_path.name}: the training process did not stop in "
                                f"{KILL_AFTER_STOP_S:.0f} s and was terminated")
            if parent.poll(0.05):
                try:
                    msg = parent.recv()
                except EOFError:
                    msg = None
                if msg is None:
                    proc.join(5)
                    raise K49Error(f"{out_path.name}: the training process ended unexpectedly "
                                   f"(exit code {proc.exitcode})")
                if msg[0] in ("events", "info"):
                    progress(None, "", msg[1])
                else:
                    outcome = msg
            elif not proc.is_alive() and not parent.poll(0):
                raise K49Error(f"{out_path.name}: the training process ended unexpectedly "
                               f"(exit code {proc.exitcode})")
    finally:
        parent.close()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
    kind = outcome[0]
    if kind == "cancelled":
        raise Cancelled(outcome[1])
    if kind == "error":
        exc = outcome[1]
        exc.__k49_traceback__ = outcome[2]  # type: ignore[attr-defined]
        raise exc
    res = outcome[1]
    loaded = load_checkpoint(out_path)
    res.model = loaded.model
    return res, loaded, out_path, []
