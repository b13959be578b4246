"""The main window: wires the panels together, nothing more (labelme's _app.py is the warning)."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from k49desk.gui.common.settings import settings
from k49desk.gui.common.state import AppState
from k49desk.gui.common.tasks import BackgroundTask, run_task
from k49desk.paths import DEFAULT_MODEL, default_data_dir

log = logging.getLogger("k49desk")

# key, tab title, module, class, needs a data folder
PANELS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("data", "Data", "k49desk.gui.data.panel", "StartPage", False),
    ("gallery", "Gallery", "k49desk.gui.gallery.panel", "GalleryPanel", True),
    ("stats", "Statistics", "k49desk.gui.stats.panel", "StatsPanel", True),
    ("draw", "Draw", "k49desk.gui.draw.panel", "DrawPanel", False),
    ("train", "Train", "k49desk.gui.train.panel", "TrainPanel", True),
    ("review", "Review", "k49desk.gui.review.panel", "ReviewPanel", True),
)
PANEL_KEYS = tuple(p[0] for p in PANELS)
# Built with the window; the others are built on first view or when the app is idle, so
# launch-to-thumbnails does not pay for torch and pyqtgraph set-up it does not need yet.
EAGER_PANELS = ("data", "gallery")


class _NeedsData(QStackedWidget):
    """Shows the panel once a data folder is open, else a pointer to the Data tab."""

    def __init__(self, panel: QWidget, state: AppState, go_data: callable) -> None:
        super().__init__()
        empty = QWidget()
        lay = QVBoxLayout(empty)
        lay.addStretch(1)
        msg = QLabel("No data folder is open.\nOpen K49, download it, or try the demo data.")
        msg.setAlignment(Qt.AlignmentFlag.AlignCenter)
        msg.setStyleSheet("font-size: 16px; color: palette(mid);")
        btn = QPushButton("Go to Data…")
        btn.clicked.connect(go_data)
        lay.addWidget(msg)
        lay.addWidget(btn, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(2)
        self.addWidget(empty)
        self.addWidget(panel)
        self.panel = panel
        state.dataset_changed.connect(lambda ds: self.setCurrentIndex(0 if ds is None else 1))
        self.setCurrentIndex(0 if state.dataset is None else 1)


def _unavailable(title: str, error: BaseException) -> QWidget:
    w = QLabel(f"{title} is not available in this build.\n\n{type(error).__name__}: {error}")
    w.setAlignment(Qt.AlignmentFlag.AlignCenter)
    w.setWordWrap(True)
    return w


class MainWindow(QMainWindow):
    def __init__(self, state: AppState | None = None) -> None:
        super().__init__()
        self.setWindowTitle("k49desk — Kuzushiji-49 workbench")
        self.state = state or AppState(self)
        self.panels: dict[str, QWidget] = {}
        self._tasks: list[BackgroundTask] = []
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._pages: dict[str, QStackedWidget] = {}
        for key, title, *_rest in PANELS:
            page = QStackedWidget()  # holds the panel once built (lazily, see panel())
            self._pages[key] = page
            self.tabs.addTab(page, title)
        for key in EAGER_PANELS:
            self.panel(key)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.setCentralWidget(self.tabs)
        self._idle_waits = 0
        self._build_status_bar()
        self._build_menus()
        self.state.dataset_changed.connect(self._update_status)
        self.state.model_changed.connect(self._update_status)
        self.state.status_message.connect(lambda m: self.statusBar().showMessage(m, 10000))
        self.state.gallery_requested.connect(lambda _req: self.show_panel("gallery"))
        self._restore_geometry()
        self._update_status()

    # ---- panels -------------------------------------------------------------------------
    def panel(self, key: str) -> QWidget:
        """The panel for `key`, building it on first use."""
        if key in self.panels:
            return self.panels[key]
        _k, title, mod, cls, needs_data = next(p for p in PANELS if p[0] == key)
        try:
            panel = getattr(importlib.import_module(mod), cls)(self.state)
        except Exception as e:  # noqa: BLE001  (one broken panel must not take the app down)
            log.exception("panel %s failed to load", key)
            panel = _unavailable(title, e)
        self.panels[key] = panel
        inner = (
            _NeedsData(panel, self.state, lambda: self.show_panel("data")) if needs_data else panel
        )
        self._pages[key].addWidget(inner)
        if key == "data" and hasattr(panel, "dataset_opened"):
            panel.dataset_opened.connect(self._on_dataset_opened)
        return panel

    def build_all_panels(self) -> None:
        for key in PANEL_KEYS:
            self.panel(key)

    def _build_rest_when_idle(self) -> None:
        """Build one remaining panel per idle turn; wait for torch to be imported off-thread."""
        import sys

        rest = [k for k in PANEL_KEYS if k not in self.panels]
        if not rest:
            return
        if "torch" not in sys.modules and self._idle_waits < 50:
            self._idle_waits += 1
            QTimer.singleShot(200, self._build_rest_when_idle)
            return
        self.panel(rest[0])
        QTimer.singleShot(50, self._build_rest_when_idle)

    # ---- set-up -------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self._data_label = QLabel()
        self._demo_label = QLabel(" GENERATED DEMO DATA — not real K49 ")
        self._demo_label.setStyleSheet(
            "background:#b45309;color:white;border-radius:3px;font-weight:bold;"
        )
        self._model_label = QLabel()
        sb.addPermanentWidget(self._demo_label)
        sb.addPermanentWidget(self._data_label)
        sb.addPermanentWidget(self._model_label)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self._act(
            file_menu, "&Open data folder…", QKeySequence.StandardKey.Open, self.choose_folder
        )
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._act(
            file_menu,
            "&Download Kuzushiji-49…",
            None,
            lambda: self._start_page_call("start_download"),
        )
        self._act(
            file_menu, "Generate &demo data…", None, lambda: self._start_page_call("start_demo")
        )
        self._act(file_menu, "&Close data folder", "Ctrl+W", lambda: self.state.set_dataset(None))
        file_menu.addSeparator()
        self._act(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        view = mb.addMenu("&View")
        for i, (key, title, *_rest) in enumerate(PANELS):
            self._act(view, title, f"Ctrl+{i + 1}", lambda _=False, k=key: self.show_panel(k))
        view.addSeparator()
        self._act(view, "&Full screen", "F11", self._toggle_full_screen)
        model = mb.addMenu("&Model")
        self._act(model, "&Load checkpoint…", "Ctrl+L", self.choose_model)
        self._act(model, "Use the &default model", None, lambda: self.load_model(DEFAULT_MODEL))
        self._act(model, "Show model &card", "Ctrl+I", self.show_model_card)
        help_menu = mb.addMenu("&Help")
        self._act(help_menu, "&Keyboard shortcuts", "F1", self.show_shortcuts)
        self._act(help_menu, "&About k49desk", None, self.show_about)

    def _act(self, menu, text: str, shortcut, slot) -> QAction:  # noqa: ANN001
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    # ---- start-up -----------------------------------------------------------------------
    def start(
        self,
        data_dir: str | None = None,
        demo: bool = False,
        panel: str | None = None,
        load_model: bool = True,
    ) -> None:
        """Open the given/last folder in the background (or make the demo set), then a model."""
        s = settings()
        if demo:
            folder = Path(data_dir) if data_dir else default_data_dir() / "demo"
        elif data_dir:
            folder = Path(data_dir)
        else:
            last = s.value("data/last_folder")
            folder = Path(last) if last else default_data_dir()
        self.show_panel(panel or "gallery")
        self._open_at_start(folder, demo)
        if load_model:
            QTimer.singleShot(0, self._load_initial_model)  # imports torch on a worker thread
        QTimer.singleShot(300, self._build_rest_when_idle)

    def _open_at_start(self, folder: Path, demo: bool) -> None:
        from k49desk.core.dataset import open_dataset

        start = self.panels["data"]

        def failed(e: BaseException) -> None:
            if demo and hasattr(start, "start_demo"):
                self.show_panel("data")
                start.start_demo(target=folder) if _accepts_target(start) else start.start_demo()
                return
            self.show_panel("data")
            self.statusBar().showMessage(f"Could not open {folder}: {e}", 15000)

        if not folder.exists() and not demo:
            self.show_panel("data")
            return
        self.statusBar().showMessage(f"Opening {folder}…")
        self._tasks.append(
            run_task(
                lambda p, s: open_dataset(folder),
                on_finished=self._on_dataset_opened,
                on_failed=failed,
            )
        )

    def _load_initial_model(self) -> None:
        last = settings().value("model/last_path")
        path = Path(last) if last and Path(last).exists() else DEFAULT_MODEL
        if path.exists():
            self.load_model(path, quiet=True)

    # ---- data ---------------------------------------------------------------------------
    def _on_dataset_opened(self, ds: object) -> None:
        if self.state.dataset is not ds:
            self.state.set_dataset(ds)
        root = str(Path(ds.root).resolve())
        settings().setValue("data/last_folder", root)
        try:
            from k49desk.gui.data.panel import add_recent_folder

            add_recent_folder(root)
        except ImportError:
            pass
        if self.tabs.currentIndex() == PANEL_KEYS.index("data"):
            self.show_panel("gallery")
        self.statusBar().showMessage(f"Opened {root}", 5000)

    def choose_folder(self) -> None:
        start = str(self.state.dataset.root) if self.state.dataset else str(default_data_dir())
        d = QFileDialog.getExistingDirectory(self, "Open a K49 data folder", start)
        if d:
            self.open_folder(Path(d))

    def open_folder(self, folder: Path) -> None:
        start = self.panels["data"]
        if hasattr(start, "open_folder"):
            start.open_folder(folder)
        else:
            self._open_at_start(folder, demo=False)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        try:
            from k49desk.gui.data.panel import recent_folders

            folders = recent_folders()
        except ImportError:
            folders = []
        for f in folders:
            self.recent_menu.addAction(f, lambda f=f: self.open_folder(Path(f)))
        if not folders:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def _start_page_call(self, name: str) -> None:
        self.show_panel("data")
        fn = getattr(self.panels["data"], name, None)
        if fn:
            fn()

    # ---- model --------------------------------------------------------------------------
    def load_model(self, path: Path, quiet: bool = False) -> None:
        from k49desk.gui.app import show_error

        def loaded(m: object) -> None:
            self.state.set_model(m, Path(path))
            settings().setValue("model/last_path", str(Path(path).resolve()))
            self.statusBar().showMessage(f"Model loaded: {Path(path).name}", 5000)

        def failed(e: BaseException) -> None:
            if quiet:
                self.statusBar().showMessage(f"No model loaded: {e}", 15000)
            else:
                show_error("Cannot load the model", e, self)

        def work(progress, should_stop):  # noqa: ANN001, ANN202
            from k49desk.core.model import load_checkpoint

            return load_checkpoint(path)

        self._tasks.append(run_task(work, on_finished=loaded, on_failed=failed))

    def choose_model(self) -> None:
        from k49desk.paths import MODELS_DIR

        f, _ = QFileDialog.getOpenFileName(
            self,
            "Load a k49desk checkpoint",
            str(MODELS_DIR),
            "k49desk checkpoints (*.pt);;All files (*)",
        )
        if f:
            self.load_model(Path(f))

    def model_card_text(self) -> str:
        m = self.state.model
        if m is None:
            return "No model is loaded. Train one in the Train panel or load a checkpoint (Ctrl+L)."
        card = m.card() if hasattr(m, "card") else {}
        lines = [f"<b>{k}</b>: {v}" for k, v in card.items()]
        if self.state.model_path:
            lines.insert(0, f"<b>file</b>: {self.state.model_path}")
        return "<br>".join(lines)

    def show_model_card(self) -> None:
        QMessageBox.information(self, "Model card", self.model_card_text())

    # ---- chrome -------------------------------------------------------------------------
    def show_panel(self, key: str) -> None:
        if key in PANEL_KEYS:
            self.tabs.setCurrentIndex(PANEL_KEYS.index(key))

    def _on_tab_changed(self, i: int) -> None:
        panel = self.panel(PANEL_KEYS[i]) if 0 <= i < len(PANEL_KEYS) else None
        if panel is not None and hasattr(panel, "on_shown"):
            panel.on_shown()

    def _update_status(self, *_args: object) -> None:
        ds = self.state.dataset
        if ds is None:
            self._data_label.setText("No data folder")
            self._demo_label.setVisible(False)
        else:
            counts = ", ".join(f"{s} {len(ds.splits[s]):,}" for s in ds.split_names)
            self._data_label.setText(f"{ds.root}  ·  {counts}")
            self._demo_label.setVisible(bool(ds.is_demo))
        m = self.state.model
        self._model_label.setText(
            f"Model: {self.state.model_path.name}"
            if m is not None and self.state.model_path
            else "No model"
        )
        title = "k49desk — Kuzushiji-49 workbench"
        if ds is not None:
            title += f" — {Path(ds.root).name}" + (" (generated demo data)" if ds.is_demo else "")
        self.setWindowTitle(title)

    def _toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def show_shortcuts(self) -> None:
        rows = [
            ("Ctrl+O", "open a data folder"),
            ("Ctrl+1…6", "switch panels"),
            ("Ctrl+L / Ctrl+I", "load a model / show its card"),
            ("Gallery: arrows, PgUp/PgDn", "move; Ctrl+K cycles classes; Ctrl+G jumps to index"),
            ("Draw: Ctrl+Z / Ctrl+Shift+Z / Esc", "undo / redo / clear"),
            ("Review: 1 2 3 4 ?", "keep / accept / relabel (type romaji) / unusable / unsure"),
            ("Review: ← →, Ctrl+Z", "move, undo"),
            ("F11", "full screen"),
            ("Ctrl+Q", "quit"),
        ]
        html = (
            "<table>"
            + "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in rows)
            + "</table>"
        )
        QMessageBox.information(self, "Keyboard shortcuts", html)

    def show_about(self) -> None:
        from k49desk import __version__

        QMessageBox.about(
            self,
            "About k49desk",
            (
                f"<b>k49desk {__version__}</b><br>A workbench for Kuzushiji-49.<br><br>"
                'Data: "KMNIST Dataset" (created by CODH), adapted from "Kuzushiji Dataset" '
                "(created by NIJL and others), doi:10.20676/00000341, CC BY-SA 4.0."
            ),
        )

    def _restore_geometry(self) -> None:
        s = settings()
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray | bytes) and self.restoreGeometry(geo):
            return
        self.resize(1400, 900)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        for panel in list(self.panels.values()):
            shutdown = getattr(panel, "shutdown", None)
            if shutdown is not None and shutdown() is False:
                event.ignore()
                return
        for t in self._tasks:
            t.cancel_and_wait(5000)
        settings().setValue("window/geometry", self.saveGeometry())
        event.accept()


def _accepts_target(start: object) -> bool:
    import inspect

    try:
        return "target" in inspect.signature(start.start_demo).parameters
    except (TypeError, ValueError):
        return False
