"""The Map panel: selection -> Gallery, Gallery -> highlight, colour modes, hover, legend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from map_helpers import circle, mouse_path, open_map, to_widget
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from k49desk.core.annotations import DECISION_CODES
from k49desk.core.selection import points_in_polygon, points_in_rect
from k49desk.gui.map.colours import ISOLATED_OUT
from k49desk.gui.map.raster import rgba_to_rgb32


def _dense_centre(xy: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """A centre and radius holding about k points (the map's median point)."""
    c = np.median(xy, axis=0)
    d = np.hypot(*(xy - c).T)
    return c, float(np.partition(d, k)[k])


def test_lasso_on_the_map_opens_in_the_gallery_all_selected_and_annotatable(
        qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    p, g = open_map(qtbot, tiny_dir)
    assert len(p.result) == 588 and p.result.split_names == ("train",)
    st = p.state
    qtbot.waitUntil(lambda: g.model.marks.has("train"), timeout=20000)
    c, r = _dense_centre(p.result.xy, 60)
    poly = circle(c[0], c[1], r)
    p.set_tool("lasso")
    mouse_path(p, [to_widget(p, x, y) for x, y in poly])
    # What the drawn lasso holds (the path is drawn in whole pixels: compare with the
    # polygon the view actually received, then check it is the one intended).
    src, sel = st.selection
    assert src == "map" and list(sel) == ["train"]
    expected = points_in_polygon(p.result.xy, poly)
    got = sel["train"]
    assert len(np.setxor1d(got, expected)) <= 2 and len(got) >= 40
    assert np.array_equal(p.selected_rows, got)  # one split: rows are image indices
    assert np.array_equal(p.view.cloud.highlight, got)
    assert p.gallery_button.isEnabled() and f"{len(got):,d}" in p.gallery_button.text()
    # Enter: the Gallery shows exactly those images, every one selected.
    requests = []
    st.gallery_requested.connect(requests.append)
    p.view.setFocus()
    qtbot.keyClick(p.view, Qt.Key.Key_Return)
    assert len(requests) == 1
    assert np.array_equal(np.sort(g.current_indices()), got)
    assert g.view.selected_count() == len(got) == g.model.rowCount()
    assert g.request_bar.isVisible()
    # ... and annotated there: K keeps their labels; the map's decision colours follow.
    g.view.setFocus()
    qtbot.keyClick(g.view, Qt.Key.Key_K)
    codes = st.annotations.store("train").decision_codes()
    assert (codes[got] == DECISION_CODES["keep"]).all()
    assert np.count_nonzero(codes) == len(got)
    p.set_colour_mode("decision")
    qtbot.waitUntil(lambda: p.colouring is not None and p.colouring.mode == "decision"
                    and p.colouring.counts[DECISION_CODES["keep"] - 1] == len(got))
    assert p.colouring.counts[-1] == 588 - len(got)  # the rest: no decision


def test_rectangle_shift_adds_ctrl_removes_click_selects_one(qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    p, _g = open_map(qtbot, tiny_dir, gallery=False)
    xy = p.result.xy
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    mid = (lo + hi) / 2
    p.set_tool("rect")
    mouse_path(p, [to_widget(p, lo[0], lo[1]), to_widget(p, mid[0], mid[1])])
    first = p.selected_rows.copy()
    exact = points_in_rect(xy, lo[0], lo[1], mid[0], mid[1])
    assert len(np.setxor1d(first, exact)) <= 3 and len(first) > 0
    # Shift+drag adds a rectangle over the other corner.
    mouse_path(p, [to_widget(p, hi[0], hi[1]), to_widget(p, mid[0], mid[1])],
               Qt.KeyboardModifier.ShiftModifier)
    second = points_in_rect(xy, mid[0], mid[1], hi[0], hi[1])
    assert len(np.setxor1d(p.selected_rows, np.union1d(first, second))) <= 6
    # Ctrl+drag removes the first rectangle again.
    mouse_path(p, [to_widget(p, lo[0], lo[1]), to_widget(p, mid[0], mid[1])],
               Qt.KeyboardModifier.ControlModifier)
    assert len(np.setxor1d(p.selected_rows, np.setdiff1d(second, first))) <= 6
    # A click picks the one point under it; a click on empty space clears.
    p.set_tool("pan")
    row = int(np.argmax(xy[:, 0]))  # the right-most point: nothing else is nearer
    pos = to_widget(p, *xy[row])
    qtbot.mouseClick(p.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert p.selected_rows.tolist() == [row]
    assert p.state.selection[1]["train"].tolist() == [row]
    far = to_widget(p, hi[0] + (hi[0] - lo[0]) * 0.03, lo[1])
    qtbot.mouseClick(p.view.viewport(), Qt.MouseButton.LeftButton, pos=far)
    assert p.selected_rows.size == 0 and p.state.selection[1] == {}


def test_gallery_selection_is_highlighted_on_the_map(qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    p, g = open_map(qtbot, tiny_dir, split="both")
    assert p.result.split_names == ("train", "test") and len(p.result) == 588 + 196
    g.set_split("test")
    g.view.select_rows(np.array([3, 10, 11]))
    qtbot.waitUntil(lambda: p.state.selection[0] == "gallery", timeout=5000)
    shown = g.model.by_split(g.view.selected_rows())["test"]
    assert p.state.selection[1]["test"].tolist() == shown.tolist()
    rows = p.selected_rows
    assert rows.tolist() == (588 + shown).tolist()  # test images follow the train rows
    assert np.array_equal(p.view.cloud.highlight, rows)
    assert "in the Gallery" in p.selection_label.text()
    assert len(p.view.marker.data) == 3  # few points: ringed, easy to find
    # Painted: each highlighted point shows its own full colour; an unselected one faded.
    p.view.fit()
    p.view.viewport().repaint()
    cache = p.view.cloud._cache
    assert cache is not None
    pix, mx, my = cache[2].pixels, cache[5], cache[6]
    cols = p.colouring.rgb32()

    def pixel(row: int) -> int:
        q = to_widget(p, *p.result.xy[row])
        return int(pix[q.y() + my, q.x() + mx])

    assert any(pixel(int(r)) == int(cols[r]) for r in rows)
    # Another selection replaces it; an empty one clears the highlight.
    g.view.clear_selection()
    qtbot.waitUntil(lambda: p.selected_rows.size == 0, timeout=5000)
    assert p.view.cloud.highlight.size == 0 and not p.gallery_button.isEnabled()


def test_colour_modes_legend_and_isolating_a_class(qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    p, _g = open_map(qtbot, tiny_dir, gallery=False)
    m, out = p.result, p.outputs
    labels = p.state.dataset.split("train").labels
    assert p.colour_mode == "given"
    assert p.legend.list.count() == 49
    assert p.legend.list.item(1).text().startswith("い (i)")
    assert p.legend.list.item(1).text().endswith(" 12")
    np.testing.assert_array_equal(p.colouring.codes, labels)
    p.set_colour_mode("predicted")
    np.testing.assert_array_equal(p.colouring.codes, out.split("train").predicted)
    assert p.colouring.counts.sum() == 588
    p.set_colour_mode("correct")
    right = out.split("train").predicted == labels
    np.testing.assert_array_equal(p.colouring.codes, right.astype(np.int16))
    assert [p.legend.list.item(i).text().split()[0] for i in range(2)] == ["wrong", "right"]
    # Flags: none yet (the legend says how to get some), then a Review flag table arrives.
    p.set_colour_mode("flag")
    assert "Find suspects" in p.legend.note.text() and (p.colouring.codes == -1).all()
    flags = pd.DataFrame({"split": ["train"] * 3, "index": [5, 6, 7],
                          "issue": ["label", "blank", "label"], "decision": [""] * 3})
    p.state.set_flags("train", flags)
    qtbot.waitUntil(lambda: (p.colouring.codes >= 0).sum() == 3)
    assert p.colouring.codes[[5, 6, 7]].tolist() == [0, 1, 0]
    assert p.colouring.counts[-1] == 585  # "not flagged"
    # Isolating a class: only its points keep their colour, drawn last (on top).
    p.set_colour_mode("given")
    p.legend.click_code(4)  # お
    iso = labels == 4
    cols = p.view.cloud._colours
    grey = rgba_to_rgb32(np.array([ISOLATED_OUT]))[0]
    assert (cols[~iso] == grey).all() and (cols[iso] != grey).all()
    assert set(p.view.cloud._order[-12:].tolist()) == set(np.flatnonzero(iso).tolist())
    assert p.legend.all_button.isEnabled()
    p.legend.click_code(7, add=True)  # Ctrl+click adds く
    assert p.legend.isolated == [4, 7]
    assert (p.view.cloud._colours != grey).sum() == 24
    p.legend.click_code(4, add=True)  # ... and removes again
    p.legend.click_code(7)  # a plain click on the only isolated one shows all
    assert p.legend.isolated == [] and (p.view.cloud._colours != grey).all()
    p.show_class(9)  # `k49desk gui --panel map --class ko`
    assert p.legend.isolated == [9]
    qtbot.keyClick(p.view, Qt.Key.Key_Escape)
    assert p.legend.isolated == []
    assert m is p.result  # recolouring never recomputes the map


def test_hover_shows_thumbnail_label_and_prediction(qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    p, _g = open_map(qtbot, tiny_dir, gallery=False)
    xy = p.result.xy
    row = int(np.argmin(xy[:, 1]))  # the lowest point: nothing else is nearer
    pos = to_widget(p, *xy[row])
    qtbot.mouseMove(p.view.viewport(), pos)
    p.view.hover_at(p.view.vb.mapSceneToView(p.view.mapToScene(pos)))  # offscreen: no hover
    QApplication.processEvents()
    assert p.view.hover_row == row
    card = p.hover_card
    assert card.isVisible()
    label = int(p.state.dataset.split("train").labels[row])
    pred = int(p.outputs.split("train").predicted[row])
    text = card.text.text()
    assert f"train #{row:,d}" in text
    assert f"label {p.state.dataset.classes[label].label}" in text
    assert f"predicted {p.state.dataset.classes[pred].label}" in text
    assert card.image.pixmap().width() == 84
    assert p.view.rect().contains(card.geometry())  # kept inside the map
    p.view.hover_at(p.view.vb.mapSceneToView(p.view.mapToScene(to_widget(
        p, xy[:, 0].max() * 3, xy[:, 1].max() * 3))))
    assert not card.isVisible()
