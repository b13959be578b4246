"""Application entry: QApplication, last-resort exception hook, main window."""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType

log = logging.getLogger("k49desk")


def log_file() -> Path:
    import platformdirs

    d = Path(platformdirs.user_log_dir("k49desk"))
    d.mkdir(parents=True, exist_ok=True)
    return d / "k49desk.log"


def setup_logging() -> None:
    if log.handlers:
        return
    try:
        h: logging.Handler = logging.FileHandler(log_file(), encoding="utf-8")
    except OSError:
        h = logging.StreamHandler()
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(h)
    log.setLevel(logging.INFO)


def show_error(title: str, exc: BaseException | str, parent: object = None) -> None:
    """A dialog for an error a person should see (K49Error: message only; else + details)."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from k49desk.core.errors import K49Error

    if QApplication.instance() is None:
        print(f"k49desk: {title}: {exc}", file=sys.stderr)
        return
    text = (
        str(exc) if isinstance(exc, K49Error | OSError | str) else (f"{type(exc).__name__}: {exc}")
    )
    box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, parent)
    details = getattr(exc, "__k49_traceback__", None)
    if details and not isinstance(exc, K49Error):
        box.setDetailedText(details)
    box.exec()


def install_excepthook() -> None:
    """Last resort: log every uncaught exception and show it in a dialog, not only on a console."""
    setup_logging()

    def hook(etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(etype, value, tb))
        log.error("uncaught exception\n%s", text)
        if issubclass(etype, KeyboardInterrupt):
            sys.__excepthook__(etype, value, tb)
            return
        try:
            from PySide6.QtCore import QThread
            from PySide6.QtWidgets import QApplication, QMessageBox

            app = QApplication.instance()
            if app is None or QThread.currentThread() is not app.thread():
                return
            box = QMessageBox(
                QMessageBox.Icon.Critical,
                "k49desk: unexpected error",
                f"{etype.__name__}: {value}\n\nThe app keeps running. Details were "
                f"logged to {log_file()}.",
                QMessageBox.StandardButton.Ok,
            )
            box.setDetailedText(text)
            box.exec()
        except Exception:  # noqa: BLE001  (the hook itself must never raise)
            sys.__excepthook__(etype, value, tb)

    sys.excepthook = hook
    threading.excepthook = lambda a: hook(a.exc_type, a.exc_value, a.exc_traceback)  # type: ignore[arg-type]


def make_app(argv: list[str] | None = None):  # noqa: ANN201
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            __import__(
                "PySide6.QtCore", fromlist=["Qt"]
            ).Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
        app = QApplication(argv or [sys.argv[0]])
        app.setApplicationName("k49desk")
        app.setOrganizationName("k49desk")
        app.setApplicationDisplayName("k49desk")
    from k49desk.gui.common.fonts import bundled_families

    bundled_families()
    return app


def run_app(data_dir: str | None = None, demo: bool = False, panel: str | None = None) -> int:
    """Launch the desktop app (blocks until the window closes)."""
    if (
        not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and sys.platform.startswith("linux")
        and "QT_QPA_PLATFORM" not in os.environ
    ):
        print(
            "k49desk: no display found (DISPLAY is unset); run it on a desktop, or use "
            "`k49desk gui --screenshot out.png` / the CLI commands.",
            file=sys.stderr,
        )
        return 2
    from k49desk.gui.common.system_libs import check_before_qt

    missing = check_before_qt()
    if missing:  # Qt would abort with a cryptic plugin error: say what to install instead
        print(missing, file=sys.stderr)
        return 3
    app = make_app()
    install_excepthook()
    from k49desk.gui.main_window import MainWindow

    win = MainWindow()
    win.show()
    win.start(data_dir=data_dir, demo=demo, panel=panel)
    return app.exec()
