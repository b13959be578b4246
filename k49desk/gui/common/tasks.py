"""Background work on a QThread (superqt's wiring), cancellable through a threading.Event.

    task = run_task(core_fn, on_progress=..., on_finished=..., on_failed=...)
    task.cancel()          # core sees should_stop() -> True between batches

`core_fn(progress, should_stop)` is plain core code: it reports through `progress(obj)` and
polls `should_stop()`. Progress is throttled so the GUI thread is never flooded.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from k49desk.core.errors import Cancelled
from k49desk.core.progress import ProgressUpdate

_live: set[BackgroundTask] = set()  # keep tasks alive until their thread ends


class Worker(QObject):
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(object)  # the exception
    cancelled = Signal()
    done = Signal()  # always last, whatever the outcome

    def __init__(self, fn: Callable[..., Any], min_interval_s: float = 0.05) -> None:
        super().__init__()
        self._fn = fn
        self._stop = threading.Event()
        self._min_interval = min_interval_s
        self._last_emit = 0.0

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    def _progress(self, fraction: float | None, text: str = "", payload: object = None) -> None:
        now = time.monotonic()
        if now - self._last_emit >= self._min_interval:
            self._last_emit = now
            self.progress.emit(ProgressUpdate(fraction, text, payload))

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn(self._progress, self.should_stop)
        except Cancelled:
            self.cancelled.emit()
        except BaseException as e:  # noqa: BLE001  (reported to the GUI, never lost)
            e.__k49_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
            self.failed.emit(e)
        else:
            if self._stop.is_set() and result is None:
                self.cancelled.emit()
            else:
                self.finished.emit(result)
        finally:
            self.done.emit()


class BackgroundTask(QObject):
    """Owns a Worker and its QThread; both are deleted when the work ends.

    Its own signals re-emit the worker's on the GUI thread (queued through its slots), so
    plain Python callbacks connected to them never run on the worker thread.
    """

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    done = Signal()

    def __init__(self, fn: Callable[..., Any], parent: QObject | None = None,
                 min_interval_s: float = 0.05) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.worker = Worker(fn, min_interval_s)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        # Direct: quit must not wait for the GUI thread, which may be blocked in cancel_and_wait.
        self.worker.done.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        self.worker.done.connect(self.worker.deleteLater)
        self.thread.finished.connect(self.thread.deleteLater)
        self.thread.finished.connect(lambda: _live.discard(self))
        self._running = False
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.done.connect(self._on_done)

    @Slot(object)
    def _on_progress(self, obj: object) -> None:
        self.progress.emit(obj)

    @Slot(object)
    def _on_finished(self, obj: object) -> None:
        self.finished.emit(obj)

    @Slot(object)
    def _on_failed(self, e: object) -> None:
        self.failed.emit(e)

    @Slot()
    def _on_cancelled(self) -> None:
        self.cancelled.emit()

    @Slot()
    def _on_done(self) -> None:
        self._running = False
        self.done.emit()

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> BackgroundTask:
        _live.add(self)
        self._running = True
        self.thread.start()
        return self

    def cancel(self) -> None:
        self.worker.request_stop()

    def cancel_and_wait(self, timeout_ms: int = 30000) -> bool:
        """For window close: ask the worker to stop, then wait for its thread."""
        self.worker.request_stop()
        try:
            return self.thread.wait(timeout_ms)
        except RuntimeError:  # thread object already deleted: it has finished
            return True


def run_task(fn: Callable[..., Any], *, on_progress: Callable[[object], None] | None = None,
             on_finished: Callable[[object], None] | None = None,
             on_failed: Callable[[BaseException], None] | None = None,
             on_cancelled: Callable[[], None] | None = None,
             parent: QObject | None = None, min_interval_s: float = 0.05) -> BackgroundTask:
    """Start `fn(progress, should_stop)` on a new QThread; callbacks run on the GUI thread."""
    task = BackgroundTask(fn, parent, min_interval_s)
    w = task
    if on_progress:
        w.progress.connect(on_progress)
    if on_finished:
        w.finished.connect(on_finished)
    if on_failed:
        w.failed.connect(on_failed)
    if on_cancelled:
        w.cancelled.connect(on_cancelled)
    return task.start()
