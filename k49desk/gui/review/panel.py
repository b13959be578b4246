"""The Review panel: go through suspects card by card with the keyboard; export the result.

Keys: 1 keep, 2 accept the suggestion, 3 neither (type the class), 4 unusable, ? unsure,
arrows move; Ctrl+Z / Ctrl+Shift+Z are the window's Edit menu, driving the one undo history
the Review and Gallery panels share (`AppState.annotations.undo_stack`). Decisions live in
the split's annotation store (through `ReviewSessions`), saved before the next card shows;
this panel only displays and dispatches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeyEvent, QShowEvent
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
from k49desk.core.review import Filters, ReviewSession
from k49desk.core.review_flags import typical_indices
from k49desk.gui.common.panel import Panel
from k49desk.gui.common.similar_strip import SimilarStrip
from k49desk.gui.common.state import AppState, GalleryRequest
from k49desk.gui.common.widgets import DemoBanner
from k49desk.gui.review.card import CardView, Partner
from k49desk.gui.review.filters import FilterBar
from k49desk.gui.review.io import SLOT, NewFlags, ReviewIO, TaskBar
from k49desk.gui.review.relabel import RelabelBar
from k49desk.gui.review.sessions import ReviewSessions

KEY_DECISIONS = {Qt.Key.Key_1: "keep", Qt.Key.Key_2: "accept", Qt.Key.Key_4: "unusable"}
HINT = ("<b>1</b> keep given  ·  <b>2</b> accept suggestion  ·  <b>3</b> neither (type class)  ·  "
        "<b>4</b> unusable  ·  <b>?</b> unsure  ·  <b>← →</b> move  ·  <b>Ctrl+Z</b> undo  ·  "
        "<b>Ctrl+Shift+Z</b> redo")


class ReviewPanel(Panel):
    title = "Review"

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.undo_stack = state.annotations.undo_stack  # shared with the Gallery
        self._samples: dict[tuple[str, int], list[int]] = {}
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.sessions = ReviewSessions(state, self.tasks.report, self)
        self.sessions.opened.connect(self._on_opened)
        self.sessions.changed.connect(self._on_changed)
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
        self.demo_banner = DemoBanner()
        self.split_combo = QComboBox()
        self.split_combo.currentTextChanged.connect(lambda _t: self.show_split())
        self.find_btn = QPushButton("Find suspects…")
        self.find_btn.setToolTip("Cross-validated models flag images whose label looks wrong, "
                                 "blank images and duplicates (choose how thorough; runs in "
                                 "the background, resumes after a stop)")
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
        top = QHBoxLayout()
        top.addWidget(QLabel("Split:"))
        for w in (self.split_combo, self.find_btn, self.load_btn):
            top.addWidget(w)
        top.addWidget(self.task_bar, 1)
        top.addStretch(0)
        top.addWidget(self.export_btn)

        self.filter_bar = FilterBar()
        self.filter_bar.changed.connect(self._apply_filters)
        self.card = CardView(OFFICIAL_CLASSES)
        self.card.open_in_gallery.connect(self.open_in_gallery)
        self.card.add_similar(SimilarStrip(self.state, self.tasks, slot="similar"))
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
        self.relabel.chosen.connect(self._relabel_chosen)
        self.relabel.cancelled.connect(self.take_keys)
        self.hint = QLabel(HINT)
        self.hint.setStyleSheet("color: #4b5563;")
        self.hint.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        lay = QVBoxLayout(self)
        lay.addWidget(self.demo_banner)
        lay.addLayout(top)
        lay.addWidget(self.filter_bar)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.relabel)
        lay.addWidget(self.filter_bar.counter)
        lay.addWidget(self.hint)
        lay.addWidget(self.status)
        self._show_placeholder()

    # ---- sessions -----------------------------------------------------------------------
    @property
    def split(self) -> str:
        return self.split_combo.currentText() or "train"

    @property
    def session(self) -> ReviewSession | None:
        return self.sessions.get(self.split)

    def labels(self) -> np.ndarray:
        return self.state.dataset.split(self.split).labels

    def _on_dataset(self, ds: Any) -> None:
        self.tasks.cancel(SLOT)  # work for the previous folder: dropped
        self._samples.clear()
        self.demo_banner.follow(ds)
        self.split_combo.blockSignals(True)
        self.split_combo.clear()
        if ds is not None:
            self.split_combo.addItems(ds.split_names)
        self.split_combo.blockSignals(False)
        self.sessions.start(ds)
        self.show_split()

    def _on_opened(self, split: str, text: str) -> None:
        if split != self.split:
            return
        self.show_split()
        if text:
            self.set_status(text)

    def show_split(self) -> None:
        """Show the current split's session where it stands (or why there is none)."""
        self._sync_filter_ui()
        s = self.session
        if s is None:
            self._show_placeholder()
            return
        self.show_pos(s.position, save=False)

    def _on_flags_ready(self, new: NewFlags) -> None:
        if new.split != self.split:  # the person switched split meanwhile: go back to it
            self.split_combo.setCurrentText(new.split)
        self.sessions.replace(new)

    def _on_changed(self, split: str, images: Any) -> None:
        """A change made elsewhere: Edit ▸ Undo/Redo, the Gallery, another process."""
        s = self.sessions.get(split)
        if s is None or not len(s):
            return
        # On this tab only the Edit menu changes cards: show the card its step touched (in
        # the split it touched: the history is shared by every split and the Gallery).
        pos = s.card_of(images) if images is not None and self.isVisible() else None
        if split != self.split:
            if pos is None:
                return
            self.split_combo.setCurrentText(split)
        self.show_pos(s.position if pos is None else pos, save=pos is not None)

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
        if s is None:
            return
        s.set_filters(filters, save=False)
        vis = s.visible()
        pos = s.position
        if len(vis) and pos not in vis:
            nxt = s.next_open(-1)
            pos = nxt if nxt is not None else int(vis[0])
        try:
            s.set_position(pos)  # saves the filters too, so a reopen resumes them
        except K49Error as e:
            self.tasks.report("Cannot save the review position", e)
        self.show_pos(pos, save=False)
        self.take_keys()

    # ---- cards --------------------------------------------------------------------------
    def _show_placeholder(self, text: str | None = None) -> None:
        if text is None:
            if self.state.dataset is None:
                text = "No data folder is open."
            elif self.sessions.opening(self.split):
                text = f"Opening the annotations of {self.split}…"
            elif self.session is None:
                text = (f"The review of {self.split} is not available (see the message "
                        "shown); other splits still work.")
            else:
                text = ("No suspects yet for this split.\n\nClick “Find suspects…” to let "
                        "cross-validated models flag likely label errors, blank images and "
                        "duplicates (runs in the background), or “Load flags CSV…” to review "
                        "flags written by `k49desk find-issues`.")
        self.placeholder.setText(text)
        self.stack.setCurrentWidget(self.placeholder)
        self._update_counter()

    def _sample_images(self, cls: int) -> list[np.ndarray]:
        s = self.session
        idx = s.exemplars.get(cls) or self._samples.get((self.split, cls))
        if idx is None:
            idx = typical_indices(self.labels(), cls, exclude=s.flags["index"].to_numpy())
            self._samples[(self.split, cls)] = idx
        images = self.state.dataset.split(self.split).images
        return [images[i] for i in idx]

    def _partner(self, flag: dict) -> Partner | None:
        ps, pi = flag.get("partner_split") or "", int(flag.get("partner_index", -1))
        ds = self.state.dataset
        if not ps or pi < 0 or ds is None or ps not in ds.splits:
            return None
        sp = ds.split(ps)
        if pi >= len(sp):
            return Partner(ps, pi, None, None)
        return Partner(ps, pi, sp.images[pi], int(sp.labels[pi]))

    def show_pos(self, pos: int, save: bool = True) -> None:
        """Show card `pos` (a row of the flags table) and remember it as the position."""
        s = self.session
        if s is None or not len(s):
            self._show_placeholder()
            return
        if not len(s.visible()):
            self._show_placeholder(f"No card matches these filters.\n\nSet Issue, Given and "
                                   f"Suggested back to “any” to see all {len(s):,d} suspects.")
            return
        pos = min(max(int(pos), 0), len(s) - 1)
        if save and pos != s.position:
            try:
                s.set_position(pos)
            except K49Error as e:
                self.tasks.report("Cannot save the review position", e)
        s.position = pos
        flag = s.flag(pos)
        d = s.decision(pos)
        images = self.state.dataset.split(self.split).images
        sug = flag["suggested_label"]
        self.card.show_card(flag, d.decision if d else "", s.final_label(pos),
                            images[flag["index"]], self._sample_images(flag["given_label"]),
                            self._sample_images(sug) if sug >= 0 else [], self._partner(flag))
        self.stack.setCurrentWidget(self._card_page)
        self._update_counter()

    def _update_counter(self) -> None:
        self.filter_bar.show_counts(self.session)

    def decide(self, decision: str, final_label: int | None = None) -> bool:
        """Decide on the current card (saved, undoable), then open the next open card."""
        s = self.session
        if s is None or not len(s) or self.stack.currentWidget() is not self._card_page:
            return False
        pos = s.position
        flag = s.flag(pos)
        if decision == "accept" and flag["suggested_label"] in (-1, flag["given_label"]):
            self.set_status("This card has no other suggestion: use 1 (keep), 3 (type the "
                            "class) or 4 (unusable).")
            return False
        nxt = s.next_open(pos)
        # The new position goes into the same transaction as the decision: one save per key.
        s.position = pos if nxt is None else nxt
        step = self.sessions.write(
            self.split, lambda _st: s.decide(pos, decision,
                                             final_label if decision == "relabel" else None))
        if step is None:
            s.position = pos
            return False
        self.set_status("" if nxt is not None else
                        "Every card in view is decided. Export, or change the filters.")
        self.show_pos(s.position, save=False)
        return True

    def move(self, delta: int) -> None:
        s = self.session
        if s is not None and len(s):
            nxt = s.step(s.position, delta)
            if nxt is not None:
                self.show_pos(nxt)

    def start_relabel(self) -> None:
        if self.session is not None and self.stack.currentWidget() is self._card_page:
            self.relabel.start()

    def _relabel_chosen(self, label: int) -> None:
        self.take_keys()  # the bar just hid with the focus: keys 1-4 and Ctrl+Z are ours
        self.decide("relabel", label)

    def take_keys(self) -> None:
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        # Shown on start (--panel review) or once a folder opens: the keys are ours at once,
        # not after a click (on_shown covers tab changes only).
        super().showEvent(event)
        if not self.relabel.isVisible():
            QTimer.singleShot(0, self.take_keys)

    def open_in_gallery(self, split: str, index: int) -> None:
        s = self.session
        flag = s.flag(s.position) if s is not None and len(s) else None
        shown = [index]
        if flag is not None and flag["partner_split"] == flag["split"] == split:
            shown = sorted({int(flag["index"]), int(flag["partner_index"])})  # both copies
        self.state.show_in_gallery(GalleryRequest(
            split=split, indices=np.asarray(shown, np.int64), select=index,
            title=f"Review: {split} #{index}" + (" and its copy" if len(shown) > 1 else "")))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        key, mods = event.key(), event.modifiers()
        if mods & Qt.KeyboardModifier.ControlModifier:  # Edit menu shortcuts, not ours
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
    def flush_flags(self) -> None:
        self.sessions.publish()

    def set_status(self, text: str) -> None:
        self.status.setText(text)
        if text:
            self.state.status(text)

    def _on_busy(self, busy: bool) -> None:
        for w in (self.find_btn, self.load_btn, self.export_btn, self.split_combo):
            w.setEnabled(not busy)

    def export_actions(self, always: bool = False) -> list[tuple[str, Any]]:
        if not always and self.session is None:
            return []
        return [("Decisions as CSV…", lambda: self.io.export_table(self.session, "csv")),
                ("Decisions as JSON…", lambda: self.io.export_table(self.session, "json")),
                ("Corrected dataset folder…", lambda: self.io.export_corrected(self.session))]

    def on_shown(self) -> None:
        self.take_keys()

    def shutdown(self) -> None:
        super().shutdown()
        self.sessions.publish()
        self.sessions.close()
