"""Stopping background tasks from the GUI thread without a deadlock.

`BackgroundTask.cancel_and_wait` waits on the QThread, but the thread only ends when its
`quit()` runs, and `worker.done -> thread.quit` is a queued call to the GUI thread, which
is the one blocked in `wait()`: it always runs into its timeout. `QThread.quit()` is
thread-safe and, called before the worker returns, makes the thread's `exec()` return at
once; so: cancel, quit, wait.
"""

from __future__ import annotations

from k49desk.gui.common.tasks import BackgroundTask


def stop_and_wait(task: BackgroundTask | None, timeout_ms: int = 30000) -> bool:
    """Ask the task to stop and wait for its thread; True when it ended in time."""
    if task is None:
        return True
    task.cancel()
    try:
        task.thread.quit()
        return bool(task.thread.wait(timeout_ms))
    except RuntimeError:  # the QThread was already deleted: it has finished
        return True
