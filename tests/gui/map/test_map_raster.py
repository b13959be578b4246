"""The map's numpy parts: the point raster, rows <-> images, the shared selection."""

from __future__ import annotations

import numpy as np

from k49desk.core.projection import MapResult
from k49desk.gui.common.state import AppState, normalise_selection
from k49desk.gui.map.linking import rows_of_selection, selection_of_rows
from k49desk.gui.map.raster import (
    BACKGROUND,
    RIM,
    WRITE_BUDGET,
    Canvas,
    Layer,
    fade,
    fit_stamp,
    rgba_to_rgb32,
    stamp,
)

RED, GREEN = 0xFFFF0000, 0xFF00FF00


def test_points_land_on_their_pixels_later_points_on_top() -> None:
    c = Canvas(20, 10)
    xy = np.array([[2.2, 3.7], [2.9, 3.1], [10.0, 5.0]], np.float32)
    n = c.draw(Layer.of(xy, np.array([RED, GREEN, RED], np.uint32)), 1, 0, 1, 0, size=1)
    assert n == 3
    px = c.pixels
    assert px[3, 2] == GREEN  # both first points fall on (2, 3): the later one wins
    assert px[5, 10] == RED
    assert np.count_nonzero(px != BACKGROUND) == 2
    # Scale and offset: pixel = x * sx + dx (the y axis flipped as on screen).
    c.clear()
    c.draw(Layer.of(np.array([[1.0, 1.0]], np.float32), np.array([RED], np.uint32)),
           4.0, 1.0, -2.0, 9.0, size=1)
    assert c.pixels[7, 5] == RED and np.count_nonzero(c.pixels != BACKGROUND) == 1


def test_points_at_and_past_the_edges_draw_only_what_shows() -> None:
    c = Canvas(12, 8)
    xy = np.array([[-0.5, 2], [11.9, 7.9], [-30, -30], [100, 3], [5, -1.5]], np.float32)
    n = c.draw(Layer.of(xy, np.full(5, RED, np.uint32)), 1, 0, 1, 0, size=5)
    assert n == 3  # the far ones are skipped; near ones partly drawn
    px = c.pixels
    assert px[2, 0] == RED and px[2, 1] == RED  # the right half of the left-edge point
    assert px[7, 11] == RED and px[0, 5] == RED
    # Nothing wrapped around from one edge to the other.
    assert (px[1:4, 8:] == BACKGROUND).all() and (px[6:, :3] == BACKGROUND).all()


def test_stamps_discs_with_rims_and_the_write_budget() -> None:
    assert len(stamp(1, False)) == 1 and len(stamp(2, False)) == 4
    assert len(stamp(3, False)) == 9
    five = stamp(5, True)
    fill = [(x, y) for x, y, r in five if not r]
    ring = [(x, y) for x, y, r in five if r]
    assert len(fill) == 21 and len(ring) > 8  # a disc, not a square, inside a ring
    assert five[0][2] and not five[-1][2]  # the ring is listed (drawn) first
    assert (0, 0) in fill and (-3, 0) in ring
    # Many points: no rim, and small enough to fit the pixel-write budget.
    big = fit_stamp(300_000, 9, True)
    assert not any(r for *_, r in big) and 300_000 * len(big) <= WRITE_BUDGET
    assert len(fit_stamp(100, 9, True)) == len(stamp(9, True))


def test_a_disc_drawn_later_covers_the_rim_of_an_earlier_one() -> None:
    c = Canvas(30, 30)
    xy = np.array([[10, 10], [15, 10]], np.float32)  # discs of 7 px (+ rim), overlapping
    c.draw(Layer.of(xy, np.array([RED, GREEN], np.uint32)), 1, 0, 1, 0, size=7, rim=True)
    row = c.pixels[10]
    assert row[10] == RED and row[15] == GREEN
    assert row[6] == RIM and row[19] == RIM  # each rim on its free side
    assert row[11] == RIM and row[12] == GREEN  # green's rim and disc cover red's disc


def test_colour_helpers() -> None:
    rgb = rgba_to_rgb32(np.array([[255, 0, 0, 255], [0, 128, 255, 10]], np.uint8))
    assert rgb.tolist() == [0xFFFF0000, 0xFF0080FF]
    f = fade(np.array([0xFF000000, 0xFFFFFFFF], np.uint32), 0.25)
    assert f[1] == 0xFFFFFFFF and (f[0] >> 16) & 0xFF == 191


def _map(sizes: dict[str, int]) -> MapResult:
    n = sum(sizes.values())
    offsets = np.cumsum([0, *sizes.values()]).astype(np.int64)
    return MapResult(np.zeros((n, 2), np.float32), np.zeros(n, np.uint8), tuple(sizes),
                     offsets, "pca")


def test_rows_and_images_convert_both_ways() -> None:
    m = _map({"train": 10, "test": 5})
    sel = {"train": np.array([1, 9]), "test": np.array([0, 4]), "other": np.array([1])}
    rows = rows_of_selection(m, sel)
    assert rows.tolist() == [1, 9, 10, 14]
    back = selection_of_rows(m, rows)
    assert {k: v.tolist() for k, v in back.items()} == {"train": [1, 9], "test": [0, 4]}
    # Out-of-range indices (another folder's selection) are left out, never wrapped.
    assert rows_of_selection(m, {"test": np.array([5, -1, 2])}).tolist() == [12]
    one = _map({"test": 5})
    assert rows_of_selection(one, sel).tolist() == [0, 4]
    assert selection_of_rows(one, np.zeros(0, np.int64)) == {}


def test_shared_selection_is_sorted_unique_and_signalled(qtbot) -> None:  # noqa: ANN001
    assert {k: v.tolist() for k, v in normalise_selection(
        {"train": [5, 1, 5], "test": []}).items()} == {"train": [1, 5]}
    state = AppState()
    with qtbot.waitSignal(state.selection_changed) as sig:
        state.set_selection("gallery", {"test": np.array([3, 2])})
    assert sig.args[0] == "gallery" and sig.args[1]["test"].tolist() == [2, 3]
    assert state.selection[0] == "gallery"
    state.set_dataset(None)
    assert state.selection == ("", {})
