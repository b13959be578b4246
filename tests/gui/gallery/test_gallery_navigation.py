"""The Gallery after a new folder, a filter change or another panel's request: the grid, the
class list and the detail pane agree; a request is never a silent switch; exports work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from k49helpers import make_k49_folder
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog

from k49desk.core.dataset import open_dataset, write_split
from k49desk.gui.common.state import AppState, GalleryRequest
from k49desk.gui.gallery.detail import LITTLE_INK_TEXT
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
    p.show()
    qtbot.waitExposed(p)
    return p


def _select_row(p: GalleryPanel, row: int) -> None:
    p.view.selectionModel().setCurrentIndex(
        p.model.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect)


class _CountingModel:
    """Stands in for LoadedModel: counts the images it is asked about."""

    def __init__(self, classes: tuple) -> None:
        self.classes = classes
        self.seen = 0

    def predict_proba(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        self.seen += len(images)
        p = np.full((len(images), 49), 0.001, np.float32)
        p[:, 48] = 0.95  # a blank image "is" ゝ with 95%: what the user saw
        return p


def test_a_new_folder_resets_the_class_filter_in_the_grid_and_the_list(
        panel: GalleryPanel, tmp_path: Path) -> None:
    panel.filter.cycle(-1)  # "[" from no selection: the last class, ゝ
    assert panel.model.classes == [48] and panel.model.rowCount() == 12
    other = open_dataset(make_k49_folder(tmp_path / "other", n_train=5, n_test=2))
    panel.state.set_dataset(other)  # what "Try with demo data" does once the data is made
    assert panel.model.classes is None and panel.filter.selected_classes() is None
    assert panel.filter.summary.text() == "All 49 classes"
    assert panel.model.rowCount() == 49 * 5
    assert panel.count_label.text().startswith("Showing 245 of 245 train images")


def test_the_detail_pane_says_when_the_filter_hides_its_image(panel: GalleryPanel, ds) -> None:  # noqa: ANN001
    _select_row(panel, 3)
    label = int(ds.splits["train"].labels[3])
    assert panel.detail.hidden_note.isHidden()
    panel.set_class_filter([(label + 1) % 49])
    assert (panel.detail.split, panel.detail.index) == ("train", 3)  # still shown...
    assert panel.detail.hidden_note.isVisible()  # ...and it says the grid does not have it
    assert "hides this image" in panel.detail.hidden_note.text()
    panel.detail.hidden_note.linkActivated.emit("reveal")  # "Show it in the grid"
    assert panel.model.row_of("train", 3) is not None
    assert panel.view.currentIndex().row() == panel.model.row_of("train", 3)
    assert panel.detail.hidden_note.isHidden()


def test_a_request_says_it_switched_the_split_starts_at_the_top_and_back_restores(
        panel: GalleryPanel, ds) -> None:  # noqa: ANN001
    panel.set_split("both")
    bar = panel.view.verticalScrollBar()
    last = panel.model.rowCount() - 1
    _select_row(panel, last)  # a test image at the very end
    panel.view.scrollToBottom()
    assert bar.value() == bar.maximum() > 0
    req = GalleryRequest(split="train", classes=[23],
                         title="Training images of ね (from the drawing pad)")
    panel.state.show_in_gallery(req)  # what a Draw candidate does
    assert panel.model.split_name == "train" and panel.model.rowCount() == 12
    text = panel.request_title.text()
    assert "Training images of ね" in text and "split: Train (was Train + test)" in text
    assert bar.value() == 0  # the first match, not the old offset clamped to the end
    assert panel.detail.hidden_note.isVisible()  # the test image is not among them
    panel.clear_button.click()  # Back
    assert panel.model.split_name == "both" and panel.model.classes is None
    assert panel.split_combo.currentData() == "both"
    assert panel.filter.selected_classes() is None
    assert panel.view.currentIndex().row() == last and panel.detail.hidden_note.isHidden()


def test_a_request_without_a_title_still_gets_a_bar_and_a_way_back(panel: GalleryPanel) -> None:
    panel.set_class_filter([4])
    panel.state.show_in_gallery(GalleryRequest(split="test", classes=[7]))  # Statistics
    assert panel.request_bar.isVisible()
    assert panel.request_title.text().startswith("Images of く (ku)  ·  4 images")
    panel.clear_button.click()
    assert panel.model.split_name == "train" and panel.model.classes == [4]
    assert panel.filter.selected_classes() == [4]


def test_a_blank_image_gets_too_little_ink_instead_of_a_prediction(
        qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    folder = make_k49_folder(tmp_path / "blank", n_train=2, n_test=1)
    sp = open_dataset(folder).splits["train"]
    images, labels = np.array(sp.images), np.array(sp.labels)
    images[:2] = 0
    images[1, 14, 14] = 255  # a single speck on black
    write_split(folder, "train", images, labels)
    ds = open_dataset(folder)
    state = AppState()
    state.set_dataset(ds)
    p = GalleryPanel(state)
    qtbot.addWidget(p)
    model = _CountingModel(ds.classes)
    state.set_model(model, remember=False)
    for row in (0, 1):
        _select_row(p, row)
        assert p.detail.pred_note.text() == LITTLE_INK_TEXT
        assert not any(bar.isVisible() for _n, bar in p.detail.pred_rows)
    with qtbot.waitSignal(p.predictions_shown, timeout=10000):
        _select_row(p, 2)  # a real pattern: predicted as usual
    assert model.seen == 1 and p.detail.top5[0][0] == 48


def test_file_export_writes_the_image_the_list_and_the_view(
        panel: GalleryPanel, ds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    names = iter(["one.png", "shown.csv", "view.png"])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(
        lambda *a, **k: (str(tmp_path / next(names)), "")))
    assert [t for t, _ in panel.export_actions()] == [
        "List of the images shown (CSV)…", "Thumbnails in view (PNG)…"]
    panel.set_split("test")
    panel.set_class_filter([5, 9])
    _select_row(panel, 1)
    for _text, slot in panel.export_actions():
        slot()
    img = QImage(str(tmp_path / "one.png")).convertToFormat(QImage.Format.Format_Grayscale8)
    got = np.frombuffer(img.constBits(), np.uint8).reshape(28, img.bytesPerLine())[:, :28]
    np.testing.assert_array_equal(got, ds.splits["test"].images[panel.detail.index])
    table = pd.read_csv(tmp_path / "shown.csv")
    assert list(table.columns) == ["split", "index", "label", "char", "romaji"]
    np.testing.assert_array_equal(table["index"], panel.current_indices())
    assert set(table["label"]) == {5, 9} and set(table["split"]) == {"test"}
    assert set(table["char"]) == {"か", "こ"}
    assert not QImage(str(tmp_path / "view.png")).isNull()


def test_exported_list_of_both_splits_names_each_rows_split(panel: GalleryPanel, ds) -> None:  # noqa: ANN001
    from k49desk.gui.gallery.export import shown_table

    panel.set_split("both")
    panel.set_class_filter([2])
    t = shown_table(panel.model)
    assert list(t["split"]) == ["train"] * 12 + ["test"] * 4
    assert (t["label"] == 2).all()
    np.testing.assert_array_equal(t["index"][12:], np.flatnonzero(ds.splits["test"].labels == 2))


def test_keyboard_shortcut_keeps_working_after_a_request(panel: GalleryPanel, qtbot) -> None:  # noqa: ANN001
    panel.state.show_in_gallery(GalleryRequest(split="train", classes=[3], title="x"))
    qtbot.keyClick(panel.view, Qt.Key.Key_Right)  # moves within the requested images
    assert panel.model.data(panel.view.currentIndex(), Qt.ItemDataRole.ToolTipRole)
