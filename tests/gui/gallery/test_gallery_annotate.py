"""Gallery: select with the mouse and keyboard, annotate the selection by keyboard, undo and
redo through the shared stack; filters on annotations; what the thumbnails and the detail
pane show. Run them with -k 'annotat or select or tag'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gallery_helpers import center, click, drag, open_panel
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence

from k49desk.core.classes import class_for_text
from k49desk.gui.gallery.panel import GalleryPanel
from k49desk.gui.gallery.query import GalleryQuery

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
HA, KA = class_for_text("ha"), class_for_text("ka")


@pytest.fixture
def panel(qtbot, tiny_dir: Path) -> GalleryPanel:  # noqa: ANN001
    return open_panel(qtbot, tiny_dir)


def _store(p: GalleryPanel, split: str = "train"):  # noqa: ANN202
    return p.state.annotations.store(split)


def test_select_by_click_ctrl_click_shift_click_rubber_band_and_ctrl_a(panel, qtbot) -> None:  # noqa: ANN001
    p = panel
    click(qtbot, p, 3)
    assert p.view.selected_rows().tolist() == [3] and p.detail.index == 3
    click(qtbot, p, 7, CTRL)
    click(qtbot, p, 9, CTRL)
    assert p.view.selected_rows().tolist() == [3, 7, 9]
    click(qtbot, p, 7, CTRL)  # Ctrl-click again takes it out
    assert p.view.selected_rows().tolist() == [3, 9]
    assert p.query_bar.selected.text() == "2 selected"  # always visible
    click(qtbot, p, 20, SHIFT)  # a range from the last Ctrl-clicked image, replacing
    assert p.view.selected_rows().tolist() == list(range(7, 21))
    click(qtbot, p, 2, CTRL | SHIFT)  # Ctrl+Shift adds the range
    assert p.view.selected_rows().tolist() == list(range(2, 21))
    # rubber band: from the middle of row 0 to the middle of row (2 lines down, col 2)
    cols = p.view.columns()
    drag(p, center(p, 0), center(p, 2 * cols + 2))
    want = sorted(r * cols + c for r in range(3) for c in range(3))
    assert p.view.selected_rows().tolist() == want
    assert p.query_bar.selected.text() == "9 selected"
    # a band starting on empty space below the last image selects nothing new, clears
    p.set_class_filter([4])  # 12 images: one line and a bit
    qtbot.keyClick(p.view, Qt.Key.Key_A, CTRL)
    assert p.view.selected_count() == 12 == p.model.rowCount()
    qtbot.keyClick(p.view, Qt.Key.Key_Escape)
    assert p.view.selected_count() == 0
    vp = p.view.viewport()
    drag(p, QPoint(vp.width() - 3, vp.height() - 3), QPoint(vp.width() - 5, vp.height() - 60))
    assert p.view.selected_count() == 0


def test_selection_keys_and_filter_change_keep_only_what_is_still_shown(panel, qtbot) -> None:  # noqa: ANN001
    p = panel
    click(qtbot, p, 0)
    qtbot.keyClick(p.view, Qt.Key.Key_Right, SHIFT)
    qtbot.keyClick(p.view, Qt.Key.Key_Right, SHIFT)
    assert p.view.selected_rows().tolist() == [0, 1, 2]
    labels = p.model.dataset.splits["train"].labels
    keep = int(labels[1])
    p.set_class_filter([keep])  # the selection follows the images, not the rows
    got = p.model.indices()[p.view.selected_rows()]
    assert got.tolist() == [i for i in (0, 1, 2) if labels[i] == keep]


def test_typing_a_class_relabels_the_selection_with_a_preview_one_undo_step(panel, qtbot) -> None:  # noqa: ANN001
    p = panel
    stack = p.undo_stack
    assert stack is p.state.annotations.undo_stack  # the one Review uses too
    p.view.select_rows(np.arange(5, 15))
    qtbot.keyClick(p.view, Qt.Key.Key_H)  # opens the class input with "h"
    assert p.relabel_bar.isVisible() and p.relabel_bar.edit.text() == "h"
    assert "Relabel 10 images" in p.relabel_bar.title.text()
    qtbot.keyClicks(p.relabel_bar.edit, "a")
    assert p.delegate.preview_label == HA  # the selected cells preview は
    qtbot.keyClick(p.relabel_bar.edit, Qt.Key.Key_Return)
    st = _store(p)
    assert (st.final_labels()[5:15] == HA).all() and (st.final_labels()[:5] == -1).all()
    assert st.find(decision="relabel", source="manual").tolist() == list(range(5, 15))
    assert stack.count() == 1 and "relabel 10 images" in stack.undoText()
    assert p.delegate.preview_label is None and p.view.hasFocus()
    tip = p.model.data(p.model.index(5), Qt.ItemDataRole.ToolTipRole)
    assert "(relabelled; was" in tip  # the original on hover
    stack.undo()
    assert (st.final_labels()[5:15] == -1).all()
    stack.redo()
    assert (st.final_labels()[5:15] == HA).all()
    # R opens the input empty: romaji starting with a command letter (k, t, n, u)
    qtbot.keyClick(p.view, Qt.Key.Key_R)
    qtbot.keyClicks(p.relabel_bar.edit, "ka")
    qtbot.keyClick(p.relabel_bar.edit, Qt.Key.Key_Return)
    assert (st.final_labels()[5:15] == KA).all()
    # Esc cancels without writing
    qtbot.keyClick(p.view, Qt.Key.Key_S)
    qtbot.keyClick(p.relabel_bar.edit, Qt.Key.Key_Escape)
    assert not p.relabel_bar.isVisible() and stack.count() == 2


def test_keys_keep_unusable_tag_note_and_clear_annotate_the_selection(panel, qtbot) -> None:  # noqa: ANN001
    p = panel
    st = _store(p)
    p.view.select_rows(np.array([1, 2, 3]))
    qtbot.keyClick(p.view, Qt.Key.Key_K)
    assert st.find(decision="keep").tolist() == [1, 2, 3]
    qtbot.keyClick(p.view, Qt.Key.Key_U)
    assert st.find(decision="unusable").tolist() == [1, 2, 3]
    qtbot.keyClick(p.view, Qt.Key.Key_T)
    assert p.text_bar.isVisible()
    qtbot.keyClicks(p.text_bar.edit, "blurry")
    qtbot.keyClick(p.text_bar.edit, Qt.Key.Key_Return)
    assert st.images_tagged("blurry").tolist() == [1, 2, 3]
    assert p.query_bar.tag_combo.findData("blurry") > 0
    p.view.select_rows(np.array([2]))
    qtbot.keyClick(p.view, Qt.Key.Key_T)  # the tags in use complete
    assert p.text_bar.completions.stringList() == ["blurry"]
    qtbot.keyClicks(p.text_bar.edit, "-blurry")  # a minus removes it
    qtbot.keyClick(p.text_bar.edit, Qt.Key.Key_Return)
    assert st.images_tagged("blurry").tolist() == [1, 3]
    qtbot.keyClick(p.view, Qt.Key.Key_N)
    qtbot.keyClicks(p.text_bar.edit, "stroke cut off")
    qtbot.keyClick(p.text_bar.edit, Qt.Key.Key_Return)
    assert st.annotation(2).note == "stroke cut off"
    qtbot.keyClick(p.view, Qt.Key.Key_Delete)  # clears the decision, the note stays
    a = st.annotation(2)
    assert a.decision is None and a.note == "stroke cut off"
    assert p.undo_stack.count() == 6
    # the detail pane shows the decision history of the image shown
    click(qtbot, p, 1)
    hist = p.detail.annotations.history.text()
    assert "unusable" in hist and "kept" in hist and "tag" in hist
    assert "unusable" in p.detail.annotations.now.text()


def test_bulk_relabel_over_both_splits_is_one_undo_step(qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    p = open_panel(qtbot, tiny_dir, splits=("train", "test"))
    n = p.model.rowCount()
    qtbot.keyClick(p.view, Qt.Key.Key_A, CTRL)
    assert p.view.selected_count() == n == 49 * 16
    assert p.relabel_selection(HA)
    tr, te = _store(p, "train"), _store(p, "test")
    assert (tr.final_labels() == HA).all() and (te.final_labels() == HA).all()
    assert p.undo_stack.count() == 1  # a macro over the two stores
    p.state.annotations.undo_stack.undo()
    assert (tr.final_labels() == -1).all() and (te.final_labels() == -1).all()
    p.undo_stack.redo()
    assert (te.final_labels() == HA).all()


def test_annotation_filters_are_sql_backed_in_words_and_reset_in_one_click(panel, qtbot) -> None:  # noqa: ANN001
    p = panel
    labels = p.model.dataset.splits["train"].labels
    ha_images = np.flatnonzero(labels == HA)[:4]
    p.view.select_rows(p.model.rows_of("train", ha_images))
    p.relabel_selection(KA)  # relabelled from は
    p.view.select_rows(np.array([0, 1]))
    p.tag_selection("odd")
    p.set_query(GalleryQuery(classes=(HA,), decision="changed"))
    np.testing.assert_array_equal(p.current_indices(), _store(p).relabelled_from(HA))
    assert "relabelled from は" in p.count_label.text()
    p.set_query(GalleryQuery(tag="odd"))
    np.testing.assert_array_equal(p.current_indices(), _store(p).images_tagged("odd"))
    assert "tagged “odd”" in p.count_label.text()
    assert p.query_bar.reset_button.isEnabled()
    qtbot.mouseClick(p.query_bar.reset_button, Qt.MouseButton.LeftButton)
    assert p.model.rowCount() == len(labels) and p.model.query.is_empty
    assert not p.query_bar.reset_button.isEnabled()
    p.set_decision_filter("undecided")
    assert p.model.rowCount() == len(labels) - 4


def test_prelabel_queue_confirm_by_k_moves_to_the_next_image(panel, qtbot) -> None:  # noqa: ANN001
    p = panel
    st = _store(p)
    conf = np.linspace(0.9, 0.1, 6)
    p.state.annotations.write("train", lambda s: s.prelabel(np.arange(6), conf))
    p.set_query(GalleryQuery(decision="prelabel"))
    assert p.current_indices().tolist() == [5, 4, 3, 2, 1, 0]  # least confident first
    click(qtbot, p, 0)
    qtbot.keyClick(p.view, Qt.Key.Key_K)  # confirmed: it leaves the queue
    assert st.find(decision="keep").tolist() == [5]
    assert p.current_indices().tolist() == [4, 3, 2, 1, 0]
    assert p.view.selected_rows().tolist() == [0] and p.detail.index == 4  # the next one
    qtbot.keyClick(p.view, Qt.Key.Key_S)  # a correction: type a class
    qtbot.keyClicks(p.relabel_bar.edit, "a")
    qtbot.keyClick(p.relabel_bar.edit, Qt.Key.Key_Return)
    assert st.annotation(4).decision == "relabel"
    assert p.current_indices().tolist() == [3, 2, 1, 0]
    p.undo_stack.undo()  # undo brings it back into the queue
    assert p.current_indices().tolist() == [4, 3, 2, 1, 0]


def test_thumbnail_marks_follow_annotations_and_other_writers(panel, qtbot) -> None:  # noqa: ANN001
    p = panel
    p.view.select_rows(np.array([0]))
    p.mark_unusable_selection()
    assert p.model.mark_of("train", 0)[0] == 4  # unusable
    p.tag_selection("x")
    assert p.model.mark_of("train", 0)[2] == 1  # tagged
    img = p.view.viewport().grab().toImage()
    r = p.view.visualRect(p.model.index(0))
    # the red cross over the image: a pixel on its diagonal is red-ish
    c = img.pixelColor(r.left() + r.width() // 2, r.top() + 4 + 28)
    assert c.red() > 120 and c.green() < 90
    # a write by Review (same hub) repaints too
    p.state.annotations.write("train", lambda s: s.keep([1], source="review"))
    assert p.model.mark_of("train", 1)[0] == 1
    seq = QKeySequence(QKeySequence.StandardKey.Undo)
    assert not seq.isEmpty()


def test_annotations_are_shared_with_review_one_store_one_undo_history(panel, qtbot) -> None:  # noqa: ANN001
    from k49helpers import make_flags

    from k49desk.gui.review.io import NewFlags
    from k49desk.gui.review.panel import ReviewPanel

    p = panel
    r = ReviewPanel(p.state)
    qtbot.addWidget(r)
    qtbot.waitUntil(lambda: not r.sessions.opening("train"), timeout=10000)
    labels = p.model.dataset.splits["train"].labels
    r.sessions.replace(NewFlags("train", make_flags(labels, n=10)))
    qtbot.waitUntil(lambda: r.sessions.get("train") is not None
                    and len(r.sessions.get("train")) == 10, timeout=10000)
    s = r.sessions.get("train")
    assert r.undo_stack is p.undo_stack
    img0, img1 = (int(i) for i in s.flags["index"].iloc[:2])
    p.view.select_rows(p.model.rows_of("train", np.array([img0])))
    p.relabel_selection(HA)  # in the Gallery ...
    assert s.decision(0).decision == "relabel" and s.final_label(0) == HA  # ... Review sees it
    assert s.decision(0).source == "manual"
    # Review's key 4 (its decide, through the same hub) ...
    p.state.annotations.write("train", lambda st: s.decide(1, "unusable"))
    assert p.model.mark_of("train", img1)[0] == 4  # ... is the Gallery's mark at once
    assert p.undo_stack.count() == 2
    p.undo_stack.undo()  # Review's step, then the Gallery's, from one history
    p.undo_stack.undo()
    assert s.decision(0) is None and s.decision(1) is None
