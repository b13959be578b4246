"""Review: "Find similar" on the card (the shared strip), and outliers: Find suspects passes
the current model, outlier cards say what the score means and show their neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from outputs_helpers import known_outputs, tiny_model
from PySide6.QtCore import Qt
from review_helpers import new_panel, start_review

from k49desk.core.dataset import open_dataset, write_split
from k49desk.core.neighbors import NeighborIndex
from k49desk.core.scan_plan import ScanPlan
from k49desk.gui.common.state import AppState


def test_find_similar_from_the_review_card_opens_the_selected_neighbour_in_the_gallery(
        qtbot, panel) -> None:  # noqa: ANN001
    state = panel.state
    state.set_model(tiny_model(), None, remember=False)
    out = state.outputs.outputs = known_outputs(state.dataset)
    strip = panel.card.similar
    assert strip.find_button.isVisibleTo(panel) and strip.find_button.isEnabled()
    s = panel.session
    here = int(s.flag(s.position)["index"])
    with qtbot.waitSignal(strip.results_shown, timeout=20000):
        qtbot.mouseClick(strip.find_button, Qt.MouseButton.LeftButton)
    want = NeighborIndex(out).similar("train", here, k=strip.k)
    assert [(n.split, n.index) for n in strip.neighbors] == [(n.split, n.index) for n in want]
    assert f"train #{here}" in strip.title.text()
    with qtbot.waitSignal(state.gallery_requested, timeout=2000) as sig:
        qtbot.mouseClick(strip.tiles, Qt.MouseButton.LeftButton,
                         pos=strip.tiles.tile_rect(1).center())
    req = sig.args[0]
    pick = want[1]
    if req.split == "both":
        assert req.select == (pick.split, pick.index)
        assert here in req.indices["train"] and req.captions[("train", here)] == "this image"
    else:
        assert req.select == pick.index and here in list(req.indices)
    # once used, the strip follows the cards
    qtbot.keyClick(panel, Qt.Key.Key_Right)
    nxt = int(s.flag(s.position)["index"])
    qtbot.waitUntil(lambda: strip.target == ("train", nxt) and bool(strip.neighbors)
                    and strip.neighbors[0].index != here, timeout=20000)


def test_find_suspects_passes_the_current_model_and_outlier_cards_explain_and_select(
        qtbot, tiny_dir: Path, messages) -> None:  # noqa: ANN001
    ds = open_dataset(tiny_dir)
    images = np.array(ds.split("train").images)
    odd = [3, 100, 400]  # noise: unlike every pattern of the folder
    images[odd] = np.random.default_rng(1).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    write_split(tiny_dir, "train", images, np.asarray(ds.split("train").labels))
    state = AppState()
    state.set_dataset(open_dataset(tiny_dir, use_cache=False))
    state.set_model(tiny_model(), None, remember=False)
    p = new_panel(qtbot, state)
    p.resize(1200, 800)
    p.show()
    p.io.find_suspects("train", ScanPlan("checks", "Checks only", 0, None))
    qtbot.waitUntil(lambda: p.session is not None and len(p.session) > 0
                    and "outlier" in set(p.session.flags["issue"]), timeout=60000)
    flags = p.session.flags
    outliers = flags[flags["issue"] == "outlier"]
    assert set(odd) <= set(outliers["index"])
    assert (outliers["quality"] < 0.1).any() and "outliers" in p.session.method
    pos = int(np.flatnonzero(flags["issue"].to_numpy() == "outlier")[0])
    strip = p.card.similar
    with qtbot.waitSignal(strip.results_shown, timeout=60000):
        p.show_pos(pos)  # an outlier card searches its neighbours at once
    qtbot.waitUntil(lambda: bool(strip.neighbors), timeout=60000)
    note = p.card.issue_note
    assert note.isVisibleTo(p) and "Outlier" in note.text() and "lower = more atypical" in \
        note.text()
    assert f"score {flags['quality'][pos]:.3f}" in p.card.where.text()
    assert strip.target == ("train", int(flags["index"][pos])) and len(strip.neighbors) == 12
    assert not messages


def test_find_dialog_says_whether_outliers_will_be_flagged(qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    from k49desk.gui.review.find_dialog import FindDialog

    ds = open_dataset(tiny_dir)
    state = AppState()
    p = new_panel(qtbot, state)
    for model, text in ((None, "need a model"), (tiny_model(), "are flagged too")):
        dlg = FindDialog(ds, "train", p.tasks, p, speed=1000.0, model=model)
        qtbot.addWidget(dlg)
        assert any(text in w.text() for w in dlg.findChildren(type(dlg.speed_label)))
        dlg.reject()


def test_an_outlier_flag_from_a_csv_reads_well_without_a_model(qtbot, panel) -> None:  # noqa: ANN001
    labels = panel.state.dataset.split("train").labels
    flags = pd.DataFrame({"split": "train", "index": [5], "given_label": [labels[5]],
                          "issue": ["outlier"], "suggested_label": [-1], "quality": [0.02]})
    start_review(qtbot, panel, flags)
    assert "score 0.020" in panel.card.issue_note.text()
    assert "No model loaded" in panel.card.similar.note.text()  # says why, no search
