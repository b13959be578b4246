"""Evaluation view: the numbers equal `k49desk evaluate`'s, absent classes are absent (not 0%),
a number leads to its images, exports are right."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from k49desk.core.dataset import open_dataset
from k49desk.core.model import load_checkpoint
from k49desk.core.training import TrainConfig, train_folder
from k49desk.gui.common.state import AppState
from k49desk.gui.train.eval_view import EvalView

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from k49helpers import make_k49_folder  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny folder with only 10 classes (real10-like) and a model trained 1 epoch on it."""
    import torch

    torch.set_num_threads(1)
    root = make_k49_folder(tmp_path_factory.mktemp("ten") / "ten", n_train=10, n_test=6,
                           classes=range(0, 49, 5))
    out = tmp_path_factory.mktemp("m") / "m.pt"
    train_folder(TrainConfig(epochs=1, batch_size=32, augment=False), root, out)
    return root, out


@pytest.fixture
def view(qtbot, trained: tuple[Path, Path]) -> EvalView:  # noqa: ANN001
    root, out = trained
    state = AppState()
    v = EvalView(state)
    qtbot.addWidget(v)
    v.resize(1200, 700)
    state.set_dataset(open_dataset(root))
    state.set_model(load_checkpoint(out), out)
    with qtbot.waitSignal(v.evaluated, timeout=60000):
        assert v.evaluate_now()
    yield v
    v.tasks.shutdown()


def _cli_evaluate(model: Path, root: Path, capsys: pytest.CaptureFixture) -> dict:
    from k49desk.cli import main

    capsys.readouterr()
    assert main(["evaluate", "--model", str(model), "--data-dir", str(root), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_numbers_equal_cli_evaluate(view: EvalView, trained: tuple[Path, Path],
                                    capsys: pytest.CaptureFixture) -> None:
    root, out = trained
    cli = _cli_evaluate(out, root, capsys)
    r = view.result
    assert r.balanced_accuracy == pytest.approx(cli["balanced_accuracy"], abs=1e-12)
    assert r.accuracy == pytest.approx(cli["accuracy"], abs=1e-12) and r.n == cli["n"] == 60
    assert view.headline.text() == f"Balanced accuracy {100 * cli['balanced_accuracy']:.2f}%"
    assert f"accuracy {100 * cli['accuracy']:.2f}%" in view.subline.text()
    table = pd.read_csv(io.StringIO(view.per_class_csv()), keep_default_na=False)
    for _, row in table.iterrows():
        want = cli["per_class"].get(row["char"])
        if want is None:
            assert row["accuracy"] == "" and row["support"] == 0
        else:
            assert float(row["accuracy"]) == pytest.approx(want, abs=1e-6)


def test_absent_classes_are_shown_as_absent_not_zero(view: EvalView) -> None:
    r = view.result
    assert int(np.isnan(r.per_class).sum()) == 39
    assert view.bars.n_present == 10
    present = set(range(0, 49, 5))
    assert set(view.bars.order[:10].tolist()) == present  # bars first, absent ones after
    assert not present & set(view.bars.order[10:].tolist())
    shown = r.per_class[view.bars.order[:10]]
    assert (np.diff(shown) >= 0).all()  # worst first
    assert "absent from the test split (39)" in view.subline.text()
    frac = view.confusion.normalised()
    assert np.isnan(frac[1]).all() and np.allclose(frac[0].sum(), 1.0)


def test_clicking_a_confusion_cell_shows_its_images_in_gallery(qtbot, view: EvalView) -> None:  # noqa: ANN001
    r = view.result
    off = r.confusion.copy()
    np.fill_diagonal(off, 0)
    i, j = np.unravel_index(int(off.argmax()), off.shape)
    if off[i, j] == 0:  # a perfect model: use a diagonal cell instead
        i = j = 0
    labels = np.asarray(view.state.dataset.split("test").labels)
    want = np.flatnonzero((labels == i) & (r.predictions == j))
    pos = view.confusion.plotItem.vb.mapViewToScene(QPointF(j + 0.5, i + 0.5))
    assert view.confusion.cell_at(pos) == (i, j)
    view.confusion.show()
    with qtbot.waitSignal(view.state.gallery_requested, timeout=5000) as sig:
        req = view.show_pair(int(i), int(j), in_gallery=True)
    got = sig.args[0]
    assert got is req and got.split == "test"
    np.testing.assert_array_equal(got.indices, want)
    ci, cj = view.classes[i].char, view.classes[j].char
    assert got.captions[int(want[0])] == f"pred {cj} / true {ci}"
    assert got.title.endswith(f"{cj} ({len(want)})") and got.title.startswith(f"true {ci} → ")
    assert view.gallery_btn.isEnabled() and not view.strip.pixmap().isNull()


def test_clicking_a_bar_lists_that_class_mistakes(qtbot, view: EvalView) -> None:  # noqa: ANN001
    worst = int(view.bars.order[0])
    labels = np.asarray(view.state.dataset.split("test").labels)
    want = np.flatnonzero((labels == worst) & (view.result.predictions != worst))
    req = view.show_class_errors(worst)
    np.testing.assert_array_equal(req.indices, want)
    assert req.title == f"true {view.classes[worst].char}: misclassified ({len(want)})"
    x = QPointF(0.0, 90.0)
    assert view.bars.class_at(view.bars.plotItem.vb.mapViewToScene(x)) == worst


def test_exports_per_class_and_confusion_csv(view: EvalView, tmp_path: Path) -> None:
    view.export_per_class_csv(tmp_path / "pc.csv")
    view.export_confusion_csv(tmp_path / "cm.csv")
    pc = pd.read_csv(tmp_path / "pc.csv")
    assert len(pc) == 49 and pc["support"].sum() == 60
    assert pc["accuracy"].isna().sum() == 39
    cm = pd.read_csv(tmp_path / "cm.csv", index_col=0)
    assert cm.shape == (49, 49) and int(cm.to_numpy().sum()) == 60
    np.testing.assert_array_equal(cm.to_numpy(), view.result.confusion)
    assert cm.columns[1] == "1 い"


def test_log_colour_changes_levels_only(view: EvalView) -> None:
    view.log_box.setChecked(True)
    assert view.confusion.image.getLevels().tolist() == [-3.0, 0.0]
    view.log_box.setChecked(False)
    assert view.confusion.image.getLevels().tolist() == [0.0, 1.0]


def test_without_model_explains_instead_of_evaluating(qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    state = AppState()
    v = EvalView(state)
    qtbot.addWidget(v)
    state.set_dataset(open_dataset(tiny_dir))
    assert v.evaluate_now() is False
    assert "No model yet" in v.subline.text()


def test_folder_without_test_split_explains_instead_of_showing_nan(
        qtbot, tmp_path: Path, trained: tuple[Path, Path]) -> None:  # noqa: ANN001
    root = make_k49_folder(tmp_path / "trainonly", n_train=2, n_test=0, splits=("train",))
    state = AppState()
    v = EvalView(state)
    qtbot.addWidget(v)
    state.set_dataset(open_dataset(root))
    state.set_model(load_checkpoint(trained[1]), trained[1])
    assert v.evaluate_now() is False
    assert "no test images" in v.subline.text() and v.headline.text() == "—"


# ---- issue 9: stale headline, messages, precision/recall/F1, counts, ticks, tooltips -----
def test_no_old_number_is_shown_while_a_new_evaluation_runs(
        qtbot, view: EvalView, trained: tuple[Path, Path]) -> None:  # noqa: ANN001
    assert view.headline.text().startswith("Balanced accuracy")
    view.state.set_model(load_checkpoint(trained[1]), trained[1])  # another model object
    assert "Balanced accuracy" not in view.headline.text() and view.result is None
    with qtbot.waitSignal(view.evaluated, timeout=60000):
        assert view.evaluate_now()
        assert view.headline.text() == "Evaluating…"
        assert "Evaluating m.pt on 60 test images" in view.subline.text()
        assert not view.bars.chars and not view.confusion.confusion.size
        assert not view.per_class_btn.isEnabled() and view.metrics.table.rowCount() == 0
    assert view.headline.text().startswith("Balanced accuracy")


def test_hover_text_offers_mistakes_only_when_there_are_some(view: EvalView) -> None:
    from types import SimpleNamespace

    cm = np.zeros((49, 49), np.int64)
    cm[0, 0], cm[1, 1], cm[1, 2] = 50, 7, 3
    support = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)
    view.result = SimpleNamespace(confusion=cm, support=support, per_class=per_class)
    assert view.bar_text(0) == "あ (a): all 50 test images correct, no mistakes"
    assert view.bar_text(1).endswith("3 wrong; most often taken for う (u) (3) — click to "
                                     "see the mistakes")
    assert view.bar_text(5) == "か (ka): absent from the test split"
    view.confusion.set_data(cm, view.classes)
    view._on_cell_hover(1, 2)
    assert view.info.text().endswith("3 images (30.0% of 10) — click to see them")
    view._on_cell_hover(1, 3)  # nothing there: nothing to click for
    assert view.info.text().endswith("0 images (0.0% of 10)")


def test_precision_recall_f1_table_is_right_and_sortable(view: EvalView) -> None:
    from k49desk.gui.train.eval_tables import macro_averages, per_class_table

    cm = view.result.confusion
    t = per_class_table(view.result, view.classes)
    for c in range(49):
        tp, fn, fp = cm[c, c], cm[c].sum() - cm[c, c], cm[:, c].sum() - cm[c, c]
        if cm[c].sum() == 0:
            assert np.isnan(t.recall[c]) and np.isnan(t.f1[c])
            continue
        assert t.recall[c] == pytest.approx(tp / (tp + fn))
        assert t.f1[c] == pytest.approx(2 * tp / (2 * tp + fp + fn))
        if tp + fp:
            assert t.precision[c] == pytest.approx(tp / (tp + fp))
    m = macro_averages(t)
    assert m["recall"] == pytest.approx(view.result.balanced_accuracy)
    table = view.metrics.table
    assert table.rowCount() == 49 and view.metrics.column_values("char")[:2] == ["あ", "い"]
    table.sortByColumn(6, Qt.SortOrder.AscendingOrder)  # F1, worst first, absent last
    f1 = [float(x[:-1]) if x != "—" else np.inf for x in view.metrics.column_values("f1")]
    assert f1 == sorted(f1) and f1[-1] == np.inf
    assert "recall" in view.metrics.summary.text() and view.per_class_btn.isEnabled()
    pc = pd.read_csv(io.StringIO(view.per_class_csv()))
    assert {"precision", "recall", "f1", "predicted"} <= set(pc.columns)


def test_confusion_counts_or_row_normalised(view: EvalView) -> None:
    cm = view.result.confusion
    view.mode_box.setCurrentIndex(1)
    assert view.confusion.image.getLevels().tolist() == [0.0, float(cm.max())]
    np.testing.assert_array_equal(view.confusion.image.image, cm)
    assert view.cm_title.text() == "Confusion matrix (counts)"
    view.log_box.setChecked(True)
    assert view.confusion.image.getLevels().tolist() == pytest.approx(
        [0.0, np.log10(1 + cm.max())])
    assert view.cm_title.text() == "Confusion matrix (counts, log colour)"
    view.mode_box.setCurrentIndex(0)
    view.log_box.setChecked(False)
    assert view.confusion.image.getLevels().tolist() == [0.0, 1.0]


def _drawn_labels(axis: object) -> list[str]:
    """The tick labels pyqtgraph actually draws (it silently drops some)."""
    from PySide6.QtGui import QImage, QPainter

    img = QImage(10, 10, QImage.Format.Format_ARGB32)
    p = QPainter(img)
    try:
        _axis, _ticks, texts = axis.generateDrawSpecs(p)  # type: ignore[attr-defined]
    finally:
        p.end()
    return [t[2] for t in texts]


def test_class_ticks_readable_thinned_when_small_and_none_lost_at_the_ends(
        qtbot, view: EvalView) -> None:  # noqa: ANN001
    from k49desk.gui.train.eval_plots import TICK_PT

    view.show()
    bars = view.bars
    assert bars.axis.style["tickFont"].pointSizeF() == TICK_PT >= 10
    for width in (1400, 1000, 800, 640, 560):
        view.resize(width, 700)
        qtbot.wait(20)
        want = [ch for i, ch in enumerate(bars.chars) if i % bars.step == 0]
        assert _drawn_labels(bars.axis) == want, width  # the first and last ones too
        assert width < 1000 or bars.step == 1
    view.views.setCurrentIndex(1)
    view.resize(560, 460)
    qtbot.wait(50)
    assert view.confusion.step > 1  # too small for 49 labels: every 2nd/3rd, not overlapping
    left = _drawn_labels(view.confusion.axes[0])
    assert len(left) == len(range(0, 49, view.confusion.step))


def test_confusion_tooltip_stays_inside_the_plot(qtbot, view: EvalView) -> None:  # noqa: ANN001
    from PySide6.QtCore import QRect

    view.show()
    view.resize(900, 700)
    view.views.setCurrentIndex(1)
    qtbot.wait(50)
    cp = view.confusion
    area = QRect(cp.mapToGlobal(QPoint(0, 0)), cp.size())
    for i, j in ((0, 48), (48, 48), (0, 0), (24, 47)):
        scene = cp.plotItem.vb.mapViewToScene(QPointF(j + 0.5, i + 0.5))
        cp._on_move(scene)
        text, rect = cp.last_tip
        assert text.startswith(f"true {view.classes[i].label}\npredicted "
                               f"{view.classes[j].label}\n")
        assert area.contains(rect), (i, j, rect, area)
