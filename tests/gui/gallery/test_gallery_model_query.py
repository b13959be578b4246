"""Gallery: filter and sort by the current model's outputs (predicted class, prediction ≠
label, confidence, highest loss first), combined with the class, decision, tag and flag
filters; the pass's progress and Cancel; why the filters are off without a model; "find
similar" from the detail pane. Named so that -k 'annotat or select or tag' runs them."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gallery_helpers import click
from outputs_helpers import known_outputs, tiny_model
from PySide6.QtCore import Qt

from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.dataset import open_dataset
from k49desk.core.neighbors import NeighborIndex
from k49desk.core.progress import check_stop, report
from k49desk.gui.common.state import AppState
from k49desk.gui.gallery.model_query import OutputQuery
from k49desk.gui.gallery.panel import GalleryPanel


def make_panel(qtbot, folder: Path, outputs: object = "known") -> GalleryPanel:  # noqa: ANN001
    """A Gallery on `folder` with a model; `outputs="known"` puts known outputs in the shared
    hub before the panel shows (so no pass runs), None lets the real pass run."""
    state = AppState()
    ds = open_dataset(folder)
    state.set_dataset(ds)
    state.set_model(tiny_model(), None, remember=False)
    if outputs == "known":
        state.outputs.outputs = known_outputs(ds)
    p = GalleryPanel(state)
    qtbot.addWidget(p)
    p.resize(1400, 900)
    p.show()
    qtbot.waitExposed(p)
    qtbot.waitUntil(lambda: p.model.marks.has("train"), timeout=20000)
    return p


def test_select_by_model_outputs_with_known_predictions_and_reset_in_one_click(
        qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    p = make_panel(qtbot, tiny_dir)
    so = p.state.outputs.outputs.split("train")
    labels = so.labels.astype(int)
    assert p.model.outputs is p.state.outputs.outputs  # taken from the hub when shown
    assert p.model_box.predicted_combo.isEnabled() and "27" not in p.model_box.status.text()

    p.set_model_query(OutputQuery(disagree=True))  # prediction differs from the label
    np.testing.assert_array_equal(p.current_indices(), np.flatnonzero(so.predicted != labels))
    assert "prediction ≠ label" in p.count_label.text()
    assert p.model_box.disagree_check.isChecked()  # the box mirrors the query

    p.set_class_filter([7])  # combined with the class filter
    want = np.flatnonzero((labels == 7) & (so.predicted != labels))
    np.testing.assert_array_equal(p.current_indices(), want)
    assert len(want) and all(so.predicted[i] == 8 for i in want)

    p.set_class_filter(None)
    p.set_model_query(OutputQuery(predicted=(3,), confidence=(0.3, 0.7)))
    want = np.flatnonzero((so.predicted == 3) & (so.confidence >= np.float32(0.3))
                          & (so.confidence <= np.float32(0.7)))
    np.testing.assert_array_equal(np.sort(p.current_indices()), want)
    assert "predicted " + OFFICIAL_CLASSES[3].label in p.count_label.text()
    assert "confidence 0.30–0.70" in p.count_label.text()

    p.set_model_query(OutputQuery(sort="loss"))  # highest loss first: every image
    got = p.current_indices()
    np.testing.assert_array_equal(got, np.argsort(-so.loss, kind="stable"))
    assert not p.order_combo.isEnabled()  # the sort decides the order
    i = int(got[0])  # the thumbnail says what the model predicted, and how sure
    want_caption = f"pred {OFFICIAL_CLASSES[so.predicted[i]].char} {so.confidence[i]:.2f}"
    assert p.model.caption_of("train", i) == want_caption
    assert p.delegate.caption_height() > 0
    assert "loss" in p.model.data(p.model.index(0), Qt.ItemDataRole.ToolTipRole)

    p.set_model_query(OutputQuery(sort="least_confident"))
    np.testing.assert_array_equal(p.current_indices(), np.argsort(so.confidence, kind="stable"))

    qtbot.mouseClick(p.query_bar.reset_button, Qt.MouseButton.LeftButton)  # one click
    assert p.model.rowCount() == len(labels) and p.model.query.model == OutputQuery()
    assert p.model_box.sort_combo.currentData() is None and p.order_combo.isEnabled()
    assert p.delegate.caption_height() == 0


def test_select_by_model_outputs_combined_with_tags_decisions_flags_and_both_splits(
        qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    p = make_panel(qtbot, tiny_dir)
    out = p.state.outputs.outputs
    so = out.split("train")
    wrong = np.flatnonzero(so.predicted != so.labels)
    store = p.state.annotations.store("train")
    store.mark_unusable(wrong[:4])
    store.add_tag(wrong[2:6], "odd")
    p.state.set_flags("train", pd.DataFrame({"split": "train", "index": wrong[::3],
                                             "issue": "label", "decision": ""}))
    p.set_model_query(OutputQuery(disagree=True, sort="loss"))
    p.set_decision_filter("unusable")
    got = p.current_indices()
    assert sorted(got) == sorted(wrong[:4])
    assert list(so.loss[got]) == sorted(so.loss[got], reverse=True)
    p.set_decision_filter(None)
    p.set_tag_filter("odd")
    assert sorted(p.current_indices()) == sorted(wrong[2:6])
    p.set_tag_filter(None)
    p.set_flagged_only(True)
    assert sorted(p.current_indices()) == sorted(wrong[::3])
    text = p.count_label.text()
    assert "flagged" in text and "highest loss first" in text
    p.set_flagged_only(False)

    p.set_split("both")  # one sort across train and test
    p.set_model_query(OutputQuery(sort="most_confident"))
    conf = np.concatenate([out.split(s).confidence for s in p.model.shown_split_names()])
    ids = p.model.row_ids()
    assert len(ids) == len(conf)
    assert np.all(np.diff(conf[ids]) <= 0)


def test_select_waits_for_the_pass_shows_its_progress_and_cancel_stops_it(
        qtbot, tiny_dir: Path, monkeypatch) -> None:  # noqa: ANN001
    import k49desk.core.outputs as core_outputs

    ds = open_dataset(tiny_dir)
    known = known_outputs(ds)

    def slow(loaded, ds, *, progress=None, should_stop=None, **_kw):  # noqa: ANN001, ANN202
        for k in range(400):  # until Cancel
            check_stop(should_stop)
            report(progress, k / 400, f"Running the model on train: {k}/400")
            time.sleep(0.01)
        return known

    monkeypatch.setattr(core_outputs, "compute_outputs", slow)
    p = make_panel(qtbot, tiny_dir, outputs=None)
    box = p.model_box
    qtbot.waitUntil(lambda: box.progress.isVisible() and "Running" in box.status.text(),
                    timeout=10000)
    assert box.cancel_button.isVisible()
    p.set_model_query(OutputQuery(disagree=True))  # chosen while computing: the grid waits
    assert p.model.rowCount() == 0 and "Waiting for the model" in p.empty_label.text()
    qtbot.mouseClick(box.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: box.compute_button.isVisible(), timeout=10000)
    assert "stopped" in box.status.text() and not box.progress.isVisible()
    p.hide()
    p.show()  # shown again: a stopped pass is not restarted on its own
    assert not p.state.outputs.busy

    monkeypatch.setattr(core_outputs, "compute_outputs", lambda *a, **k: known)
    with qtbot.waitSignal(p.state.outputs.ready, timeout=10000):
        qtbot.mouseClick(box.compute_button, Qt.MouseButton.LeftButton)
    want = np.flatnonzero(known.split("train").predicted != known.split("train").labels)
    np.testing.assert_array_equal(p.current_indices(), want)
    assert "Predictions for" in box.status.text()


def test_select_by_model_outputs_with_a_real_model_matches_predict_proba(
        qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    p = make_panel(qtbot, tiny_dir, outputs=None)  # the real pass, started by showing
    with qtbot.waitSignal(p.state.outputs.ready, timeout=60000):
        pass
    qtbot.waitUntil(lambda: p.model.outputs is not None, timeout=5000)
    images = p.model.dataset.split("train").images
    labels = np.asarray(p.model.dataset.split("train").labels).astype(int)
    proba = p.state.model.predict_proba(np.asarray(images))
    top2 = np.sort(proba, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-3  # leave near-ties out (float noise)
    pred = proba.argmax(1)
    p.set_model_query(OutputQuery(disagree=True))
    shown = np.zeros(len(labels), bool)
    shown[p.current_indices()] = True
    np.testing.assert_array_equal(shown[clear], (pred != labels)[clear])
    p.set_model_query(OutputQuery(sort="loss"))
    loss = -np.log(proba[np.arange(len(labels)), labels])
    assert np.all(np.diff(loss[p.current_indices()]) <= 1e-3)  # highest loss first


def test_select_by_model_is_disabled_without_a_model_and_says_why(qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    state = AppState()
    state.set_dataset(open_dataset(tiny_dir))
    p = GalleryPanel(state)
    qtbot.addWidget(p)
    p.show()
    box = p.model_box
    assert not box.predicted_combo.isEnabled() and not box.sort_combo.isEnabled()
    assert "No model loaded" in box.status.text()
    assert "No model loaded" in box.sort_combo.toolTip()
    state.set_model(tiny_model(), None, remember=False)
    state.outputs.outputs = known_outputs(state.dataset)
    p.ensure_outputs()
    assert box.sort_combo.isEnabled()
    p.set_model_query(OutputQuery(sort="margin"))
    state.set_model(None)  # the model goes: so does its part of the query
    assert p.model.query.model == OutputQuery() and not box.sort_combo.isEnabled()
    assert p.model.rowCount() == len(state.dataset.split("train"))


@pytest.mark.parametrize("how", ["button", "menu"])
def test_find_similar_from_the_gallery_detail_opens_the_selected_neighbour(
        qtbot, tiny_dir: Path, how: str) -> None:  # noqa: ANN001
    p = make_panel(qtbot, tiny_dir)
    out = p.state.outputs.outputs
    click(qtbot, p, 5)
    assert p.detail.index == 5
    strip = p.similar
    with qtbot.waitSignal(strip.results_shown, timeout=20000):
        if how == "button":
            qtbot.mouseClick(strip.find_button, Qt.MouseButton.LeftButton)
        else:
            p.find_similar()
    want = NeighborIndex(out).similar("train", 5, k=strip.k)
    assert [(n.split, n.index) for n in strip.neighbors] == [(n.split, n.index) for n in want]
    assert {n.label for n in strip.neighbors} == {int(out.split("train").labels[5])}
    assert strip.tiles.isVisible() and len(strip.tiles.items) == strip.k
    assert strip.tiles.items[0][2].endswith(f"{want[0].distance:.2f}")
    # click the third tile: the Gallery shows the query image and its neighbours, that one
    # selected (the request bar offers Back)
    pick = strip.neighbors[2]
    rect = strip.tiles.tile_rect(2)
    qtbot.mouseClick(strip.tiles, Qt.MouseButton.LeftButton, pos=rect.center())
    assert p.request_bar.isVisible() and "Similar to train #5" in p.request_bar.title.text()
    assert (p.detail.split, p.detail.index) == (pick.split, pick.index)
    shown = {(s, int(i)) for s, idx in p.model.by_split(np.arange(p.model.rowCount())).items()
             for i in idx}
    assert shown == {("train", 5)} | {(n.split, n.index) for n in want}
    assert p.model.caption_of("train", 5) == "this image"
    # the strip follows the image now shown
    qtbot.waitUntil(lambda: strip.target == (pick.split, pick.index)
                    and bool(strip.neighbors) and strip.tiles.isVisible(), timeout=20000)
    qtbot.mouseClick(p.clear_button, Qt.MouseButton.LeftButton)  # Back
    assert not p.request_bar.isVisible() and p.model.split_name == "train"
