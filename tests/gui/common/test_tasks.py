"""The one background-work module: results on the GUI thread, cancel, supersede, service mode,
the default error path, and no thread left running."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtWidgets import QWidget

from k49desk.core.errors import Cancelled, K49Error
from k49desk.core.progress import ProgressUpdate
from k49desk.gui.common import tasks as tasks_mod
from k49desk.gui.common.tasks import TaskOwner


@pytest.fixture
def owner(qtbot) -> TaskOwner:  # noqa: ANN001
    w = QWidget()
    qtbot.addWidget(w)
    statuses: list[str] = []
    o = TaskOwner(w, statuses.append)
    o.statuses = statuses  # type: ignore[attr-defined]
    yield o
    o.shutdown()


def test_result_and_progress_arrive_on_the_gui_thread(qtbot, owner: TaskOwner) -> None:  # noqa: ANN001
    gui = threading.current_thread()
    seen: list[tuple[str, object]] = []

    def work(progress, should_stop):  # noqa: ANN001, ANN202
        progress(0.5, "half", {"k": 1})
        return threading.current_thread() is not gui

    t = owner.run("job", work, on_finished=lambda r: seen.append(("f", r)),
                  on_progress=lambda u: seen.append(("p", u)))
    with qtbot.waitSignal(t.done, timeout=10000):
        pass
    assert ("f", True) in seen
    ups = [u for k, u in seen if k == "p"]
    assert ups == [ProgressUpdate(0.5, "half", {"k": 1})]
    assert not owner.running("job")


def test_the_worker_is_destroyed_on_the_gui_thread(qtbot, owner: TaskOwner) -> None:  # noqa: ANN001
    """~QObject on the task's thread deadlocked against the GUI thread (a pooled connection
    lock vs the GIL): the worker is handed back to the GUI thread before it is deleted."""
    from PySide6.QtCore import Qt

    gui = threading.get_ident()
    died_on: list[int] = []
    t = owner.run("job", lambda progress, should_stop: 1)
    t.worker.destroyed.connect(lambda *_: died_on.append(threading.get_ident()),
                               Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(t.done, timeout=10000):
        pass
    qtbot.waitUntil(lambda: bool(died_on), timeout=10000)
    assert died_on == [gui]


def test_done_always_arrives_before_the_task_stops_being_busy(qtbot, owner: TaskOwner) -> None:  # noqa: ANN001
    """Owners re-enable their buttons on `done`; a worker deleted as soon as it emitted
    `done` dropped it now and then (about one failing task in two)."""
    def fail(progress, should_stop):  # noqa: ANN001, ANN202
        raise ValueError("no")

    for _ in range(20):
        seen: list[str] = []
        owner.run("job", fail, on_failed=lambda e: seen.append("failed"),
                  on_done=lambda: seen.append("done"))
        qtbot.waitUntil(lambda: not owner.running("job"), timeout=10000)
        qtbot.wait(20)
        assert seen == ["failed", "done"]


def test_progress_is_throttled_but_unthrottled_when_asked(qtbot, owner: TaskOwner) -> None:  # noqa: ANN001
    def work(progress, should_stop):  # noqa: ANN001, ANN202
        for i in range(200):
            progress(i / 200, "", i)

    got: list[ProgressUpdate] = []
    t = owner.run("a", work, on_progress=got.append, min_interval_s=10.0)
    qtbot.waitUntil(lambda: not t.running, timeout=10000)
    qtbot.wait(50)
    assert len(got) == 1  # the first; the rest fall within the interval
    every: list[ProgressUpdate] = []
    t = owner.run("b", work, on_progress=every.append, min_interval_s=0)
    qtbot.waitUntil(lambda: not t.running, timeout=10000)
    qtbot.waitUntil(lambda: len(every) == 200, timeout=5000)
    assert [u.payload for u in every] == list(range(200))


def test_cancel_and_wait_returns_promptly(qtbot, owner: TaskOwner) -> None:  # noqa: ANN001
    def work(progress, should_stop):  # noqa: ANN001, ANN202
        while not should_stop():
            time.sleep(0.01)
        raise Cancelled("stopped")

    t = owner.run("loop", work)
    qtbot.wait(50)
    t0 = time.monotonic()
    assert t.cancel_and_wait(5000)
    assert time.monotonic() - t0 < 2.0


def test_stop_keeps_listening_and_reports_cancelled(qtbot, owner: TaskOwner) -> None:  # noqa: ANN001
    def work(progress, should_stop):  # noqa: ANN001, ANN202
        while not should_stop():
            time.sleep(0.01)
        raise Cancelled("stopped")

    cancelled: list[bool] = []
    owner.run("loop", work, on_cancelled=lambda: cancelled.append(True))
    qtbot.wait(30)
    owner.stop("loop")
    qtbot.waitUntil(lambda: cancelled == [True], timeout=5000)


def test_a_new_task_in_a_slot_supersedes_and_drops_the_old_result(qtbot, owner: TaskOwner) -> None:  # noqa: ANN001
    release = threading.Event()
    results: list[str] = []

    def slow(progress, should_stop):  # noqa: ANN001, ANN202
        release.wait(5)
        return "old"

    old = owner.run("eval", slow, on_finished=results.append)
    new = owner.run("eval", lambda p, s: "new", on_finished=results.append)
    qtbot.waitUntil(lambda: not new.running, timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: not old.running, timeout=5000)
    qtbot.wait(50)
    assert results == ["new"]
    assert old.stop_event.is_set()  # the superseded work was asked to stop


def test_failures_go_to_the_one_error_path(qtbot, owner: TaskOwner, error_dialogs: list) -> None:  # noqa: ANN001
    def bad_file(progress, should_stop):  # noqa: ANN001, ANN202
        raise K49Error("x.npz: 3 labels for 4 images")

    def bug(progress, should_stop):  # noqa: ANN001, ANN202
        raise ZeroDivisionError("division by zero")

    t = owner.run("a", bad_file, error_title="Cannot open")
    qtbot.waitUntil(lambda: not t.running, timeout=5000)
    t = owner.run("b", bug, error_title="Oops")
    qtbot.waitUntil(lambda: len(error_dialogs) == 2, timeout=5000)
    assert error_dialogs[0] == ("Cannot open", "x.npz: 3 labels for 4 images")
    assert error_dialogs[1] == ("Oops", "ZeroDivisionError: division by zero")
    assert owner.statuses[0] == "Cannot open: x.npz: 3 labels for 4 images"  # type: ignore[attr-defined]
    from k49desk.gui.common.errors import log_file

    assert "ZeroDivisionError" in log_file().read_text()  # the bug is logged with its trace


def test_service_runs_requests_on_one_thread_latest_wins(qtbot, owner: TaskOwner) -> None:  # noqa: ANN001
    gate = threading.Event()
    threads: set[int] = set()

    def fn(req: int) -> int:
        threads.add(threading.get_ident())
        if req == 1:
            gate.wait(5)
        return req * 10

    got: list[int] = []
    svc = owner.service("svc", fn, on_finished=got.append)
    svc.submit(1)
    for r in (2, 3, 4):  # while 1 runs: collapse into the newest
        svc.submit(r)
    assert svc.busy
    gate.set()
    qtbot.waitUntil(lambda: not svc.busy, timeout=5000)
    assert got == [40]  # 1's result is stale (4 was asked since); 2 and 3 never ran
    svc.submit(5)
    qtbot.waitUntil(lambda: got == [40, 50], timeout=5000)
    assert len(threads) == 1 and threading.get_ident() not in threads
    svc.invalidate()  # e.g. the canvas was cleared: nothing in flight is shown
    assert not owner.running("nothing")


def test_destroying_the_owner_widget_stops_its_threads(qtbot) -> None:  # noqa: ANN001
    w = QWidget()
    o = TaskOwner(w)
    svc = o.service("svc", lambda r: r)
    assert svc in tasks_mod._live
    w.deleteLater()
    # its thread ended and was released (a QThread destroyed while running would abort)
    qtbot.waitUntil(lambda: svc not in tasks_mod._live, timeout=5000)


def test_wait_for_all_leaves_nothing_running(qtbot, owner: TaskOwner) -> None:  # noqa: ANN001
    def work(progress, should_stop):  # noqa: ANN001, ANN202
        while not should_stop():
            time.sleep(0.01)

    owner.run("a", work)
    owner.service("b", lambda r: r)
    qtbot.wait(30)
    assert tasks_mod.wait_for_all(5000)
    assert all(not t.thread.isRunning() for t in list(tasks_mod._live))
