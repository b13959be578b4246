"""The one progress type of k49desk, and the stop check that goes with it.

Core code reports through a plain callable and polls a plain `should_stop()`; it knows nothing
of threads, signals or terminals (Orange3's `progress_callback`). The CLI adapts the same
callable to a tqdm bar, the GUI to a throttled Qt signal carrying a `ProgressUpdate`.

    def long_job(..., progress: Progress | None = None, should_stop: ShouldStop | None = None):
        report(progress, 0.5, "Halfway", payload=some_event)   # payload: TrainEvent, ...
        check_stop(should_stop)                                  # raises Cancelled
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from k49desk.core.errors import Cancelled


class Progress(Protocol):
    """`progress(fraction, text, payload=None)`: fraction in [0, 1] or None (unknown)."""

    def __call__(self, fraction: float | None, text: str, payload: Any = None) -> None: ...


ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class ProgressUpdate:
    """One progress report as the GUI receives it (the arguments of a `Progress` call)."""

    fraction: float | None
    text: str
    payload: Any = None


def report(progress: Progress | None, fraction: float | None, text: str,
           payload: Any = None) -> None:
    """Call `progress` if there is one (most core functions take `progress=None`)."""
    if progress is not None:
        progress(fraction, text, payload)


def scaled(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    """A `Progress` mapping a sub-task's [0, 1] onto [lo, hi] of the caller's bar."""
    if progress is None:
        return None

    def sub(fraction: float | None, text: str, payload: Any = None) -> None:
        f = None if fraction is None else lo + (hi - lo) * min(max(fraction, 0.0), 1.0)
        progress(f, text, payload)

    return sub


def stop_requested(should_stop: ShouldStop | None) -> bool:
    return should_stop is not None and bool(should_stop())


def check_stop(should_stop: ShouldStop | None) -> None:
    """Raise `Cancelled` when a stop was requested (for work with no partial result)."""
    if stop_requested(should_stop):
        raise Cancelled("stopped on request")
