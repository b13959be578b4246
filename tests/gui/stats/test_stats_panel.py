"""Statistics panel: the charts show the same numbers as `k49desk info`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from k49helpers import make_images
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage

from k49desk.core.dataset import DEMO_TRUTH_FILE, open_dataset, write_classmap, write_split
from k49desk.core.errors import K49Error
from k49desk.core.stats import class_table, under_represented
from k49desk.gui.common.state import AppState, GalleryRequest
from k49desk.gui.stats.panel import StatsPanel

# Imbalanced like K49 in miniature: class c has 20 train images, except a few rare ones.
RARE = {3: 4, 44: 2, 45: 1, 22: 9}


@pytest.fixture
def imbalanced(tmp_path: Path) -> Path:
    root = tmp_path / "imb"
    root.mkdir()
    for split, scale in (("train", 1.0), ("test", 0.5)):
        counts = [max(1, int(RARE.get(c, 20) * scale)) for c in range(49)]
        counts[7] = 0  # one class with no image at all
        labels = np.repeat(np.arange(49, dtype=np.uint8), counts)
        write_split(root, split, make_images(labels, seed=1), labels)
    write_classmap(root)
    return root


@pytest.fixture
def panel(qtbot, imbalanced):  # noqa: ANN001, ANN201
    state = AppState()
    state.set_dataset(open_dataset(imbalanced))
    p = StatsPanel(state)
    qtbot.addWidget(p)
    p.resize(1400, 900)
    p.show()
    qtbot.waitExposed(p)
    _wait_sheet(qtbot, p)
    return p


def _wait_sheet(qtbot, p: StatsPanel) -> None:  # noqa: ANN001
    # The samples are drawn on a worker thread; the sheet is rendered when they arrive.
    qtbot.waitUntil(lambda: not p.sheet_pending, timeout=10000)


def test_bars_equal_class_table_shares_and_counts(panel) -> None:  # noqa: ANN001
    t = class_table(panel.ds)
    np.testing.assert_allclose(panel.train_bars.opts["height"], t["train_share"])
    np.testing.assert_allclose(panel.test_bars.opts["height"], t["test_share"])
    np.testing.assert_allclose(panel.train_bars.opts["x"], t["index"] - 0.2)
    panel.mode_combo.setCurrentIndex(panel.mode_combo.findData("count"))
    np.testing.assert_array_equal(panel.train_bars.opts["height"], t["train"])
    np.testing.assert_array_equal(panel.test_bars.opts["height"], t["test"])
    assert panel.train_bars.opts["height"][7] == 0 and panel.train_bars.opts["height"][45] == 1


def test_under_represented_table_matches_core(panel) -> None:  # noqa: ANN001
    want = under_represented(panel.ds, "train")
    assert list(want["index"]) == [7, 45, 44, 3, 22]  # rarest first, the empty class included
    tab = panel.under_table
    assert tab.rowCount() == len(want)
    for r, row in enumerate(want.itertuples()):
        assert tab.item(r, 0).text().startswith(row.char)
        assert tab.item(r, 1).text() == f"{int(row.count):,d}"
        assert tab.item(r, 2).text() == f"{row.share:.2%}"
    np.testing.assert_array_equal(np.sort(panel.under_bands.opts["x"]), np.sort(want["index"]))
    panel.under_split.setCurrentIndex(panel.under_split.findData("test"))
    assert tab.rowCount() == len(under_represented(panel.ds, "test"))


def test_hover_shows_exact_values(panel) -> None:  # noqa: ANN001
    t = class_table(panel.ds)
    vb = panel.plot.getPlotItem().getViewBox()
    panel._on_mouse_moved(vb.mapViewToScene(QPointF(45.1, 0.001)))
    r = t.iloc[45]
    assert panel.hover_label.isVisible()
    want = f"train: {int(r['train']):,d} images ({r['train_share']:.2%} of train)"
    assert want in panel.hover_text
    assert "test: 1 images" in panel.hover_text and "under-represented" in panel.hover_text
    panel._on_mouse_moved(vb.mapViewToScene(QPointF(10.5, 0.001)))  # between two classes
    assert not panel.hover_label.isVisible()


def test_chart_and_sheet_export_non_blank_png(panel, tmp_path) -> None:  # noqa: ANN001
    for which in ("chart", "sheet"):
        out = panel.export_png(tmp_path / f"{which}.png", which)
        img = QImage(str(out))
        assert not img.isNull() and img.width() > 300 and img.height() > 200
        colors = {img.pixel(x, y)
                  for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}
        assert len(colors) > 10, which
    with pytest.raises(K49Error, match="missing does not exist"):
        panel.export_png(tmp_path / "missing" / "x.png")
    assert not list(tmp_path.glob("**/*.tmp"))


def test_samples_sheet_has_n_images_of_each_class_and_resamples(panel, qtbot) -> None:  # noqa: ANN001
    labels = panel.ds.splits["train"].labels
    panel.n_spin.setValue(5)
    _wait_sheet(qtbot, panel)
    first = {c: v.copy() for c, v in panel.samples.items()}
    for c in range(49):
        n = int((labels == c).sum())
        assert len(first[c]) == min(5, n)
        assert (labels[first[c]] == c).all()
        assert len(set(first[c].tolist())) == len(first[c])
    with qtbot.waitSignal(panel.sheet_ready, timeout=10000):
        panel.resample()
    assert any(not np.array_equal(first[c], panel.samples[c]) for c in range(49))
    assert panel.sheet.pixmap().height() >= 49 * 56


def test_clicking_a_sample_opens_it_in_the_gallery(panel, qtbot) -> None:  # noqa: ANN001
    got: list[GalleryRequest] = []
    panel.state.gallery_requested.connect(got.append)
    x, y, w, h, c, idx = panel._sheet_hits[3]
    centre = QPointF(x + w / 2, y + h / 2).toPoint()
    qtbot.mouseClick(panel.sheet, Qt.MouseButton.LeftButton, pos=centre)
    assert len(got) == 1
    assert (got[0].split, got[0].classes, got[0].select) == ("train", [c], idx)
    assert int(panel.ds.splits["train"].labels[idx]) == c


def test_real_data_summary_counts_empty_classes(qtbot, real10) -> None:  # noqa: ANN001
    state = AppState()
    state.set_dataset(open_dataset(real10))
    p = StatsPanel(state)
    qtbot.addWidget(p)
    _wait_sheet(qtbot, p)
    assert "5,000 images" in p.summary.text() and "39</b> with no images" in p.summary.text()
    assert p.under_table.rowCount() == 39
    assert len(p.samples[4]) == p.n_spin.value() and len(p.samples[0]) == 0


def test_demo_data_is_labelled_and_no_data_is_harmless(qtbot, tmp_path, imbalanced) -> None:  # noqa: ANN001
    (imbalanced / DEMO_TRUTH_FILE).write_text("split,index,given_label,true_label\n")
    state = AppState()
    p = StatsPanel(state)
    qtbot.addWidget(p)
    p.show()
    assert "No data folder" in p.summary.text()
    state.set_dataset(open_dataset(imbalanced))
    _wait_sheet(qtbot, p)
    assert p.demo_banner.isVisible() and "Generated demo data" in p.demo_banner.text()
    assert "generated demo data" in p.summary.text()
    # Exports carry the label too: the chart's title and a banner on the samples sheet.
    assert "Generated demo data" in p.plot.getPlotItem().titleLabel.text
    sheet = QImage(str(p.export_png(tmp_path / "sheet.png", "sheet")))
    assert sheet.pixelColor(5, 5).name() == "#fef3c7"
    state.set_dataset(None)
    assert p.table is None and p.under_table.rowCount() == 0


def test_mean_image_per_class_is_the_pixel_average(panel, qtbot) -> None:  # noqa: ANN001
    sp = panel.ds.splits["train"]
    labels, images = sp.labels, sp.images
    assert panel.mean_check.isChecked()
    for c in (0, 3, 45):  # fewer than 300 images each: the mean is exact
        want = images[labels == c].astype(np.float64).mean(axis=0).round()
        np.testing.assert_array_equal(panel._means[c], want.astype(np.uint8))
    assert 7 not in panel._means  # the empty class has no mean
    with_mean = panel.sheet.pixmap().width()
    with qtbot.waitSignal(panel.sheet_ready, timeout=10000):
        panel.mean_check.setChecked(False)
    assert panel.sheet.pixmap().width() < with_mean


def test_rapid_resamples_show_the_last_draw(panel, qtbot) -> None:  # noqa: ANN001
    from k49desk.gui.stats.sheet import pick_samples

    panel.resample()
    panel.resample()
    assert panel.sheet_pending
    _wait_sheet(qtbot, panel)
    labels = panel.ds.splits["train"].labels
    want = pick_samples(labels, 49, panel.n_spin.value(), panel.sample_seed)
    for c in range(49):
        np.testing.assert_array_equal(panel.samples[c], want[c])
    panel.shutdown()
    assert not panel.tasks.running()
