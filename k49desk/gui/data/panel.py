"""The start page (Data tab): download K49, open a folder, or generate demo data.

All three run in the background (`run_task`); the page only shows progress and errors.
Recent folders live in QSettings (`recent_folders`, most recent first) so that the main
window's File menu can list them too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.download import TOTAL_BYTES, format_bytes
from k49desk.core.errors import K49Error
from k49desk.core.progress import ProgressUpdate
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.common.settings import settings
from k49desk.gui.common.state import AppState
from k49desk.gui.common.tasks import BackgroundTask, run_task
from k49desk.gui.data.widgets import STYLE, ProgressArea, RecentList, card, centred_scroll
from k49desk.paths import default_data_dir

RECENT_KEY = "recent_folders"
MAX_RECENT = 8
DEMO_PER_CLASS = 300  # 49 x 300 train images: generated in a few seconds on one core
DOWNLOAD_TEXT = f"Download Kuzushiji-49 (about {TOTAL_BYTES / 1e6:.0f} MB)"
OFFLINE_HINT = ("Check the internet connection and try again (a stopped download resumes), "
                "or open a folder you already have, or try the demo data.")


def recent_folders() -> list[str]:
    """Folders opened before, most recent first (at most 8)."""
    value = settings().value(RECENT_KEY, [])
    if isinstance(value, str):  # QSettings' ini format returns a one-item list as a str
        value = [value]
    return [str(v) for v in (value or []) if v][:MAX_RECENT]


def add_recent_folder(path: str | os.PathLike[str]) -> None:
    """Put `path` first in the recent folders (absolute, no duplicates, at most 8)."""
    p = str(Path(path).resolve())
    folders = [p] + [f for f in recent_folders() if f != p]
    settings().setValue(RECENT_KEY, folders[:MAX_RECENT])


class StartPage(QWidget):
    dataset_opened = Signal(object)  # K49Dataset, after state.set_dataset
    busy_changed = Signal(bool)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.target_dir = default_data_dir()
        self._task: BackgroundTask | None = None
        self._kind = ""  # "download" | "demo" | "open" while busy
        self.last_error = ""
        self.setStyleSheet(STYLE)

        self.title = QLabel("Kuzushiji-49")
        self.title.setFont(hiragana_font(26, bold=True))
        # The 49 classes, as a reminder of what the data is.
        self.chars = QLabel("あいうえお かきくけこ さしすせそ たちつてと なにぬねの はひふへほ "
                            "まみむめも やゆよ らりるれろ わゐゑを んゝ")
        self.chars.setFont(hiragana_font(14))
        self.chars.setStyleSheet("color: #6b7280;")
        self.chars.setWordWrap(True)
        self.subtitle = QLabel(
            "270,912 handwritten hiragana from classical Japanese books, 28×28 pixels, in 49 "
            "classes that are far from balanced: ゑ has 392 training images, あ has 6,000.")
        self.subtitle.setWordWrap(True)
        self.subtitle.setFont(hiragana_font(12))
        self.current_label = QLabel()
        self.current_label.setWordWrap(True)

        self.download_button = QPushButton(DOWNLOAD_TEXT)
        self.target_label = QLabel()
        self.target_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.change_target_button = QPushButton("Change…")
        self.change_target_button.clicked.connect(self.choose_target)
        target_row = QHBoxLayout()
        target_row.addWidget(self.target_label)
        target_row.addWidget(self.change_target_button)
        target_row.addStretch(1)
        download_card = card(
            self.download_button,
            "The five official files from CODH (codh.rois.ac.jp). Each is checked against its "
            "published md5 before it is installed; a stopped download resumes where it left "
            "off.", target_row, primary=True)
        self.open_button = QPushButton("Open folder…")
        open_card = card(
            self.open_button,
            "A folder you already have with <tt>k49-train-imgs.npz</tt>, "
            "<tt>k49-train-labels.npz</tt>, <tt>k49-test-imgs.npz</tt>, "
            "<tt>k49-test-labels.npz</tt> (and optionally <tt>k49_classmap.csv</tt>). "
            "It is checked before use; the first open unpacks a fast cache.")
        self.demo_button = QPushButton("Try with demo data")
        self.full_demo_check = QCheckBox("Full size (270,912 images; takes minutes)")
        demo_card = card(
            self.demo_button,
            f"<b>Generated</b> stand-in images: hiragana drawn from fonts and distorted, "
            f"{DEMO_PER_CLASS} per class, with a few labels deliberately wrong. No network "
            f"needed. It is labelled as generated data wherever it shows; it is not K49.",
            self.full_demo_check)
        cards = QVBoxLayout()
        cards.setSpacing(10)
        for c in (download_card, open_card, demo_card):
            cards.addWidget(c)

        self.progress_frame = ProgressArea()
        # Short names tests and the main window use.
        self.progress_bar = self.progress_frame.bar
        self.progress_title = self.progress_frame.title
        self.progress_detail = self.progress_frame.detail
        self.cancel_button = self.progress_frame.cancel_button
        self.cancel_button.clicked.connect(self.cancel)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b91c1c;")
        self.error_label.setVisible(False)

        recent_title = QLabel("Recent folders")
        recent_title.setStyleSheet("font-size: 14px; font-weight: 600;")
        self.recent_list = RecentList()
        self.recent_list.folder_chosen.connect(self.open_folder)
        footer = QLabel(
            'Data: "KMNIST Dataset" (created by CODH), adapted from "Kuzushiji Dataset" '
            "(created by NIJL and others), doi:10.20676/00000341, CC BY-SA 4.0. "
            "Clanuwat et al., arXiv:1812.01718.")
        footer.setWordWrap(True)
        footer.setStyleSheet("color: palette(mid); font-size: 11px;")

        column = QWidget()
        col = QVBoxLayout(column)
        col.setSpacing(12)
        col.addWidget(self.title)
        col.addWidget(self.chars)
        col.addWidget(self.subtitle)
        col.addWidget(self.current_label)
        col.addSpacing(6)
        col.addLayout(cards)
        col.addWidget(self.progress_frame)
        col.addWidget(self.error_label)
        col.addSpacing(6)
        col.addWidget(recent_title)
        col.addWidget(self.recent_list)
        col.addStretch(1)
        col.addWidget(footer)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(centred_scroll(column))

        self.download_button.clicked.connect(lambda: self.start_download())
        self.open_button.clicked.connect(self.choose_folder)
        self.demo_button.clicked.connect(lambda: self.start_demo())
        state.dataset_changed.connect(self._show_current)
        self._update_target_label()
        self.refresh_recent()
        self._show_current(state.dataset)

    # ---- public API ---------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._task is not None

    def set_target_dir(self, path: str | os.PathLike[str]) -> None:
        self.target_dir = Path(path)
        self._update_target_label()

    def open_folder(self, path: str | os.PathLike[str]) -> bool:
        """Validate and open `path` in the background; errors go to a dialog."""
        from k49desk.core.dataset import open_dataset

        folder = Path(path)
        if not self._can_start():
            return False

        def work(progress, should_stop):  # noqa: ANN001, ANN202, ARG001
            return open_dataset(folder, progress=progress)

        self._start("open", f"Opening {folder}…", work, self._on_opened,
                    "Cannot open the data folder", cancellable=False)
        return True

    def start_download(self, base_url: str | None = None,
                       expected: dict[str, tuple[int, str]] | None = None) -> bool:
        """Download the official files into `target_dir`, then open it."""
        from k49desk.core.download import BASE_URL, download_k49

        if not self._can_start():
            return False
        target = self.target_dir

        def work(progress, should_stop):  # noqa: ANN001, ANN202
            return download_k49(target, base_url=base_url or BASE_URL, expected=expected,
                                progress=progress, should_stop=should_stop)

        self._start("download", f"Downloading Kuzushiji-49 into {target}", work,
                    lambda _paths: self._after_files(target, "Download complete, md5 verified"),
                    "Download failed")
        return True

    def start_demo(self, per_class: int | None = None, target: str | os.PathLike[str] | None = None,
                   full: bool | None = None) -> bool:
        """Generate demo data (default `target_dir/demo`, DEMO_PER_CLASS a class), then open it."""
        if not self._can_start():
            return False
        try:
            from k49desk.core.demo import generate_demo
        except ImportError as e:
            QMessageBox.critical(self, "Demo data unavailable",
                                 f"The demo-data generator is not available: {e}")
            return False
        folder = Path(target) if target is not None else self.target_dir / "demo"
        full = self.full_demo_check.isChecked() if full is None else full
        n = None if full else (per_class or DEMO_PER_CLASS)

        def work(progress, should_stop):  # noqa: ANN001, ANN202
            return generate_demo(folder, per_class=n, full=full, should_stop=should_stop,
                                 progress=progress)

        what = "full-size" if full else f"{n} per class"
        self._start("demo", f"Generating demo data ({what}) in {folder}", work,
                    lambda _root: self._after_files(folder, "Demo data generated"),
                    "Cannot generate demo data")
        return True

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self.cancel_button.setEnabled(False)
            self.progress_detail.setText("Stopping…")

    def shutdown(self) -> bool:
        """Window close: stop the running task and wait for its thread."""
        if self._task is not None:
            self._task.cancel_and_wait(15000)
        return True

    def choose_folder(self) -> None:
        start = str(self.state.dataset.root) if self.state.dataset else str(self.target_dir)
        d = QFileDialog.getExistingDirectory(self, "Open a K49 data folder", start)
        if d:
            self.open_folder(d)

    def choose_target(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Download Kuzushiji-49 into",
                                             str(self.target_dir))
        if d:
            self.set_target_dir(d)

    def refresh_recent(self) -> None:
        self.recent_list.fill(recent_folders())

    # ---- internals ----------------------------------------------------------------------
    def _can_start(self) -> bool:
        if self._task is None:
            return True
        self.state.status_message.emit("Busy: cancel the current task or wait for it to finish")
        return False

    def _start(self, kind: str, title: str, work: Any, on_finished: Any, error_title: str,
               cancellable: bool = True) -> None:
        self._kind = kind
        self.error_label.setVisible(False)
        self.progress_frame.begin(title, cancellable)
        task = run_task(work, on_progress=self._on_progress, on_finished=on_finished,
                        on_failed=lambda e: self._on_failed(error_title, e),
                        on_cancelled=self._on_cancelled, parent=self)
        task.done.connect(lambda t=task: self._on_done(t))
        self._task = task
        self._set_busy(True)
        self.state.status_message.emit(title)

    def _set_busy(self, busy: bool) -> None:
        for w in (self.download_button, self.open_button, self.demo_button, self.recent_list,
                  self.change_target_button, self.full_demo_check):
            w.setEnabled(not busy)
        self.busy_changed.emit(busy)

    def _on_progress(self, u: ProgressUpdate) -> None:
        self.progress_frame.show_fraction(u.fraction or 0.0, u.text)

    def _on_done(self, task: BackgroundTask) -> None:
        if self._task is task:  # not when a finished download has already started the open
            self._task = None
            self.cancel_button.setEnabled(False)
            self._set_busy(False)
            self.refresh_recent()
            self._update_target_label()

    def _after_files(self, folder: Path, what: str) -> None:
        """A download or demo finished: open the folder as the next task."""
        self._task = None
        self.state.status_message.emit(f"{what}; opening {folder}…")
        self.open_folder(folder)

    def _on_opened(self, ds: object) -> None:
        self.progress_frame.setVisible(False)
        add_recent_folder(ds.root)
        self.refresh_recent()
        self.state.set_dataset(ds)
        self.dataset_opened.emit(ds)

    def _on_failed(self, title: str, e: BaseException) -> None:
        text = str(e) if isinstance(e, K49Error | OSError) else f"{type(e).__name__}: {e}"
        if self._kind == "download" and "cannot reach" in text:
            text = f"{text}\n\n{OFFLINE_HINT}"
        self.last_error = text
        self.progress_frame.setVisible(False)
        self.error_label.setText(f"{title}: {text}")
        self.error_label.setVisible(True)
        self.state.status_message.emit(f"{title}: {text.splitlines()[0]}")
        QMessageBox.critical(self, title, text)

    def _on_cancelled(self) -> None:
        if self._kind == "download":
            msg = "Download stopped. The partial file is kept: Download resumes it."
        else:
            msg = "Stopped."
        self.progress_title.setText(msg)
        self.progress_detail.setText("")
        self.state.status_message.emit(msg)

    def _update_target_label(self) -> None:
        from k49desk.core.download import EXPECTED, partial_files

        t = self.target_dir
        shown = t if t.is_absolute() else Path.cwd() / t
        text = f"Into: <tt>{shown}</tt>"
        # Say what a click will reuse: complete files are checked and skipped, .part resumed.
        have = sum(p.stat().st_size for p in partial_files(t))
        have += sum(size for name, (size, _md5) in EXPECTED.items()
                    if (t / name).is_file() and (t / name).stat().st_size == size)
        if have:
            text += (f"<br>{format_bytes(have)} of {format_bytes(TOTAL_BYTES)} already there: "
                     "Download checks and reuses it")
        self.target_label.setText(text)

    def _show_current(self, ds: object) -> None:
        if ds is None:
            self.current_label.setText("No data folder is open yet. Pick one of these to start:")
            return
        n = ", ".join(f"{s} {len(ds.splits[s]):,}" for s in ds.split_names)
        kind = " — <b>generated demo data</b>, not real K49" if ds.is_demo else ""
        self.current_label.setText(f"Open now: <tt>{ds.root}</tt> ({n} images){kind}")
