"""Statistics exports carry their legend; tick labels are readable; File > Export works."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QFontInfo, QImage
from PySide6.QtWidgets import QFileDialog
from test_stats_panel import imbalanced, panel  # noqa: F401  (fixtures)

from k49desk.gui.stats.chart import LEGEND_H, TEST_COLOR, TRAIN_COLOR
from k49desk.gui.stats.panel import StatsPanel


def _rgb(img: QImage, rows: slice) -> set[tuple[int, int, int]]:
    a = img.convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(a.constBits(), np.uint8).reshape(a.height(), a.bytesPerLine())
    px = arr[rows, :a.width() * 3].reshape(-1, 3)
    return {tuple(int(v) for v in p) for p in np.unique(px, axis=0)}


def test_exported_chart_has_a_train_and_test_legend(panel: StatsPanel, tmp_path: Path) -> None:  # noqa: F811
    out = panel.export_png(tmp_path / "chart.png", "chart")
    img = QImage(str(out))
    plot = panel.plot.grab().toImage()
    assert img.height() == plot.height() + LEGEND_H and img.width() == plot.width()
    legend = _rgb(img, slice(0, LEGEND_H))
    train, test = TRAIN_COLOR.getRgb()[:3], TEST_COLOR.getRgb()[:3]
    assert train in legend and test in legend  # the swatches are in the legend strip
    assert train in _rgb(img, slice(LEGEND_H, None))  # and the bars below it


def test_chart_tick_labels_are_readable(panel: StatsPanel) -> None:  # noqa: F811
    pi = panel.plot.getPlotItem()
    for side, least in (("bottom", 13), ("left", 12)):
        font = pi.getAxis(side).style["tickFont"]
        assert QFontInfo(font).pixelSize() >= least, side  # not 6 px


def test_file_export_offers_both_pngs_and_opens_in_the_last_folder(
        panel: StatsPanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    starts: list[str] = []
    names = iter(["a.png", "b.png"])

    def fake(_parent, _title, start, _filter):  # noqa: ANN001, ANN202
        starts.append(start)
        return str(tmp_path / next(names)), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))
    acts = panel.export_actions()
    assert [t for t, _ in acts] == ["Images per class (PNG)…", "Samples per class (PNG)…"]
    for _t, slot in acts:
        slot()
    assert not QImage(str(tmp_path / "a.png")).isNull()
    assert not QImage(str(tmp_path / "b.png")).isNull()
    assert Path(starts[1]).parent == tmp_path  # remembered from the first export


def test_exporting_before_the_sheet_is_drawn_says_so(panel: StatsPanel, tmp_path: Path) -> None:  # noqa: F811
    from k49desk.core.errors import K49Error

    panel.resample()  # drawn on a worker: pending for a moment
    assert panel.sheet_pending
    with pytest.raises(K49Error, match="still being drawn"):
        panel.export_png(tmp_path / "sheet.png", "sheet")
    assert not (tmp_path / "sheet.png").exists()
