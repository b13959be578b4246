"""The GUI's one error path, its log, and the last-resort exception hook.

- `show_error(parent, title, exc)`: a `K49Error`/`OSError` is something a person can act on,
  shown as its message; anything else is a bug, shown with its type, its traceback under
  "Show Details…" and written to the log.
- `install_excepthook()`: an uncaught exception (in a slot, on any thread) is logged and, on
  the GUI thread, shown in a dialog instead of killing the app silently.

The log lives in the per-user log folder; `K49DESK_LOG_DIR` moves it (tests set it).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from k49desk.core.errors import K49Error

log = logging.getLogger("k49desk")


def log_file() -> Path:
    env = os.environ.get("K49DESK_LOG_DIR")
    if env:
        d = Path(env)
    else:
        import platformdirs

        d = Path(platformdirs.user_log_dir("k49desk"))
    d.mkdir(parents=True, exist_ok=True)
    return d / "k49desk.log"


_handler: logging.Handler | None = None


def setup_logging() -> None:
    """Log to `log_file()` (again if it moved: tests give every test its own folder)."""
    global _handler
    try:
        path = log_file()
    except OSError:
        path = None
    if _handler is not None and getattr(_handler, "baseFilename", None) == (
            str(path.resolve()) if path else None):
        return
    if _handler is not None:
        log.removeHandler(_handler)
        _handler.close()
    try:
        h: logging.Handler = (logging.FileHandler(path, encoding="utf-8") if path
                              else logging.StreamHandler())
    except OSError:
        h = logging.StreamHandler()
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(h)
    log.setLevel(logging.INFO)
    _handler = h


def is_expected(exc: BaseException | str) -> bool:
    """Errors a person can act on (a bad file, a full disk) rather than bugs."""
    return isinstance(exc, K49Error | OSError | str)


def error_text(exc: BaseException | str) -> str:
    if is_expected(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def show_error(parent: Any, title: str, exc: BaseException | str) -> None:
    """A dialog for an error; unexpected ones also carry their traceback and are logged."""
    from PySide6.QtWidgets import QApplication

    details = None
    if not is_expected(exc):
        details = getattr(exc, "__k49_traceback__", None) or "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__))
        setup_logging()
        log.error("%s\n%s", title, details)
    if QApplication.instance() is None:
        print(f"k49desk: {title}: {error_text(exc)}", file=sys.stderr)
        return
    informative = (f"This looks like a bug in k49desk. Details are in {log_file()}."
                   if details else "")
    present(title, error_text(exc), informative, details, parent)


def present(title: str, text: str, informative: str = "", details: str | None = None,
            parent: Any = None) -> None:
    """Show a modal error box. The one place a QMessageBox is built for an error: tests
    replace this function to record (title, text) and never build a box."""
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok,
                      parent)
    if informative:
        box.setInformativeText(informative)
    if details:
        box.setDetailedText(details)
    box.exec()


def install_excepthook() -> None:
    """Last resort: log every uncaught exception and show it, not only on a console."""
    setup_logging()

    def hook(etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(etype, value, tb))
        setup_logging()
        log.error("uncaught exception\n%s", text)
        if issubclass(etype, KeyboardInterrupt):
            sys.__excepthook__(etype, value, tb)
            return
        try:
            from PySide6.QtCore import QThread
            from PySide6.QtWidgets import QApplication

            app = QApplication.instance()
            if app is None or QThread.currentThread() is not app.thread():
                return
            present("k49desk: unexpected error",
                    f"{etype.__name__}: {value}\n\nThe app keeps running. Details were logged "
                    f"to {log_file()}.", details=text)
        except Exception:  # noqa: BLE001  (the hook itself must never raise)
            sys.__excepthook__(etype, value, tb)

    sys.excepthook = hook
    threading.excepthook = lambda a: hook(a.exc_type, a.exc_value, a.exc_traceback)  # type: ignore[arg-type]
