"""The main window: the tab shell, the menus and the status bar. It wires panels together and
does nothing else (labelme's 3,189-line _app.py is the warning)."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from k49desk.gui.common import settings
from k49desk.gui.common.panel import Panel
from k49desk.gui.common.state import AppState
from k49desk.gui.common.tasks import TaskOwner, wait_for_all
from k49desk.gui.common.texts import model_card_html, shortcuts_html
from k49desk.gui.common.widgets import ElidedLabel, StatusBar, show_message_log
from k49desk.gui.data.panel import DataPanel
from k49desk.paths import DEFAULT_MODEL, default_data_dir

log = logging.getLogger("k49desk")

# key, tab title, "module:Class". Data and Gallery are built with the window; the others on
# first view or when the app is idle, so launch-to-thumbnails does not pay for torch and
# pyqtgraph set-up it does not need yet.
PANELS: tuple[tuple[str, str, str], ...] = (
    ("data", "Data", "k49desk.gui.data.panel:DataPanel"),
    ("gallery", "Gallery", "k49desk.gui.gallery.panel:GalleryPanel"),
    ("stats", "Statistics", "k49desk.gui.stats.panel:StatsPanel"),
    ("draw", "Draw", "k49desk.gui.draw.panel:DrawPanel"),
    ("train", "Train", "k49desk.gui.train.panel:TrainPanel"),
    ("review", "Review", "k49desk.gui.review.panel:ReviewPanel"),
    ("map", "Map", "k49desk.gui.map.panel:MapPanel"),
)
PANEL_KEYS = tuple(p[0] for p in PANELS)
EAGER_PANELS = ("data", "gallery")
TITLE = "k49desk — Kuzushiji-49 workbench"


class _NeedsData(QStackedWidget):
    """Shows the panel once a data folder is open, else a pointer to the Data tab (and what
    it is doing: on the first `k49desk --demo` the demo set is being generated)."""

    EMPTY = "No data folder is open.\nOpen K49, download it, or try the demo data."

    def __init__(self, panel: QWidget, state: AppState, go_data: QAction) -> None:
        super().__init__()
        empty = QWidget()
        lay = QVBoxLayout(empty)
        lay.addStretch(1)
        self.msg = QLabel(self.EMPTY)
        self.msg.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.msg.setStyleSheet("font-size: 16px; color: #4b5563;")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # what the Data tab is doing: its own bar has the numbers
        self.busy.setMaximumWidth(320)
        self.busy.hide()
        btn = QPushButton("Go to Data…")
        btn.clicked.connect(go_data.trigger)
        lay.addWidget(self.msg)
        lay.addWidget(self.busy, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addWidget(btn, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(2)
        self.addWidget(empty)
        self.addWidget(panel)
        state.dataset_changed.connect(lambda ds: self.setCurrentIndex(0 if ds is None else 1))
        self.setCurrentIndex(0 if state.dataset is None else 1)

    def set_activity(self, text: str) -> None:
        self.msg.setText(f"{text}\nThis panel opens when it is ready." if text else self.EMPTY)
        self.busy.setVisible(bool(text))


class _Unavailable(Panel):
    """Stands in for a panel that failed to build: the rest of the app keeps working."""

    needs_data = False

    def __init__(self, state: AppState, title: str, error: BaseException) -> None:
        super().__init__(state)
        label = QLabel(f"{title} is not available in this build.\n\n"
                       f"{type(error).__name__}: {error}")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        QVBoxLayout(self).addWidget(label)
        self.text = label.text


class MainWindow(QMainWindow):
    def __init__(self, state: AppState | None = None) -> None:
        super().__init__()
        self.setWindowTitle(TITLE)
        self.state = state or AppState(self)
        self.tasks = TaskOwner(self, self.state.status)  # the window's own: model loading
        self.undo_group = QUndoGroup(self)  # Edit > Undo/Redo: the active panel's history
        self.panels: dict[str, Panel] = {}
        self._pages: dict[str, QStackedWidget] = {}
        self._closing = False
        self._stay_on_data = False  # see start()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for key, title, _cls in PANELS:
            page = QStackedWidget()  # holds the panel once built (lazily, see panel())
            self._pages[key] = page
            self.tabs.addTab(page, title)
        self.setCentralWidget(self.tabs)
        self._build_status_bar()
        self._build_menus()
        for key in EAGER_PANELS:
            self.panel(key)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        st = self.state
        st.dataset_changed.connect(self._on_dataset_changed)
        st.model_changed.connect(self._update_status)
        st.status_message.connect(lambda m: self.statusBar().showMessage(m, 10000))
        st.gallery_requested.connect(lambda _req: self.show_panel("gallery"))
        st.panel_requested.connect(self.show_panel)
        self._idle_waits = 0
        self._restore_geometry()
        self._update_status()

    @property
    def data_panel(self) -> DataPanel:
        return self.panel("data")  # type: ignore[return-value]

    # ---- panels -------------------------------------------------------------------------
    def panel(self, key: str) -> Panel:
        """The panel for `key`, building it on first use."""
        if key in self.panels:
            return self.panels[key]
        _k, title, where = next(p for p in PANELS if p[0] == key)
        mod, cls = where.split(":")
        try:
            panel: Panel = getattr(importlib.import_module(mod), cls)(self.state)
        except Exception as e:  # noqa: BLE001  (one broken panel must not take the app down)
            log.exception("panel %s failed to load", key)
            panel = _Unavailable(self.state, title, e)
        self.panels[key] = panel
        inner = (_NeedsData(panel, self.state, self._go_data) if panel.needs_data else panel)
        if isinstance(inner, _NeedsData) and "data" in self.panels:
            self.data_panel.activity.connect(inner.set_activity)
            inner.set_activity(self.data_panel.activity_text)
        self._pages[key].addWidget(inner)
        if panel.undo_stack is not None:
            self.undo_group.addStack(panel.undo_stack)
        return panel

    def build_all_panels(self) -> None:
        for key in PANEL_KEYS:
            self.panel(key)

    def _build_rest_when_idle(self) -> None:
        """Build one remaining panel per idle turn; wait for torch to be imported off-thread."""
        rest = [k for k in PANEL_KEYS if k not in self.panels]
        if not rest or self._closing:
            return
        if "torch" not in sys.modules and self._idle_waits < 50:
            self._idle_waits += 1
            QTimer.singleShot(200, self._build_rest_when_idle)
            return
        self.panel(rest[0])
        QTimer.singleShot(50, self._build_rest_when_idle)

    def show_panel(self, key: str) -> None:
        if key in PANEL_KEYS:
            self.tabs.setCurrentIndex(PANEL_KEYS.index(key))

    def _on_tab_changed(self, i: int) -> None:
        if 0 <= i < len(PANEL_KEYS):
            panel = self.panel(PANEL_KEYS[i])
            self.undo_group.setActiveStack(panel.undo_stack)
            panel.on_shown()

    # ---- set-up -------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        # Messages are a label of their own (elided, full text in the tooltip, all of them in
        # View > Messages…); the permanent labels are capped so they never hide a message.
        sb = StatusBar()
        self.setStatusBar(sb)
        sb.log_requested.connect(self.show_messages)
        self._data_label = ElidedLabel()
        self._demo_label = QLabel(" DEMO DATA ")
        self._demo_label.setToolTip("Generated demo data, not real K49")
        self._demo_label.setStyleSheet(
            "background:#b45309;color:white;border-radius:3px;font-weight:bold;")
        self._model_label = ElidedLabel()
        sb.addPermanentWidget(self._demo_label)
        sb.add_permanent(self._data_label, 0.22)
        sb.add_permanent(self._model_label, 0.18)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._act(f, "&Open data folder…", QKeySequence.StandardKey.Open, self.choose_folder)
        self.recent_menu = f.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._act(f, "&Download Kuzushiji-49…", None,
                  lambda: self._data_call(self.data_panel.start_download))
        self._act(f, "Generate &demo data…", None,
                  lambda: self._data_call(self.data_panel.start_demo))
        self._act(f, "&Close data folder", "Ctrl+W", lambda: self.state.set_dataset(None))
        f.addSeparator()
        for text, method in (("&Import images…", "import_dialog"), ("&Merge folders…",
                             "merge_dialog"), ("Open &selection CSV…", "open_selection_dialog")):
            self._act(f, text, None, lambda _=False, m=method: self._gallery_call(m))
        f.addSeparator()
        self.export_menu: QMenu = f.addMenu("&Export")  # panels add their exports here
        self.export_menu.aboutToShow.connect(self._fill_exports)
        f.addSeparator()
        quit_ = self._act(f, "&Quit", None, self.close)
        # StandardKey.Quit is empty on some platforms (Windows, offscreen): Ctrl+Q everywhere.
        keys = [QKeySequence("Ctrl+Q"), *QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)]
        quit_.setShortcuts(list({k.toString(): k for k in keys if not k.isEmpty()}.values()))
        edit = mb.addMenu("&Edit")
        undo = self.undo_group.createUndoAction(self, "&Undo")
        undo.setShortcuts([QKeySequence.StandardKey.Undo])
        redo = self.undo_group.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
        for a in (undo, redo):
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            edit.addAction(a)
        self.undo_action, self.redo_action = undo, redo
        view = mb.addMenu("&View")
        for i, (key, title, _c) in enumerate(PANELS):
            self._act(view, title, f"Ctrl+{i + 1}", lambda _=False, k=key: self.show_panel(k))
        view.addSeparator()
        self._act(view, "&Messages…", "Ctrl+Shift+M", self.show_messages)
        self._act(view, "&Full screen", "F11", self._toggle_full_screen)
        model = mb.addMenu("&Model")
        self._act(model, "&Load checkpoint…", "Ctrl+L", self.choose_model)
        self._act(model, "Use the &default model", None, lambda: self.load_model(DEFAULT_MODEL))
        self._act(model, "Show model &card", "Ctrl+I", self.show_model_card)
        help_menu = mb.addMenu("&Help")
        self._act(help_menu, "&Keyboard shortcuts", "F1", self.show_shortcuts)
        self._act(help_menu, "&About k49desk", None, self.show_about)
        self._go_data = QAction("Go to Data", self)
        self._go_data.triggered.connect(lambda: self.show_panel("data"))

    def _act(self, menu: QMenu, text: str, shortcut: object, slot: object) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _fill_exports(self) -> None:
        self.export_menu.clear()
        for key in PANEL_KEYS:
            panel = self.panels.get(key)
            for text, slot in (panel.export_actions() if panel is not None else []):
                self.export_menu.addAction(f"{panel.title}: {text}", slot)
        if self.export_menu.isEmpty():
            self.export_menu.addAction("(nothing to export yet)").setEnabled(False)

    # ---- start-up -----------------------------------------------------------------------
    def start(self, data_dir: str | None = None, demo: bool = False, panel: str | None = None,
              load_model: bool = True, show_class: int | None = None,
              model: Path | None = None) -> None:
        """Open the given/last folder in the background (or the demo set, made on first
        use), then the current model (or `model`); `show_class` goes to the panel shown
        once the folder is open (`k49desk gui --class ka`)."""
        dp = self.data_panel
        self.show_panel(panel or "gallery")
        # `gui --panel data` asked for the Data page: opening the folder must not leave it
        self._stay_on_data = panel == "data"
        if show_class is not None:
            target = self.panel(panel or "gallery")
            if not target.needs_data:
                target.show_class(show_class)
            else:
                def once(ds: object) -> None:
                    if ds is not None:
                        self.state.dataset_changed.disconnect(once)
                        target.show_class(show_class)

                self.state.dataset_changed.connect(once)
        if demo:
            dp.start_demo(target=Path(data_dir) if data_dir else default_data_dir() / "demo",
                          ask=False)
        else:
            folder = Path(data_dir) if data_dir else (settings.last_folder()
                                                      or default_data_dir())
            if folder.exists():
                dp.open_folder(folder, quiet=True)
            else:
                self.show_panel("data")
        if model is not None:
            self.load_model(Path(model))
        elif load_model:
            QTimer.singleShot(0, self._load_initial_model)  # imports torch on a worker thread
        QTimer.singleShot(300, self._build_rest_when_idle)

    def _load_initial_model(self) -> None:
        path = settings.current_model_path()
        if path is None or not path.exists():
            path = DEFAULT_MODEL
        if path.exists():
            self.load_model(path, quiet=True)

    # ---- data ---------------------------------------------------------------------------
    def _on_dataset_changed(self, ds: object) -> None:
        self._update_status()
        if ds is not None and self.tabs.currentIndex() == PANEL_KEYS.index("data"):
            if self._stay_on_data:
                self._stay_on_data = False  # once: a folder opened later shows its images
                return
            self.show_panel("gallery")

    def choose_folder(self) -> None:
        start = str(self.state.dataset.root) if self.state.dataset else str(default_data_dir())
        d = QFileDialog.getExistingDirectory(self, "Open a K49 data folder", start)
        if d:
            self.data_panel.open_folder(Path(d))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        folders = settings.recent_folders()
        for f in folders:
            self.recent_menu.addAction(f, lambda f=f: self.data_panel.open_folder(Path(f)))
        if not folders:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def _gallery_call(self, method: str) -> None:
        """File > Import / Merge / Open selection: the Gallery does them (and shows them)."""
        self.show_panel("gallery")
        getattr(self.panel("gallery"), method)()

    def _data_call(self, fn: object) -> None:
        self.show_panel("data")
        fn()  # type: ignore[operator]

    # ---- model --------------------------------------------------------------------------
    def load_model(self, path: Path, quiet: bool = False) -> None:
        """Load a checkpoint in the background and make it the current model."""
        path = Path(path)

        def work(progress, should_stop):  # noqa: ANN001, ANN202, ARG001
            from k49desk.core.model import load_checkpoint

            return load_checkpoint(path)

        def loaded(m: object) -> None:
            self.state.set_model(m, path)  # type: ignore[arg-type]
            self.state.status(f"Model loaded: {path.name}")

        failed = ((lambda e: self.state.status(f"No model loaded: {e}")) if quiet
                  else None)
        kw = {"on_failed": failed} if quiet else {}
        self.tasks.run("model", work, on_finished=loaded, error_title="Cannot load the model",
                       **kw)

    def choose_model(self) -> None:
        from k49desk.core.runs import models_dir

        f, _ = QFileDialog.getOpenFileName(self, "Load a k49desk checkpoint", str(models_dir()),
                                           "k49desk checkpoints (*.pt);;All files (*)")
        if f:
            self.load_model(Path(f))

    def model_card_text(self) -> str:
        return model_card_html(self.state.model)

    def show_model_card(self) -> None:
        QMessageBox.information(self, "Model card", self.model_card_text())

    # ---- chrome -------------------------------------------------------------------------
    def _update_status(self, *_args: object) -> None:
        ds = self.state.dataset
        if ds is None:
            self._data_label.setText("No data folder")
            self._data_label.setToolTip("")
            self._demo_label.setVisible(False)
        else:
            counts = ", ".join(f"{s} {len(ds.splits[s]):,}" for s in ds.split_names)
            self._data_label.setText(f"{Path(ds.root).name}  ·  {counts}")
            self._data_label.setToolTip(str(ds.root))
            self._demo_label.setVisible(ds.is_demo)
        m, p = self.state.model, self.state.model_path
        self._model_label.setText(f"Model: {p.name}" if m is not None and p else "No model")
        self._model_label.setToolTip(m.summary() if m is not None else "")
        title = TITLE
        if ds is not None:
            title += f" — {Path(ds.root).name}" + (" (generated demo data)" if ds.is_demo else "")
        self.setWindowTitle(title)

    def show_messages(self) -> QWidget:
        """The status messages of this session (the bar shows only the last, elided)."""
        return show_message_log(self, self.statusBar())  # type: ignore[arg-type]

    def _toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", shortcuts_html())

    def show_about(self) -> None:
        from k49desk import __version__

        QMessageBox.about(
            self, "About k49desk",
            f"<b>k49desk {__version__}</b><br>A workbench for Kuzushiji-49.<br><br>"
            'Data: "KMNIST Dataset" (created by CODH), adapted from "Kuzushiji Dataset" '
            "(created by NIJL and others), doi:10.20676/00000341, CC BY-SA 4.0.")

    def _restore_geometry(self) -> None:
        geo = settings.window_geometry()
        if geo is not None and self.restoreGeometry(geo):
            return
        # First run: 1400x900, or less on a smaller screen (the window must fit on it).
        avail = self.screen().availableGeometry()
        w = min(1400, int(avail.width() * 0.95))
        h = min(900, int(avail.height() * 0.92))
        self.resize(w, h)
        self.move(avail.x() + (avail.width() - w) // 2, avail.y() + (avail.height() - h) // 2)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if not all(p.can_close() for p in self.panels.values()):
            event.ignore()
            return
        self._closing = True
        for p in list(self.panels.values()):
            p.shutdown()
        self.tasks.shutdown()
        wait_for_all()
        settings.set_window_geometry(self.saveGeometry())
        event.accept()
