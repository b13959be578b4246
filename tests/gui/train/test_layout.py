"""Issue 9 item 3: the Train panel at 1024x700 and 1920x1080 in the real main window: every
plot, its colour bar and the titles fully visible (they were cut at 1024x700, with no
scrollbar), on the Training tab and on each Evaluation view."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from k49desk.core.dataset import open_dataset
from k49desk.core.model import load_checkpoint
from k49desk.core.training import TrainConfig, train_folder
from k49desk.gui.main_window import MainWindow


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from k49helpers import make_k49_folder

    root = make_k49_folder(tmp_path_factory.mktemp("lay") / "d", n_train=6, n_test=3)
    out = tmp_path_factory.mktemp("m") / "m.pt"
    train_folder(TrainConfig(epochs=1, batch_size=64, augment=False), root, out)
    return out


def _fully_visible(w: QWidget) -> bool:
    """Shown and not clipped by any ancestor (a scroll area's viewport, a too-small window):
    its rectangle, mapped up the parent chain, stays inside every parent."""
    if not w.isVisible() or w.width() <= 0 or w.height() <= 0:
        return False
    r, x = QRect(w.rect()), w
    while x.parentWidget() is not None:
        r = r.translated(x.pos())
        x = x.parentWidget()
        if not x.rect().contains(r):
            return False
    return True


def _contents_inside(plot: object) -> bool:
    """The plot's scene (axes, title, colour bar) fits its widget: pyqtgraph does not
    shrink a plot below its minimum, it draws past the widget's edge (cut off)."""
    r = plot.mapFromScene(plot.plotItem.sceneBoundingRect()).boundingRect()  # type: ignore
    return QRect(0, 0, plot.width() + 1, plot.height() + 1).contains(r)  # type: ignore


def _label_not_cut(lab: QLabel) -> bool:
    need = lab.heightForWidth(lab.width()) if lab.wordWrap() else lab.sizeHint().height()
    return lab.height() >= need and (lab.wordWrap() or lab.width() >= lab.sizeHint().width())


@pytest.mark.parametrize("size", [(1024, 700), (1920, 1080)])
def test_train_panel_fits_the_window(qtbot, tiny_dir: Path, model: Path,
                                     size: tuple[int, int]) -> None:  # noqa: ANN001
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(*size)
    win.state.set_dataset(open_dataset(tiny_dir))
    win.show()
    win.show_panel("train")
    p = win.panel("train")
    assert (win.width(), win.height()) == size  # no minimum size larger than the screen
    qtbot.wait(50)
    for w in (p.curves.loss_plot, p.curves.acc_plot, p.log, p.view.csv_btn, p.view.png_btn,
              p.start_btn, p.history.table):
        assert _fully_visible(w), w
    assert _contents_inside(p.curves.loss_plot) and _contents_inside(p.curves.acc_plot)
    with qtbot.waitSignal(p.eval_view.evaluated, timeout=60000):
        win.state.set_model(load_checkpoint(model), model)
        p.tabs.setCurrentWidget(p.eval_view)
    ev = p.eval_view
    assert not ev.scroll.verticalScrollBar().isVisible()
    assert not ev.scroll.horizontalScrollBar().isVisible()
    for k, (plot, title) in enumerate(((ev.bars, ev.bars_title), (ev.confusion, ev.cm_title),
                                       (ev.metrics.table, ev.metrics.summary))):
        ev.views.setCurrentIndex(k)
        QApplication.processEvents()
        assert _fully_visible(plot) and _fully_visible(title), k
        assert _label_not_cut(title), (k, title.text())
        assert plot.width() >= 0.8 * ev.views.width()  # a view gets the whole width
        assert k == 2 or _contents_inside(plot), k
    cp = ev.confusion
    inside = QRect(0, 0, cp.width(), cp.height())
    for item in (cp.image, cp.bar):  # the whole matrix and its colour bar are drawn
        r = cp.mapFromScene(item.sceneBoundingRect()).boundingRect()
        assert inside.contains(r), (item, r, inside)
    win.close()
