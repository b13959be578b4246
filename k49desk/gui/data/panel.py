"""The Data panel: download K49, open a folder, or generate demo data.

All three run as the panel's one background task; the page shows progress and errors.
`open_folder` is the only place the app opens a data folder: the main window's start-up, File
menu and recent folders all come here.
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

from k49desk.core.dataset import DEMO_TRUTH_FILE, OFFICIAL_FILES, K49Dataset
from k49desk.core.download import TOTAL_BYTES, format_bytes
from k49desk.core.errors import K49Error
from k49desk.core.progress import ProgressUpdate
from k49desk.gui.common import settings
from k49desk.gui.common.fonts import hiragana_font
from k49desk.gui.common.panel import Panel
from k49desk.gui.common.state import AppState
from k49desk.gui.data.widgets import STYLE, ProgressArea, RecentList, card, centred_scroll
from k49desk.paths import default_data_dir

SLOT = "data"  # download, demo generation and opening share one slot: one at a time
DOWNLOAD_TEXT = f"Download Kuzushiji-49 (about {TOTAL_BYTES / 1e6:.0f} MB)"
OFFLINE_HINT = ("Check the internet connection and try again (a stopped download resumes), "
                "or open a folder you already have, or try the demo data.")


def holds_demo_data(folder: Path) -> bool:
    """A complete demo folder (made by generate_demo): open it rather than make it again."""
    return (folder / DEMO_TRUTH_FILE).is_file() and all(
        (folder / f).is_file() for f in OFFICIAL_FILES)


class DataPanel(Panel):
    title = "Data"
    needs_data = False
    dataset_opened = Signal(object)  # K49Dataset, after state.set_dataset
    busy_changed = Signal(bool)
    activity = Signal(str)  # what the running task does ("" when idle), for other tabs

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.target_dir = default_data_dir()
        self._kind = ""  # "download" | "demo" | "open" while busy
        self.activity_text = ""
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
            "<b>Generated</b> stand-in images: hiragana drawn from fonts and distorted, "
            "one tenth of K49 with its class proportions (ゑ as rare as in K49), 1% of the "
            "labels deliberately wrong. No network needed. It is labelled as generated data "
            "wherever it shows; it is not K49.",
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
        footer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # The licence must be readable: body-size text, near-black, set off by a rule
        # (it was 11 px in the window's grey and easily missed).
        footer.setObjectName("licence")
        footer.setStyleSheet("#licence { color: #1f2937; font-size: 13px; padding-top: 8px;"
                             " border-top: 1px solid palette(mid); }")
        self.footer = footer

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
        return self.tasks.running(SLOT)

    def set_target_dir(self, path: str | os.PathLike[str]) -> None:
        self.target_dir = Path(path)
        self._update_target_label()

    def open_folder(self, path: str | os.PathLike[str], quiet: bool = False) -> bool:
        """Validate and open `path` in the background. Errors go to a dialog, or with `quiet`
        (the folder of the last session, at start-up) to this page and the status bar."""
        from k49desk.core.dataset import open_dataset

        folder = Path(path)
        if not self._can_start():
            return False

        def work(progress, should_stop):  # noqa: ANN001, ANN202, ARG001
            return open_dataset(folder, progress=progress)

        self._start("open", f"Opening {folder}…", work, self._on_opened,
                    "Cannot open the data folder", cancellable=False, quiet=quiet)
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

    def demo_folder(self) -> Path:
        return self.target_dir / "demo"

    def start_demo(self, *, target: str | os.PathLike[str] | None = None,
                   scale: float | None = None, per_class: int | None = None,
                   full: bool | None = None, ask: bool = True) -> bool:
        """Open the demo folder if it is complete (asking first whether to make it again
        when `ask`), else generate it (official class proportions, one tenth of K49 by
        default) and then open it."""
        folder = Path(target) if target is not None else self.demo_folder()
        if holds_demo_data(folder):
            choice = self._ask_regenerate(folder) if ask else "open"
            if choice == "open":
                return self.open_folder(folder)
            if choice != "regenerate":
                return False
        if not self._can_start():
            return False
        # Here, not at the top: core.demo draws with torch, which takes seconds to import.
        from k49desk.core.demo import DEFAULT_SCALE, generate_demo

        full = self.full_demo_check.isChecked() if full is None else full
        if per_class is None and scale is None and not full:
            scale = DEFAULT_SCALE

        def work(progress, should_stop):  # noqa: ANN001, ANN202
            return generate_demo(folder, per_class=per_class, scale=scale, full=full,
                                 should_stop=should_stop, progress=progress)

        what = ("full size" if full else f"{per_class} per class" if per_class
                else f"{scale:g} of K49, its class proportions")
        self._start("demo", f"Generating demo data ({what}) in {folder}", work,
                    lambda _root: self._after_files(folder, "Demo data generated"),
                    "Cannot generate demo data")
        return True

    def _ask_regenerate(self, folder: Path) -> str:
        box = QMessageBox(QMessageBox.Icon.Question, "Demo data",
                          f"Demo data already exists in {folder}.", parent=self)
        box.setInformativeText("Open it, or generate it again (replacing it)?")
        open_btn = box.addButton("Open it", QMessageBox.ButtonRole.AcceptRole)
        regen = box.addButton("Generate again", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(open_btn)
        box.exec()
        clicked = box.clickedButton()
        return "open" if clicked is open_btn else "regenerate" if clicked is regen else "cancel"

    def cancel(self) -> None:
        if self.busy:
            self.tasks.stop(SLOT)
            self.cancel_button.setEnabled(False)
            self.progress_detail.setText("Stopping…")

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
        self.recent_list.fill(settings.recent_folders())

    # ---- internals ----------------------------------------------------------------------
    def _can_start(self) -> bool:
        if not self.busy:
            return True
        self.state.status("Busy: cancel the current task or wait for it to finish")
        return False

    def _start(self, kind: str, title: str, work: Any, on_finished: Any, error_title: str,
               cancellable: bool = True, quiet: bool = False) -> None:
        self._kind = kind
        self.error_label.setVisible(False)
        self.progress_frame.begin(title, cancellable)
        self.activity_text = title
        self.activity.emit(title)
        self.tasks.run(SLOT, work, on_progress=self._on_progress, on_finished=on_finished,
                       on_failed=lambda e: self._on_failed(error_title, e, quiet),
                       on_cancelled=self._on_cancelled, on_done=self._on_done)
        self._set_busy(True)
        self.state.status(title)

    def _set_busy(self, busy: bool) -> None:
        for w in (self.download_button, self.open_button, self.demo_button, self.recent_list,
                  self.change_target_button, self.full_demo_check):
            w.setEnabled(not busy)
        self.busy_changed.emit(busy)

    def _on_progress(self, u: ProgressUpdate) -> None:
        self.progress_frame.show_fraction(u.fraction or 0.0, u.text)

    def _on_done(self) -> None:
        if not self.busy:
            self.activity_text = ""
            self.activity.emit("")  # not when a finished download has already started the open
            self.cancel_button.setEnabled(False)
            self._set_busy(False)
            self.refresh_recent()
            self._update_target_label()

    def _after_files(self, folder: Path, what: str) -> None:
        """A download or demo finished: open the folder as the next task."""
        self.tasks.cancel(SLOT)  # the finished task: its slot is free for the open
        self.state.status(f"{what}; opening {folder}…")
        self.open_folder(folder)

    def _on_opened(self, ds: K49Dataset) -> None:
        self.progress_frame.setVisible(False)
        settings.remember_folder(ds.root)
        self.refresh_recent()
        self.state.set_dataset(ds)
        self.state.status(f"Opened {ds.root}")
        self.dataset_opened.emit(ds)

    def _on_failed(self, title: str, e: BaseException, quiet: bool = False) -> None:
        expected = isinstance(e, K49Error | OSError)
        text = str(e) if expected else f"{type(e).__name__}: {e}"
        if self._kind == "download" and "cannot reach" in text:
            text = f"{text}\n\n{OFFLINE_HINT}"
        self.progress_frame.setVisible(False)
        self.error_label.setText(f"{title}: {text}")
        self.error_label.setVisible(True)
        if quiet and expected:
            self.state.status(f"{title}: {text.splitlines()[0]}")
            self.state.panel_requested.emit("data")
        else:
            self.tasks.report(title, K49Error(text) if expected else e)

    def _on_cancelled(self) -> None:
        if self._kind == "download":
            msg = "Download stopped. The partial file is kept: Download resumes it."
        else:
            msg = "Stopped."
        self.progress_title.setText(msg)
        self.progress_detail.setText("")
        self.state.status(msg)

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
