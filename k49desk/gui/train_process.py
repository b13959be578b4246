"""Training in a child process, supervised from the panel's worker thread. No Qt here.

Why a process: a training thread in the GUI process holds the GIL whenever it runs Python
between torch ops, and every return of the GUI thread into Python (a pyqtgraph paint, a
slot) waits for it. Measured on real10 under load: the event loop stalled up to 300-600 ms
with training on a QThread, whatever the switch interval. In a child process the GUI keeps
its own interpreter; the worker thread only waits on a pipe (GIL released) and hands event
lists to the GUI. Throughput is that of `train_folder` called directly, since it is.

Protocol on the pipe (child -> parent): ("events", [TrainEvent, ...]) batched every ~0.2 s
and at each epoch end; then exactly one of ("done", TrainResult without its module),
("cancelled", message), ("error", exception, traceback text).
"""

from __future__ import annotations

import multiprocessing as mp
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from k49desk.core.errors import Cancelled, K49Error

BATCH_INTERVAL_S = 0.2
KILL_AFTER_STOP_S = 60.0  # a child that ignores Stop this long is terminated


class BatchLoss:
    """Per-batch loss from the core's running epoch mean: sum_k = mean_k * seen_k, so
    loss_k = (sum_k - sum_{k-1}) / b_k. Only the epoch's last batch can be short; its size
    comes from the number of training images (the same stratified split train_folder does)."""

    def __init__(self, batch_size: int, n_train: int) -> None:
        self.bs, self.n = batch_size, n_train
        self.prev_sum = 0.0

    def __call__(self, ev: Any) -> float | None:
        if ev.loss is None:
            return None
        if ev.step == 1:
            self.prev_sum = 0.0
        seen = min(ev.step * self.bs, self.n) if self.n else ev.step * self.bs
        b = seen - min((ev.step - 1) * self.bs, seen)
        total = float(ev.loss) * seen
        out = (total - self.prev_sum) / b if b > 0 else float(ev.loss)
        self.prev_sum = total
        return out


def n_train_images(cfg: Any, data_dir: Path) -> int:
    import numpy as np

    from k49desk.core.dataset import open_dataset
    from k49desk.core.training import stratified_split

    labels = np.asarray(open_dataset(data_dir).split("train").labels)
    return len(stratified_split(labels, cfg.val_fraction, cfg.seed)[0])


def batched_progress(cfg: Any, data_dir: Path, send: Callable[[list[Any]], None],
                     interval_s: float = BATCH_INTERVAL_S) -> tuple[Callable[[Any], None], list]:
    """An on_progress for train_folder that adds `batch_loss` to step events and hands them
    over in lists (every `interval_s` and at each epoch end). Returns (callback, buffer)."""
    buf: list[Any] = []
    last = [time.monotonic()]
    batch_loss = BatchLoss(cfg.batch_size, n_train_images(cfg, data_dir))

    def on_progress(ev: Any) -> None:
        if ev.kind == "step" and getattr(ev, "batch_loss", None) is None:
            ev.batch_loss = batch_loss(ev)
        buf.append(ev)
        now = time.monotonic()
        if ev.kind == "epoch" or now - last[0] >= interval_s:
            last[0] = now
            batch = buf[:]
            buf.clear()
            send(batch)

    return on_progress, buf


def _child(cfg: Any, data_dir: str, out_path: str, conn: Any, stop: Any) -> None:
    """Entry point of the training process (spawned: imports only core code)."""
    try:
        from k49desk.core.training import train_folder

        on_progress, buf = batched_progress(cfg, Path(data_dir),
                                            lambda b: conn.send(("events", b)))
        res, _loaded = train_folder(cfg, data_dir, out_path, on_progress=on_progress,
                                    should_stop=stop.is_set)
        if buf:
            conn.send(("events", buf[:]))
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
                   progress: Callable[[list[Any]], None],
                   should_stop: Callable[[], bool]) -> tuple[Any, Any, Path, list[Any]]:
    """Run train_folder in a spawned child; call from a worker thread (it blocks).

    Returns (TrainResult with the loaded module, LoadedModel, out_path, []), raises
    Cancelled when stopped before the first epoch, or the child's own exception.
    """
    from k49desk.core.model import load_checkpoint

    ctx = mp.get_context("spawn")  # fork is unsafe with Qt's and torch's threads
    parent, child = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    proc = ctx.Process(target=_child, args=(cfg, str(data_dir), str(out_path), child, stop),
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
                if msg[0] == "events":
                    progress(msg[1])
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
