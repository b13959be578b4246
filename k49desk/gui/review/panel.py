"""The Review panel: go through suspects card by card with the keyboard; export the result.

Keys: 1 keep, 2 accept the suggestion, 3 neither (type the class), 4 unusable, ? unsure,
arrows move, Ctrl+Z / Ctrl+Shift+Z undo/redo (Edit menu). All state lives in core's
ReviewSession, which saves every decision before the next card is shown; this panel only
displays and dispatches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeyEvent, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.errors import K49Error
from k49desk.core.review import (
    Decision,
    Filters,
    ReviewSession,
    SessionCorrupt,
    now_iso,
)
from k49desk.core.review_flags import typical_indices
from k49desk.gui.common.errors import show_error
from k49desk.gui.common.panel import Panel
from k49desk.gui.common.state import AppState
from k49desk.gui.review.card import CardView, RelabelBar
from k49desk.gui.review.filters import FilterBar
from k49desk.gui.review.io import SLOT, ReviewIO, TaskBar

KEY_DECISIONS = {Qt.Key.Key_1: "keep", Qt.Key.Key_2: "accept", Qt.Key.Key_4: "unusable"}
HINT = ("<b>1</b> keep given  ·  <b>2</b> accept suggestion  ·  <b>3</b> neither (type class)  ·  "
        "<b>4</b> unusable  ·  <b>?</b> unsure  ·  <b>← →</b> move  ·  <b>Ctrl+Z</b> undo  ·  "
        "<b>Ctrl+Shift+Z</b> redo")


class _DecisionCommand(QUndoCommand):
    """One decision on the undo stack; the panel has already applied and saved it on push."""

    def __init__(self, panel: ReviewPanel, pos: int, old: Decision | None, new: Decision) -> None:
        super().__init__(f"{new.decision} #{int(panel.session.flags['index'].iat[pos])}")
        self.panel, self.pos, self.old, self.new = panel, pos, old, new
        self._pushed = False

    def redo(self) -> None:
        if self._pushed:
            self.panel.apply_decision(self.pos, self.new)
        self._pushed = True

    def undo(self) -> None:
        self.panel.apply_decision(self.pos, self.old)


class ReviewPanel(Panel):
    title = "Review"

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.session: ReviewSession | None = None
        self.undo_stack = QUndoStack(self)
        self._samples: dict[int, list[int]] = {}
        self._flags_timer = QTimer(self, singleShot=True, interval=150)
        self._flags_timer.timeout.connect(self.flush_flags)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.task_bar = TaskBar()
        self.io = ReviewIO(state, self.tasks, self, self.task_bar)
        self.io.flags_ready.connect(self._on_flags_ready)
        self.io.busy_changed.connect(self._on_busy)
        self.io.message.connect(self.set_status)
        self._build()
        state.dataset_changed.connect(self._on_dataset)
        if state.dataset is not None:
            self._on_dataset(state.dataset)

    # ---- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.split_combo = QComboBox()
        self.split_combo.currentTextChanged.connect(lambda _t: self.open_session())
        self.find_btn = QPushButton("Find suspects")
        self.find_btn.setToolTip("Cross-validated model: flags images whose label looks wrong, "
                                 "blank images and duplicates (runs in the background)")
        self.find_btn.clicked.connect(lambda: self.io.find_suspects(self.split))
        self.load_btn = QPushButton("Load flags CSV…")
        self.load_btn.clicked.connect(lambda: self.io.load_flags_csv(self.split))
        self.cancel_btn = self.task_bar.cancel_btn
        self.progress = self.task_bar.progress
        self.progress_text = self.task_bar.text
        self.export_btn = QToolButton()
        self.export_btn.setText("Export")
        self.export_btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_btn)
        for text, slot in self.export_actions(always=True):
            menu.addAction(text, slot)
        self.export_btn.setMenu(menu)
        self.undo_btn = QToolButton()
        self.undo_btn.setDefaultAction(self.undo_stack.createUndoAction(self, "Undo"))
        self.undo_btn.setToolTip("Undo (Ctrl+Z)")
        self.redo_btn = QToolButton()
        self.redo_btn.setDefaultAction(self.undo_stack.createRedoAction(self, "Redo"))
        self.redo_btn.setToolTip("Redo (Ctrl+Shift+Z)")
        top = QHBoxLayout()
        top.addWidget(QLabel("Split:"))
        for w in (self.split_combo, self.find_btn, self.load_btn, self.task_bar):
            top.addWidget(w)
        top.addStretch(1)
        for w in (self.undo_btn, self.redo_btn, self.export_btn):
            top.addWidget(w)

        self.filter_bar = FilterBar()
        self.filter_bar.changed.connect(self._apply_filters)

        self.card = CardView(OFFICIAL_CLASSES)
        self.placeholder = QLabel("")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet("font-size: 16px; color: palette(mid);")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        scroll = QScrollArea()  # small windows scroll the card rather than clip or grow
        scroll.setWidget(self.card)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.stack.addWidget(scroll)
        self._card_page = scroll
        self.relabel = RelabelBar(OFFICIAL_CLASSES)
        self.relabel.setVisible(False)
        self.relabel.chosen.connect(lambda c: self.decide("relabel", c))
        self.relabel.cancelled.connect(lambda: self.setFocus(Qt.FocusReason.OtherFocusReason))
        self.hint = QLabel(HINT)
        self.hint.setStyleSheet("color: #4b5563;")
        self.hint.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.filter_bar)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.relabel)
        lay.addWidget(self.filter_bar.counter)
        lay.addWidget(self.hint)
        lay.addWidget(self.status)
        self._show_placeholder()

    # ---- session ------------------------------------------------------------------------
    @property
    def split(self) -> str:
        return self.split_combo.currentText() or "train"

    def labels(self) -> np.ndarray:
        return self.state.dataset.split(self.split).labels

    def _close_session(self) -> None:
        if self.session is not None:
            self.session.close()
        self.session = None

    def _on_dataset(self, ds: object) -> None:
        self.tasks.cancel(SLOT)  # work for the previous folder: dropped
        self._close_session()
        self._samples.clear()
        self.undo_stack.clear()
        self.split_combo.blockSignals(True)
        self.split_combo.clear()
        if ds is not None:
            self.split_combo.addItems(ds.split_names)
        self.split_combo.blockSignals(False)
        if ds is not None:
            self.open_session()
        else:
            self._show_placeholder()

    def open_session(self, flags: object = None, proba: np.ndarray | None = None,
                     model: str = "", method: str = "") -> bool:
        """Resume this split's session, or start one from `flags`; errors become dialogs."""
        ds = self.state.dataset
        if ds is None or self.split not in ds.splits:
            return False
        self._samples.clear()
        self.undo_stack.clear()
        self._close_session()  # its journal handle; the file is reopened below
        args = dict(flags=flags, proba=proba, labels=self.labels(), model=model, method=method)
        try:
            try:
                s = ReviewSession.open(ds.root, self.split, **args)
            except SessionCorrupt as e:
                show_error(self, "Review session damaged", e)
                self.set_status(str(e))
                s = ReviewSession.open(ds.root, self.split, **args)
        except K49Error as e:
            self._show_placeholder()
            self.error("Cannot open the review session", e)
            return False
        self.session = s
        self._sync_filter_ui()
        self.set_status(s.note or (f"Review session: {s.path}" if len(s) else ""))
        self.show_pos(s.position, save=False)
        self.schedule_flags()
        return True

    def _sync_filter_ui(self) -> None:
        s = self.session
        self.filter_bar.set_filters(s.filters if s is not None else Filters(),
                                    s.flags if s is not None else None)

    def set_filters(self, filters: Filters) -> None:
        """Apply filters from code and mirror them in the widgets."""
        if self.session is not None:
            self.session.set_filters(filters, save=False)
            self._sync_filter_ui()
            self._apply_filters(filters)

    def _apply_filters(self, filters: Filters) -> None:
        s = self.session
        s.set_filters(filters, save=False)
        vis = s.visible()
        pos = s.position
        if len(vis) and pos not in vis:
            nxt = s.next_open(-1)
            pos = nxt if nxt is not None else int(vis[0])
        try:
            s.set_position(pos)  # saves the filters too, so a reopen resumes them
        except K49Error as e:
            self.error("Cannot save the review session", e)
        self.show_pos(pos, save=False)
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    # ---- cards --------------------------------------------------------------------------
    def _show_placeholder(self, text: str | None = None) -> None:
        if text is None:
            text = ("No data folder is open." if self.state.dataset is None else
                    "No suspects yet for this split.\n\nClick “Find suspects” to let a "
                    "cross-validated model flag likely label errors, blank images and duplicates"
                    " (runs in the background), or “Load flags CSV…” to review flags written by "
                    "`k49desk find-issues`.")
        self.placeholder.setText(text)
        self.stack.setCurrentWidget(self.placeholder)
        self._update_counter()

    def _sample_images(self, cls: int) -> list[np.ndarray]:
        s = self.session
        idx = s.exemplars.get(cls) or self._samples.get(cls)
        if idx is None:
            idx = typical_indices(self.labels(), cls, exclude=s.flags["index"].to_numpy())
            self._samples[cls] = idx
        images = self.state.dataset.split(self.split).images
        return [images[i] for i in idx]

    def show_pos(self, pos: int, save: bool = True) -> None:
        """Show card `pos` (a row of the flags table) and remember it as the position."""
        s = self.session
        if s is None or not len(s):
            self._show_placeholder()
            return
        if not len(s.visible()):
            self._show_placeholder(f"No card matches these filters.\n\nSet Issue, Given and "
                                   f"Suggested back to “any” to see all {len(s)} suspects.")
            return
        pos = min(max(int(pos), 0), len(s) - 1)
        if save and pos != s.position:
            try:
                s.set_position(pos)
            except K49Error as e:
                self.error("Cannot save the review session", e)
        s.position = pos
        flag = s.flag(pos)
        d = s.decision(pos)
        images = self.state.dataset.split(self.split).images
        sug = flag["suggested_label"]
        self.card.show_card(flag, d.decision if d else "", s.final_label(pos),
                            images[flag["index"]], self._sample_images(flag["given_label"]),
                            self._sample_images(sug) if sug >= 0 else [])
        self.stack.setCurrentWidget(self._card_page)
        self._update_counter()

    def _update_counter(self) -> None:
        self.filter_bar.show_counts(self.session)

    def decide(self, decision: str, final_label: int | None = None) -> bool:
        """Decide on the current card, save, push on the undo stack, open the next open card."""
        s = self.session
        if s is None or not len(s) or self.stack.currentWidget() is not self._card_page:
            return False
        pos = s.position
        if decision == "accept" and s.flag(pos)["suggested_label"] < 0:
            self.set_status("This card has no suggestion: use 1 (keep), 3 (type the class) or "
                            "4 (unusable).")
            return False
        new = Decision(decision, final_label if decision == "relabel" else None, now_iso())
        old = s.decision(pos)
        nxt = s.next_open(pos)
        # The new position goes into the same atomic write as the decision: one save per key.
        s.position = pos if nxt is None else nxt
        try:
            s.set_decision(pos, new)
        except K49Error as e:
            s.position = pos
            self.error("Cannot save the decision", e)
            return False
        self.undo_stack.push(_DecisionCommand(self, pos, old, new))
        self.set_status("")
        if nxt is None:
            self.set_status("Every card in view is decided. Export, or change the filters.")
        self.show_pos(s.position, save=False)
        self.schedule_flags()
        return True

    def apply_decision(self, pos: int, decision: Decision | None) -> None:
        """Undo/redo: restore a decision and show that card."""
        s = self.session
        if s is None:
            return
        s.position = pos
        try:
            s.set_decision(pos, decision)
        except K49Error as e:
            self.error("Cannot save the review session", e)
        self.show_pos(pos, save=False)
        self.schedule_flags()

    def move(self, delta: int) -> None:
        s = self.session
        if s is not None and len(s):
            nxt = s.step(s.position, delta)
            if nxt is not None:
                self.show_pos(nxt)

    def start_relabel(self) -> None:
        if self.session is not None and self.stack.currentWidget() is self._card_page:
            self.relabel.start()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        key, mods = event.key(), event.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        if ctrl:  # Ctrl+Z / Ctrl+Shift+Z: the window's Edit menu drives undo_stack
            super().keyPressEvent(event)
        elif key in KEY_DECISIONS:
            self.decide(KEY_DECISIONS[key])
        elif key == Qt.Key.Key_3:
            self.start_relabel()
        elif key == Qt.Key.Key_Question or event.text() == "?":
            self.decide("unsure")
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            self.move(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            self.move(-1)
        else:
            super().keyPressEvent(event)

    # ---- shared bits --------------------------------------------------------------------
    def schedule_flags(self) -> None:
        """Tell the Gallery about flags soon, off the key-press path (it is not visible now)."""
        self._flags_timer.start()

    def flush_flags(self) -> None:
        self._flags_timer.stop()
        s = self.session
        if s is not None:
            self.state.set_flags(s.split, s.flags_frame() if len(s) else None)

    def set_status(self, text: str) -> None:
        self.status.setText(text)
        if text:
            self.state.status(text)

    def error(self, title: str, e: BaseException) -> None:
        self.set_status(f"{title}: {e}")
        show_error(self, title, e)

    # ---- background work results --------------------------------------------------------
    def _on_flags_ready(self, flags: object, proba: object, split: str, model: str,
                        method: str, done_text: str) -> None:
        if split != self.split:  # the person switched split meanwhile: go back to it
            self.split_combo.setCurrentText(split)
        if self.open_session(flags, proba, model=model, method=method):
            self.set_status(done_text)

    def _on_busy(self, busy: bool) -> None:
        for w in (self.find_btn, self.load_btn, self.export_btn, self.split_combo):
            w.setEnabled(not busy)

    def export_actions(self, always: bool = False) -> list[tuple[str, Any]]:
        if not always and (self.session is None or not len(self.session)):
            return []
        return [("Decisions as CSV…", lambda: self.io.export_table(self.session, "csv")),
                ("Decisions as JSON…", lambda: self.io.export_table(self.session, "json")),
                ("Corrected dataset folder…", lambda: self.io.export_corrected(self.session))]

    def on_shown(self) -> None:
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def shutdown(self) -> None:
        super().shutdown()
        self.flush_flags()
        if self.session is not None:
            self.session.close()
