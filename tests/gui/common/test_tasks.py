"""The background-task wiring: results on the GUI thread, cancel, failures, fast cancel_and_wait."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QThread

from k49desk.core.errors import Cancelled
from k49desk.gui.common.tasks import run_task


def test_result_and_progress_arrive_on_gui_thread(qtbot) -> None:  # noqa: ANN001
    gui = threading.current_thread()
    seen: list[tuple[str, object]] = []

    def work(progress, should_stop):  # noqa: ANN001, ANN202
        progress(0.5, "half")
        return threading.current_thread() is not gui

    t = run_task(work, on_progress=lambda p: seen.append(("p", threading.current_thread() is gui)),
                 on_finished=lambda r: seen.append(("f", r)))
    with qtbot.waitSignal(t.done, timeout=10000):
        pass
    assert ("p", True) in seen and ("f", True) in seen


def test_cancel_and_wait_returns_promptly(qtbot) -> None:  # noqa: ANN001
    def work(progress, should_stop):  # noqa: ANN001, ANN202
        while not should_stop():
            time.sleep(0.01)
        raise Cancelled("stopped")

    cancelled: list[bool] = []
    t = run_task(work, on_cancelled=lambda: cancelled.append(True))
    qtbot.wait(50)
    t0 = time.monotonic()
    assert t.cancel_and_wait(5000)
    assert time.monotonic() - t0 < 2.0
    qtbot.waitUntil(lambda: bool(cancelled), timeout=5000)


def test_failure_is_reported_with_traceback(qtbot) -> None:  # noqa: ANN001
    errors: list[BaseException] = []

    def work(progress, should_stop):  # noqa: ANN001, ANN202
        raise ValueError("bad thing")

    t = run_task(work, on_failed=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert "bad thing" in str(errors[0]) and "ValueError" in errors[0].__k49_traceback__
    assert not t.running
    assert QThread.currentThread() is not None
