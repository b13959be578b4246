"""Gallery panel: the model shows exactly the right images; the panel reacts like a product."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from k49helpers import make_k49_folder
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from k49desk.core.dataset import DEMO_TRUTH_FILE, open_dataset
from k49desk.gui.common.state import AppState, GalleryRequest
from k49desk.gui.gallery.model import (
    CaptionRole,
    FlagRole,
    GalleryModel,
    IndexRole,
    LabelRole,
    SplitRole,
)
from k49desk.gui.gallery.panel import GalleryPanel


@pytest.fixture
def ds(tiny_dir: Path):  # noqa: ANN201
    return open_dataset(tiny_dir)


@pytest.fixture
def panel(qtbot, ds):  # noqa: ANN001, ANN201
    state = AppState()
    state.set_dataset(ds)
    p = GalleryPanel(state)
    qtbot.addWidget(p)
    p.resize(1400, 900)
    _activate(qtbot, p)
    return p


def _activate(qtbot, w) -> None:  # noqa: ANN001
    # Shortcuts only fire in the active window.
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w)


def _select_row(p: GalleryPanel, row: int) -> None:
    p.view.selectionModel().setCurrentIndex(
        p.model.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect)


def test_model_passes_qt_model_tester(qtmodeltester, ds) -> None:  # noqa: ANN001
    m = GalleryModel()
    m.set_dataset(ds)
    qtmodeltester.check(m)
    m.configure(split="both", classes=[2, 40])
    qtmodeltester.check(m)


def test_model_roles_describe_the_row(ds) -> None:  # noqa: ANN001
    m = GalleryModel()
    m.set_dataset(ds)
    m.configure(split="both")
    n_train = len(ds.splits["train"])
    row = n_train + 3  # the fourth test image
    mi = m.index(row)
    assert m.data(mi, SplitRole) == "test"
    assert m.data(mi, IndexRole) == 3
    assert m.data(mi, LabelRole) == int(ds.splits["test"].labels[3])
    assert m.data(mi, FlagRole) is None
    assert "test #3" in m.data(mi, Qt.ItemDataRole.ToolTipRole)


def test_class_filter_shows_exactly_that_class(panel, ds) -> None:  # noqa: ANN001
    labels = ds.splits["train"].labels
    panel.set_class_filter([7])
    np.testing.assert_array_equal(panel.current_indices(), np.flatnonzero(labels == 7))
    assert panel.model.rowCount() == 12
    assert panel.filter.selected_classes() == [7]


def test_multi_class_filter_keeps_dataset_order(panel, ds) -> None:  # noqa: ANN001
    labels = ds.splits["train"].labels
    panel.set_class_filter([1, 5, 48])
    want = np.flatnonzero(np.isin(labels, [1, 5, 48]))
    np.testing.assert_array_equal(panel.current_indices(), want)
    panel.set_class_filter(None)
    assert panel.model.rowCount() == len(labels)
    assert panel.filter.selected_classes() is None


def test_selecting_classes_in_the_list_filters_the_grid(panel, ds) -> None:  # noqa: ANN001
    labels = ds.splits["train"].labels
    panel.filter.set_selected([3, 4], emit=True)
    np.testing.assert_array_equal(panel.current_indices(), np.flatnonzero(np.isin(labels, [3, 4])))
    panel.filter.all_button.click()
    assert panel.model.rowCount() == len(labels)


def test_both_splits_concatenate_train_then_test(panel, ds) -> None:  # noqa: ANN001
    tr, te = ds.splits["train"].labels, ds.splits["test"].labels
    panel.set_split("both")
    panel.set_class_filter([10])
    want = np.concatenate([np.flatnonzero(tr == 10), np.flatnonzero(te == 10)])
    np.testing.assert_array_equal(panel.current_indices(), want)
    codes = panel.model.split_codes()
    assert (codes == 0).sum() == 12 and (codes == 1).sum() == 4
    assert panel.split_combo.currentData() == "both"
    # The class list counts both splits.
    assert panel.filter.count_of(10) == 16


def test_test_split_shows_test_images_only(panel, ds) -> None:  # noqa: ANN001
    panel.set_split("test")
    assert panel.model.rowCount() == len(ds.splits["test"])
    assert panel.model.data(panel.model.index(0), SplitRole) == "test"
    assert panel.filter.count_of(0) == 4


def test_flagged_only_shows_flagged_images_and_marks_them(panel, ds) -> None:  # noqa: ANN001
    labels = ds.splits["train"].labels
    flags = pd.DataFrame({"split": ["train", "train", "train", "test"],
                          "index": [40, 3, 100, 2], "issue": ["label", "blank", "label", "label"]})
    assert not panel.flagged_check.isEnabled()
    for split in ("train", "test"):
        panel.state.set_flags(split, flags[flags["split"] == split])
    assert panel.flagged_check.isEnabled()
    assert panel.model.data(panel.model.index(40), FlagRole) == "label"
    assert panel.model.data(panel.model.index(41), FlagRole) is None
    panel.set_flagged_only(True)
    np.testing.assert_array_equal(panel.current_indices(), [3, 40, 100])
    assert panel.flagged_check.text() == "Flagged only (3)"
    panel.set_split("both")  # train flags, then test flags
    np.testing.assert_array_equal(panel.current_indices(), [3, 40, 100, 2])
    np.testing.assert_array_equal(panel.model.split_codes(), [0, 0, 0, 1])
    assert panel.flagged_check.text() == "Flagged only (4)"
    panel.set_split("train")
    panel.set_class_filter([int(labels[40])])
    np.testing.assert_array_equal(
        panel.current_indices(), [i for i in (3, 40, 100) if labels[i] == labels[40]])
    panel.state.set_flags("train", None)
    panel.state.set_flags("test", None)
    assert not panel.flagged_check.isChecked()
    assert not panel.flagged_check.isEnabled()


def test_request_with_indices_keeps_their_order_and_captions(panel, qtbot) -> None:  # noqa: ANN001
    req = GalleryRequest(split="test", indices=np.array([50, 2, 9]), title="Misclassified",
                         captions={2: "pred ね"}, select=9)
    panel.state.show_in_gallery(req)  # through the shared state, like other panels do
    np.testing.assert_array_equal(panel.current_indices(), [50, 2, 9])
    assert panel.request_bar.isVisible()
    assert "Misclassified" in panel.request_title.text()
    assert panel.model.data(panel.model.index(1), CaptionRole) == "pred ね"
    assert panel.model.data(panel.model.index(0), CaptionRole) is None
    assert (panel.detail.split, panel.detail.index) == ("test", 9)
    _select_row(panel, 1)
    assert panel.detail.fields["Note"].text() == "pred ね"
    assert "split: Test (was Train)" in panel.request_title.text()  # not a silent switch
    qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)  # Back
    assert not panel.request_bar.isVisible()
    assert panel.model.split_name == "train" and panel.model.rowCount() == 49 * 12
    assert panel.split_combo.currentData() == "train"
    assert panel.model.data(panel.model.index(2), CaptionRole) is None


def test_request_with_classes_selects_them_in_the_list(panel, ds) -> None:  # noqa: ANN001
    panel.apply_request(GalleryRequest(split="train", classes=[23]))
    assert panel.filter.selected_classes() == [23]
    np.testing.assert_array_equal(panel.current_indices(),
                                  np.flatnonzero(ds.splits["train"].labels == 23))


def test_random_order_is_a_seeded_permutation_and_reshuffle_changes_it(panel, ds) -> None:  # noqa: ANN001
    n = len(ds.splits["train"])
    panel.set_order("random", seed=3)
    first = panel.current_indices()
    np.testing.assert_array_equal(first, np.random.default_rng(3).permutation(n))
    panel.set_order("random", seed=3)
    np.testing.assert_array_equal(panel.current_indices(), first)
    panel.reshuffle()
    second = panel.current_indices()
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.sort(second), np.arange(n))
    # A class filter keeps the random order of that class's images.
    panel.set_class_filter([5])
    got = panel.current_indices()
    labels = ds.splits["train"].labels
    np.testing.assert_array_equal(got, second[labels[second] == 5])
    panel.set_order("dataset")
    np.testing.assert_array_equal(panel.current_indices(), np.flatnonzero(labels == 5))


def test_clicking_a_thumbnail_shows_its_label_in_the_detail_pane(panel, qtbot, ds) -> None:  # noqa: ANN001
    row = 14
    rect = panel.view.visualRect(panel.model.index(row))
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    lab = int(ds.splits["train"].labels[row])
    assert panel.detail.index == row and panel.detail.label == lab
    assert ds.classes[lab].char in panel.detail.fields["Label"].text()
    assert panel.detail.char.text() == ds.classes[lab].char
    assert not panel.detail.image.pixmap().isNull()
    assert panel.detail.image.pixmap().width() == 224


def test_arrow_and_page_keys_move_the_selection(panel, qtbot) -> None:  # noqa: ANN001
    _select_row(panel, 0)
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_Right)
    assert panel.view.currentIndex().row() == 1
    assert panel.detail.index == 1
    cols = panel.view.viewport().width() // panel.view.gridSize().width()
    qtbot.keyClick(panel.view, Qt.Key.Key_Down)
    assert panel.view.currentIndex().row() == 1 + cols
    qtbot.keyClick(panel.view, Qt.Key.Key_PageDown)
    assert panel.view.currentIndex().row() > 1 + cols
    qtbot.keyClick(panel.view, Qt.Key.Key_Left)
    assert panel.detail.index == panel.view.currentIndex().row()


def test_copy_shortcut_puts_the_index_on_the_clipboard(panel, qtbot) -> None:  # noqa: ANN001
    panel.set_split("test")
    _select_row(panel, 37)
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "37"
    _select_row(panel, 5)
    panel.detail.copy_button.click()
    assert QGuiApplication.clipboard().text() == "5"


def test_jump_to_index_widens_a_filter_that_hides_it(panel, ds) -> None:  # noqa: ANN001
    labels = ds.splits["train"].labels
    target = int(np.flatnonzero(labels == 9)[3])
    panel.set_class_filter([2])
    assert panel.jump_to(target)
    assert panel.filter.selected_classes() is None
    assert panel.view.currentIndex().row() == target
    assert panel.detail.index == target
    assert panel.jump_to_text("test 7")
    assert (panel.detail.split, panel.detail.index) == ("test", 7)
    assert not panel.jump_to(10**6)
    assert not panel.jump_to_text("not a number")


def test_bracket_shortcut_cycles_through_non_empty_classes(qtbot, tmp_path) -> None:  # noqa: ANN001
    folder = make_k49_folder(tmp_path / "some", n_train=3, n_test=1, classes=[4, 9, 30])
    state = AppState()
    state.set_dataset(open_dataset(folder))
    p = GalleryPanel(state)
    qtbot.addWidget(p)
    p.show()
    _activate(qtbot, p)
    p.view.setFocus()
    seen = []
    for _ in range(4):
        qtbot.keyClick(p.view, Qt.Key.Key_BracketRight)
        seen.append(p.filter.selected_classes())
    assert seen == [[4], [9], [30], [4]]
    qtbot.keyClick(p.view, Qt.Key.Key_BracketLeft)
    assert p.filter.selected_classes() == [30]
    assert p.model.rowCount() == 3


def test_empty_classes_are_listed_with_zero(qtbot, tmp_path) -> None:  # noqa: ANN001
    folder = make_k49_folder(tmp_path / "few", n_train=5, n_test=2, classes=[0, 17, 48])
    state = AppState()
    state.set_dataset(open_dataset(folder))
    p = GalleryPanel(state)
    qtbot.addWidget(p)
    assert p.filter.tree.topLevelItemCount() == 49
    assert [p.filter.count_of(c) for c in (0, 1, 17, 47, 48)] == [5, 0, 5, 0, 5]
    p.filter.sort_by("count")
    order = p.filter.visible_order()
    assert order[:3] == [0, 17, 48] and len(order) == 49
    p.filter.sort_by("index")
    assert p.filter.visible_order() == list(range(49))
    p.set_class_filter([1])
    assert p.model.rowCount() == 0
    assert p.empty_label.text() == "No images match this filter."


def test_real_images_with_39_empty_classes(qtbot, real10) -> None:  # noqa: ANN001
    state = AppState()
    state.set_dataset(open_dataset(real10))
    p = GalleryPanel(state)
    qtbot.addWidget(p)
    counts = [p.filter.count_of(c) for c in range(49)]
    assert sum(counts) == 4000 and counts.count(0) == 39 and counts[4] == 400
    p.set_class_filter([4, 6])
    assert p.model.rowCount() == 800


def test_demo_data_is_labelled_as_generated(qtbot, tmp_path) -> None:  # noqa: ANN001
    folder = make_k49_folder(tmp_path / "demo", n_train=2, n_test=1)
    (folder / DEMO_TRUTH_FILE).write_text("split,index,given_label,true_label\n")
    state = AppState()
    state.set_dataset(open_dataset(folder))
    p = GalleryPanel(state)
    qtbot.addWidget(p)
    p.show()
    assert p.demo_banner.isVisible()
    assert "Generated demo data" in p.demo_banner.text()
    assert "generated demo data" in p.count_label.text()
    _select_row(p, 0)
    assert "generated" in p.detail.title.text()


class _FakeModel:
    """Stands in for LoadedModel: always most sure of class 23 (ね), then 0, 1, 2, 3."""

    def __init__(self, classes: tuple) -> None:
        self.classes = classes
        self.threads: list[str] = []

    def predict_proba(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        import threading

        self.threads.append(threading.current_thread().name)
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
        p = np.full((len(images), 49), 0.001, np.float32)
        p[:, 23], p[:, 0], p[:, 1], p[:, 2], p[:, 3] = 0.6, 0.2, 0.1, 0.05, 0.02
        return p


def test_detail_pane_shows_the_models_top5_computed_off_the_gui_thread(
        panel, ds, qtbot) -> None:  # noqa: ANN001
    import threading

    _select_row(panel, 0)
    assert panel.detail.top5 == []
    assert panel.detail.pred_note.isVisible()
    model = _FakeModel(ds.classes)
    with qtbot.waitSignal(panel.predictions_shown, timeout=10000):
        panel.state.set_model(model, remember=False)
    assert model.threads and threading.main_thread().name not in model.threads
    assert [k for k, _ in panel.detail.top5] == [23, 0, 1, 2, 3]
    assert panel.detail.top5[0][1] == pytest.approx(0.6)
    assert panel.detail.pred_rows[0][0].text().startswith("ね")
    assert panel.detail.pred_rows[0][1].text() == "60.0%"


def test_zoom_changes_the_grid_size(panel) -> None:  # noqa: ANN001
    before = panel.view.gridSize().width()
    panel.zoom.setValue(4)
    assert panel.delegate.thumb == 112
    assert panel.view.gridSize().width() > before


def test_panel_renders_thumbnails(panel, tmp_path) -> None:  # noqa: ANN001
    panel.invert_check.setChecked(True)
    img = panel.view.viewport().grab().toImage()
    # Inverted thumbnails: light paper with dark ink somewhere in the first cell.
    first = panel.view.visualRect(panel.model.index(0))
    values = {img.pixelColor(x, y).lightness()
              for x in range(first.left(), first.right(), 3)
              for y in range(first.top(), first.bottom(), 3)}
    assert max(values) > 200 and min(values) < 80


def test_no_dataset_shows_a_hint(qtbot) -> None:  # noqa: ANN001
    p = GalleryPanel(AppState())
    qtbot.addWidget(p)
    p.show()
    assert p.model.rowCount() == 0
    assert p.empty_label.isVisible()
    assert "No data folder" in p.empty_label.text()
    assert p.current_indices().size == 0


def test_many_repaints_keep_none_and_bool_refcounts_stable(panel) -> None:  # noqa: ANN001
    # PySide6 6.12.0 dropped a reference to None/True/False on every void call and signal emit,
    # aborting CPython 3.11 ("none_dealloc") within seconds of scrolling; pyproject pins <6.12.
    import sys

    from PySide6.QtCore import QObject

    before = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    for _ in range(80):
        panel.view.viewport().repaint()
    o = QObject()
    for _ in range(5000):
        o.setObjectName("probe")
        o.objectNameChanged.emit("probe")
    after = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    assert all(a > b - 1000 for a, b in zip(after, before, strict=True)), (before, after)


def test_grid_geometry_round_trips_and_end_key_reaches_the_last_image(panel, qtbot) -> None:  # noqa: ANN001
    view, model = panel.view, panel.model
    for row in (0, 1, 11, 12, 40):
        rect = view.visualRect(model.index(row))
        assert rect.isValid()
        assert view.indexAt(rect.center()).row() == row
    _select_row(panel, 0)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_End)
    last = model.rowCount() - 1
    assert view.currentIndex().row() == last and panel.detail.index == last
    assert view.viewport().rect().intersects(view.visualRect(model.index(last)))
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert view.currentIndex().row() == 0 and view.verticalScrollBar().value() == 0


def test_ctrl_wheel_zooms_and_keeps_the_current_image_in_view(panel, qtbot) -> None:  # noqa: ANN001
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent

    panel.jump_to(150)
    before = panel.zoom.value()
    ev = QWheelEvent(QPointF(50, 50), QPointF(50, 50), QPoint(0, 0), QPoint(0, 120),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier,
                     Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(panel.view.viewport(), ev)
    assert panel.zoom.value() == before + 1
    assert panel.view.viewport().rect().intersects(panel.view.visualRect(panel.model.index(150)))


def test_flag_marker_is_painted_amber_then_green_once_decided(panel) -> None:  # noqa: ANN001
    from k49desk.gui.gallery.delegate import DECIDED_COLOR, FLAG_COLOR
    from k49desk.gui.gallery.model import DecisionRole

    def corner_color(row: int) -> str:
        img = panel.view.viewport().grab().toImage()
        r = panel.view.visualRect(panel.model.index(row))
        side = panel.delegate.thumb
        x = r.x() + (r.width() - side) // 2 + side - 3  # just inside the top-right corner
        return img.pixelColor(x, r.y() + 4 + 2).name()

    flags = pd.DataFrame({"split": ["train", "train"], "index": [1, 2],
                          "issue": ["label", "label"], "decision": [None, "keep"]})
    for split in ("train", "test"):
        panel.state.set_flags(split, flags[flags["split"] == split])
    assert panel.model.data(panel.model.index(1), DecisionRole) is None
    assert panel.model.data(panel.model.index(2), DecisionRole) == "keep"
    assert corner_color(1) == FLAG_COLOR.name()
    assert corner_color(2) == DECIDED_COLOR.name()
    assert corner_color(0) not in (FLAG_COLOR.name(), DECIDED_COLOR.name())


def test_long_captions_widen_the_cells_instead_of_overlapping(panel) -> None:  # noqa: ANN001
    from PySide6.QtGui import QFontMetrics

    narrow = panel.view.gridSize().width()
    text = "pred ね / true お"
    panel.apply_request(GalleryRequest(split="test", indices=np.arange(10),
                                       captions={i: text for i in range(10)}, title="errors"))
    need = QFontMetrics(panel.delegate._caption_font).horizontalAdvance(text)
    assert panel.view.gridSize().width() >= need > narrow - 8
    panel.clear_request()
    assert panel.view.gridSize().width() == narrow


def test_a_broken_model_does_not_break_browsing(panel, qtbot) -> None:  # noqa: ANN001
    class Broken:
        classes = None

        def predict_proba(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
            raise RuntimeError("shape mismatch in conv1")

    panel.state.set_model(Broken(), remember=False)
    _select_row(panel, 3)
    assert panel.detail.index == 3 and panel.detail.top5 == []
    qtbot.waitUntil(lambda: "Prediction failed" in panel.detail.pred_note.text(), timeout=10000)
    assert "Prediction failed: shape mismatch in conv1" in panel.detail.pred_note.text()
    _select_row(panel, 4)  # and the next image is shown all the same
    assert panel.detail.index == 4
