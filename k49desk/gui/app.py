"""Application entry: check the desktop, create the QApplication, show the main window."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def make_app(argv: list[str] | None = None):  # noqa: ANN201  (QApplication, imported late)
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from k49desk.gui.common.fonts import bundled_families

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv or [sys.argv[0]])
        app.setApplicationName("k49desk")
        app.setOrganizationName("k49desk")
        app.setApplicationDisplayName("k49desk")
    bundled_families()
    return app


def desktop_problem() -> str | None:
    """Why a window cannot open here (no display, missing X11 libraries), or None."""
    if (sys.platform.startswith("linux") and "QT_QPA_PLATFORM" not in os.environ
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        return ("k49desk: no display found (DISPLAY is unset); run it on a desktop, or use "
                "`k49desk gui --screenshot out.png` / the CLI commands.")
    from k49desk.gui.common.system_libs import check_before_qt

    return check_before_qt()  # Qt would abort with a cryptic plugin error: say what to install


def run_app(data_dir: str | None = None, demo: bool = False, panel: str | None = None,
            show_class: int | None = None, model: str | None = None) -> int:
    """Launch the desktop app (blocks until the window closes)."""
    problem = desktop_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 3
    app = make_app()
    from k49desk.gui.common.errors import install_excepthook
    from k49desk.gui.main_window import MainWindow

    install_excepthook()
    win = MainWindow()
    win.show()
    win.start(data_dir=data_dir, demo=demo, panel=panel, show_class=show_class,
              model=Path(model) if model else None)
    return app.exec()
