"""The one way k49desk runs work off the GUI thread.

Every thread the app starts is a `Task` (superqt's wiring: a worker QObject moved to its own
QThread, `started -> run`, `done -> quit`, `deleteLater` on both once the thread has
ended, on the GUI thread). Two modes of the class:

- one-shot: `fn(progress, should_stop) -> result`, plain core code that reports through the
  core `Progress` (`progress(fraction, text, payload)`) and polls `should_stop()`;
- service: a long-lived thread running `fn(request) -> result` for each `submit(request)`,
  latest request wins (the drawing pad's recogniser: a thread per stroke cost more than the
  inference itself, measured in benchmarks/bench_draw.py).

Each panel owns its tasks through one `TaskOwner` with named slots (Orange3's one task per
widget, by name). Starting work in a slot supersedes what ran there: the old task is cancelled
and its results are dropped, the only way stale results are dropped anywhere. Failures go to
one error path (`errors.show_error`) unless the caller handles them. `shutdown()` cancels and
waits; `wait_for_all()` is the last word at application exit, so no QThread is ever destroyed
while running.
"""

from __future__ import annotations

import atexit
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QCoreApplication,
    QObject,
    Qt,
    QThread,
    Signal,
    SignalInstance,
    Slot,
)

from k49desk.core.errors import Cancelled
from k49desk.core.progress import ProgressUpdate

Job = Callable[[Any, Callable[[], bool]], Any]  # fn(progress, should_stop) -> result
_live: set[Task] = set()  # every task whose thread may still run (kept alive until it ends)


class _Mailbox:
    """Python objects crossing threads, by number. A signal carrying a Python object makes
    Qt copy it (taking the GIL) while it holds the sender's connection lock; the GUI thread,
    holding the GIL in any PySide call that takes the same lock (one of a small pool, chosen
    by address), then waits for it: both threads hang (seen twice in CI, in a QMessageBox
    constructor and in QMenu.addAction). Cross-thread signals therefore carry only an int;
    the object waits here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, Any] = {}
        self._next = 0

    def put(self, obj: Any) -> int:
        with self._lock:
            self._next += 1
            self._items[self._next] = obj
            return self._next

    def take(self, key: int) -> Any:
        with self._lock:
            return self._items.pop(key, None)


class _Worker(QObject):
    """Lives on the task's thread; never touches widgets. Its signals carry mailbox keys."""

    progress = Signal(int)  # -> ProgressUpdate
    finished = Signal(int)  # -> result (one-shot) or (seq, result) (service)
    failed = Signal(int)  # -> exception (one-shot) or (seq, exception) (service)
    cancelled = Signal()
    done = Signal()  # one-shot: always last, whatever the outcome

    def __init__(self, fn: Callable[..., Any], min_interval_s: float,
                 stop: threading.Event, mail: _Mailbox) -> None:
        super().__init__()
        self.mail = mail
        self._fn = fn
        self.stop = stop
        self._min_interval = min_interval_s
        self._last_emit = float("-inf")

    def should_stop(self) -> bool:
        return self.stop.is_set()

    def _progress(self, fraction: float | None, text: str = "", payload: Any = None) -> None:
        # Orange's TaskState: drop updates closer than the interval (0 = the job batches its
        # own, e.g. training's event lists, and every one must arrive).
        now = time.monotonic()
        if self._min_interval <= 0 or now - self._last_emit >= self._min_interval:
            self._last_emit = now
            self.progress.emit(self.mail.put(ProgressUpdate(fraction, text, payload)))

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn(self._progress, self.should_stop)
        except Cancelled:
            self.cancelled.emit()
        except BaseException as e:  # noqa: BLE001  (reported to the GUI, never lost)
            e.__k49_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
            self.failed.emit(self.mail.put(e))
        else:
            if self.stop.is_set() and result is None:
                self.cancelled.emit()
            else:
                self.finished.emit(self.mail.put(result))
        finally:
            # Deleted on the GUI thread, never on this one: ~QObject holds a pooled
            # connection lock while PySide takes the GIL for its Python-side checks, and the
            # GUI thread, holding the GIL in any signal emission needing that lock, waits for
            # it (a CI run hung so in the Train panel's log line). Task._on_thread_finished
            # deletes it there.
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())
            self.done.emit()

    @Slot(int, int)
    def handle(self, seq: int, key: int) -> None:
        request = self.mail.take(key)
        try:
            result = self._fn(request)
        except BaseException as e:  # noqa: BLE001
            e.__k49_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
            self.failed.emit(self.mail.put((seq, e)))
        else:
            self.finished.emit(self.mail.put((seq, result)))


class Task(QObject):
    """One thread of background work. Its signals arrive on the GUI thread.

    `detach()` drops everything the task still delivers (its result is stale); the owner
    does it when superseding a task, so a callback never sees a result it did not ask for.
    """

    progress = Signal(object)  # ProgressUpdate
    finished = Signal(object)
    failed = Signal(object)  # BaseException (with __k49_traceback__)
    cancelled = Signal()
    done = Signal()
    _submit = Signal(int, int)  # service: (seq, mailbox key of the request) -> the thread

    def __init__(self, fn: Callable[..., Any], *, service: bool = False,
                 min_interval_s: float = 0.05, name: str = "") -> None:
        super().__init__()  # no Qt parent: a running thread deleted with a widget aborts
        self.name = name
        self.service = service
        self.thread = QThread()
        self.thread.setObjectName(f"k49desk-{name or 'task'}")
        self.stop_event = threading.Event()
        self.mail = _Mailbox()  # kept here: the one-shot worker is deleted when it is done
        self.worker = _Worker(fn, min_interval_s, self.stop_event, self.mail)
        self.worker.moveToThread(self.thread)
        self.attached = True
        self._running = False
        self._seq = 0  # service: the newest request
        self._busy = False  # service: a request is on the thread
        self._pending: tuple[int, Any] | None = None
        self._closed = False  # service: cancelled, takes no more requests
        if service:
            self._submit.connect(self.worker.handle)  # queued: runs on the thread
        else:
            self.thread.started.connect(self.worker.run)
            # Direct: quit must not wait for the GUI thread, which may be blocked in wait().
            self.worker.done.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        self.thread.finished.connect(self._on_thread_finished)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.done.connect(self._on_done)

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> Task:
        _live.add(self)
        self._running = True
        self.thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._running

    @property
    def busy(self) -> bool:
        """Service: a request is running or waiting; one-shot: the work has not ended."""
        return (self._busy or self._pending is not None) if self.service else self._running

    def cancel(self) -> None:
        """Ask the work to stop (core polls should_stop between batches). A service takes
        no more requests; its thread ends after the running one."""
        self.stop_event.set()
        self._pending = None
        if self.service and not self._closed:
            self._closed = True
            self.thread.quit()  # thread-safe

    def detach(self) -> None:
        self.attached = False

    def cancel_and_wait(self, timeout_ms: int = 30000) -> bool:
        """Cancel, then block until the thread has ended; True when it did in time."""
        self.cancel()
        try:
            ended = bool(self.thread.wait(timeout_ms))
        except RuntimeError:  # the QThread object is already deleted: it has ended
            ended = True
        if ended:  # whatever it still had queued for the GUI thread is no longer awaited
            self._running = self._busy = False
        return ended

    # ---- service mode ------------------------------------------------------------------
    def submit(self, request: Any) -> int:
        """Run `fn(request)` on the thread; while one runs, newer requests replace the
        waiting one. Results of superseded requests are never delivered."""
        self._seq += 1
        if self._busy:
            self._pending = (self._seq, request)
        else:
            self._send(self._seq, request)
        return self._seq

    def invalidate(self) -> None:
        """Drop the results of every request made so far (e.g. the canvas was cleared)."""
        self._seq += 1
        self._pending = None

    def _send(self, seq: int, request: Any) -> None:
        if self._closed:
            return
        self._busy = True
        self._submit.emit(seq, self.mail.put(request))

    def _next(self) -> None:
        self._busy = False
        if self._pending is not None:
            seq, req = self._pending
            self._pending = None
            self._send(seq, req)

    # ---- delivery (GUI thread) ---------------------------------------------------------
    @Slot(int)
    def _on_progress(self, key: int) -> None:
        u = self.mail.take(key)
        if self.attached:
            self.progress.emit(u)

    @Slot(int)
    def _on_finished(self, key: int) -> None:
        self._deliver(self.mail.take(key), self.finished)

    @Slot(int)
    def _on_failed(self, key: int) -> None:
        self._deliver(self.mail.take(key), self.failed)

    def _deliver(self, obj: object, signal: SignalInstance) -> None:
        """Emit an outcome, unless a service has had a newer request since (latest wins)."""
        if self.service:
            seq, obj = obj  # type: ignore[misc]
            self._next()
            if seq != self._seq:
                return
        if self.attached:
            signal.emit(obj)

    @Slot()
    def _on_cancelled(self) -> None:
        if self.attached:
            self.cancelled.emit()

    @Slot()
    def _on_done(self) -> None:
        self._running = False
        self.done.emit()  # always: owners use it to clear busy states

    @Slot()
    def _on_thread_finished(self) -> None:
        self._running = False
        self._busy = False
        if not self.service:
            # The last event of a one-shot task, after `done`: deleting the worker earlier
            # (deleteLater queued by its own `done`) dropped the `done` still on its way.
            self.worker.deleteLater()
        self.thread.deleteLater()
        _live.discard(self)


def wait_for_all(timeout_ms: int = 15000) -> bool:
    """Application exit: cancel every task still running and wait for its thread."""
    ok = True
    for t in list(_live):
        t.detach()
        ok = t.cancel_and_wait(timeout_ms) and ok
    return ok


# A QThread destroyed while running aborts the process: whatever exit path the interpreter
# takes (a script, a test run), the threads are stopped first.
atexit.register(wait_for_all, 5000)


def _cancel_all(tasks: dict[str, Task]) -> None:
    """The owning widget was destroyed: stop its work (threads end on their own)."""
    for t in list(tasks.values()):
        t.detach()
        t.cancel()
    tasks.clear()


Callback = Callable[..., Any] | None
DEFAULT = object()  # on_failed=DEFAULT: the one error path (a dialog + a status line + log)


class TaskOwner(QObject):
    """A panel's tasks, by slot name. One owner per panel; the only place panels start
    threads. `on_failed` defaults to the app's error path (`errors.show_error`)."""

    def __init__(self, widget: QObject, status: Callable[[str], None] | None = None) -> None:
        super().__init__(widget)
        self.widget = widget
        self.status = status
        self.tasks: dict[str, Task] = {}
        # Not a method of self: the owner may be half-destroyed by the time this runs.
        widget.destroyed.connect(partial(_cancel_all, self.tasks))

    def run(self, slot: str, fn: Job, *, on_finished: Callback = None,
            on_progress: Callback = None, on_failed: Any = DEFAULT,
            on_cancelled: Callback = None, on_done: Callback = None,
            error_title: str = "Something went wrong", min_interval_s: float = 0.05) -> Task:
        """Start `fn(progress, should_stop)` in `slot`, superseding what ran there."""
        self.cancel(slot)
        task = Task(fn, min_interval_s=min_interval_s, name=slot)
        self._wire(task, on_finished, on_progress, on_failed, on_cancelled, error_title)
        if on_done is not None:
            task.done.connect(lambda t=task: on_done() if t.attached else None)
        task.done.connect(lambda s=slot, t=task: self._forget(s, t))
        self.tasks[slot] = task
        return task.start()

    def service(self, slot: str, fn: Callable[[Any], Any], *, on_finished: Callback = None,
                on_failed: Any = DEFAULT, error_title: str = "Something went wrong") -> Task:
        """A long-lived worker thread in `slot` running `fn(request)` per `submit`."""
        self.cancel(slot)
        task = Task(fn, service=True, name=slot)
        self._wire(task, on_finished, None, on_failed, None, error_title)
        self.tasks[slot] = task
        return task.start()

    def _wire(self, task: Task, on_finished: Callback, on_progress: Callback, on_failed: Any,
              on_cancelled: Callback, error_title: str) -> None:
        if on_finished is not None:
            task.finished.connect(on_finished)
        if on_progress is not None:
            task.progress.connect(on_progress)
        if on_failed is DEFAULT:
            task.failed.connect(lambda e, t=error_title: self.report(t, e))
        elif on_failed is not None:
            task.failed.connect(on_failed)
        if on_cancelled is not None:
            task.cancelled.connect(on_cancelled)

    def report(self, title: str, e: BaseException) -> None:
        from PySide6.QtWidgets import QWidget

        from k49desk.gui.common.errors import show_error

        if self.status is not None:
            self.status(f"{title}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        show_error(self.widget if isinstance(self.widget, QWidget) else None, title, e)

    def _forget(self, slot: str, task: Task) -> None:
        if self.tasks.get(slot) is task:
            del self.tasks[slot]

    def get(self, slot: str) -> Task | None:
        return self.tasks.get(slot)

    def running(self, slot: str | None = None) -> bool:
        if slot is None:
            return any(t.busy for t in self.tasks.values() if not t.service)
        t = self.tasks.get(slot)
        return t is not None and t.busy

    def cancel(self, slot: str) -> None:
        """Stop the work in `slot` and drop whatever it still delivers."""
        t = self.tasks.pop(slot, None)
        if t is not None:
            t.detach()
            t.cancel()

    def stop(self, slot: str) -> None:
        """Ask the work in `slot` to stop but keep listening (it reports how it ended)."""
        t = self.tasks.get(slot)
        if t is not None:
            t.stop_event.set()

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Window close: cancel every task and wait for its thread."""
        ok = True
        for slot in list(self.tasks):
            t = self.tasks.pop(slot)
            t.detach()
            ok = t.cancel_and_wait(timeout_ms) and ok
        return ok
