"""Saved runs: curves back after a restart, several runs overlaid, their settings compared,
evaluations from the Evaluation tab in the test columns, the bundled model not deletable."""

from __future__ import annotations

from pathlib import Path

import pytest

from k49desk.core import runs
from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.dataset import open_dataset
from k49desk.core.model import ModelConfig, build_model, load_checkpoint, save_checkpoint
from k49desk.core.training import TrainEvent
from k49desk.gui.common.state import AppState
from k49desk.gui.train.compare import CompareDialog
from k49desk.gui.train.panel import TrainPanel


def _run(path: Path, lr: float, created: str, epochs: int = 2, curves: bool = True) -> Path:
    cfg = ModelConfig(channels=(4,))
    save_checkpoint(path, build_model(cfg), cfg, OFFICIAL_CLASSES,
                    metrics={"epochs_completed": epochs, "val_balanced_accuracy": 0.5,
                             "test_balanced_accuracy": 0.25, "test_accuracy": 0.3},
                    trained_on="tiny", train_config={"epochs": epochs, "lr": lr, "seed": 0},
                    created=created)
    if curves:
        evs, g = [], 0
        for e in range(1, epochs + 1):
            for s in range(1, 5):
                g += 1
                evs.append(TrainEvent("step", e, epochs, s, 4, g, 2.0 / g, 0.5, 50.0, 1.0,
                                      batch_loss=3.0 / g))
            evs.append(TrainEvent("epoch", e, epochs, 4, 4, g, 2.0 / g, 0.5, 50.0, 1.0,
                                  val_loss=1.0 / e, val_balanced_accuracy=0.4 + lr * e,
                                  val_accuracy=0.5))
        runs.save_curves(path, evs)
    return path


@pytest.fixture
def panel(qtbot) -> TrainPanel:  # noqa: ANN001
    p = TrainPanel(AppState())  # a fresh panel: what the app shows after a restart
    qtbot.addWidget(p)
    yield p
    p.tasks.shutdown()


def _refresh(qtbot, p: TrainPanel) -> None:  # noqa: ANN001
    with qtbot.waitSignal(p.history.refreshed, timeout=20000):
        p.history.refresh()


def _show(qtbot, p: TrainPanel, *paths: Path) -> None:  # noqa: ANN001
    p.history.table.clearSelection()
    for path in paths:
        p.history.select_path(path, add=True)
    with qtbot.waitSignal(p.history.show_curves, timeout=20000):
        p.history.curves_btn.click()


def test_a_saved_runs_curves_come_back_after_a_restart(qtbot, panel: TrainPanel) -> None:  # noqa: ANN001
    a = _run(runs.models_dir() / "run-20260101-000001.pt", 0.01, "2026-01-01T00:00:01")
    _refresh(qtbot, panel)
    assert panel.history.records[0].has_curves
    assert not panel.view.csv_btn.isEnabled()  # nothing shown yet: nothing to export
    _show(qtbot, panel, a)
    c = panel.curves
    assert c.epoch_x == [1.0, 2.0] and c.val_bal == pytest.approx([41.0, 42.0])
    assert c.step_x.view().tolist() == [k / 4 for k in range(1, 9)]
    assert c.step_loss.view().tolist() == pytest.approx([3.0 / g for g in range(1, 9)])
    assert c.caption.text() == "Saved run: 01-01 00:00:01" and c.caption.isVisibleTo(panel)
    assert panel.view.csv_btn.isEnabled()
    assert panel.view.suggested_name("csv") == "run-20260101-000001-curves.csv"
    assert [t for t, _s in panel.export_actions()] == ["Training curves CSV…",
                                                       "Training curves PNG…"]


def test_several_runs_are_overlaid_named_by_how_they_differ(
        qtbot, panel: TrainPanel, tmp_path: Path) -> None:  # noqa: ANN001
    d = runs.models_dir()
    a = _run(d / "run-20260101-000001.pt", 0.01, "2026-01-01T00:00:01")
    b = _run(d / "run-20260101-000002.pt", 0.003, "2026-01-01T00:00:02")
    _refresh(qtbot, panel)
    panel.history.select_path(a)
    panel.history.select_path(b, add=True)
    assert panel.history.curves_btn.text() == "Overlay curves"
    assert panel.history.compare_btn.isEnabled() and not panel.history.current_btn.isEnabled()
    _show(qtbot, panel, a, b)
    labels = [label for label, _c in panel.curves.overlay]
    assert labels == ["01-01 00:00:02 · lr 0.003", "01-01 00:00:01 · lr 0.01"]
    legend = [lab.text for _s, lab in panel.curves.acc_plot.plotItem.legend.items]
    assert legend == labels  # the live run's empty entries are not listed
    panel.curves.export_csv(tmp_path / "o.csv")
    rows = (tmp_path / "o.csv").read_text().splitlines()
    assert sum(r.endswith(",01-01 00:00:01 · lr 0.01") for r in rows) == 10  # 8 steps, 2 epochs
    dlg = CompareDialog(panel.history.selected_records())
    qtbot.addWidget(dlg)
    rows = dict(dlg.rows())
    assert rows["lr"] == ["0.003", "0.01"] and "seed" not in rows
    assert rows["test balanced accuracy"] == ["25.00%", "25.00%"]
    dlg.all_box.setChecked(True)
    assert dict(dlg.rows())["seed"] == ["0", "0"]


def test_damaged_or_missing_curves_are_said_not_raised(qtbot, panel: TrainPanel) -> None:  # noqa: ANN001
    d = runs.models_dir()
    a = _run(d / "run-20260101-000001.pt", 0.01, "2026-01-01T00:00:01")
    b = _run(d / "run-20260101-000002.pt", 0.003, "2026-01-01T00:00:02", curves=False)
    runs.curves_path(a).write_text('{"version": 1, "epochs": {"x": [1, "two"]}}')
    _refresh(qtbot, panel)
    _show(qtbot, panel, a, b)  # the autouse fixture fails the test on any error dialog
    log = panel.log.toPlainText()
    assert "run-20260101-000001.curves.json: damaged curves file" in log
    assert "no saved curves for run-20260101-000002.pt" in log
    assert not panel.curves.has_data() and not panel.view.csv_btn.isEnabled()


def test_the_bundled_default_model_is_not_offered_for_deletion(
        qtbot, panel: TrainPanel, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import k49desk.paths

    default = _run(runs.models_dir() / "k49desk-default.pt", 0.01, "2026-01-01", curves=False)
    other = _run(runs.models_dir() / "run-20260101-000001.pt", 0.01, "2026-01-02")
    monkeypatch.setattr(k49desk.paths, "DEFAULT_MODEL", default)
    _refresh(qtbot, panel)
    panel.history.select_path(default)
    assert not panel.history.delete_btn.isEnabled()
    assert "cannot be deleted" in panel.history.delete_btn.toolTip()
    assert panel.history.current_btn.isEnabled()
    panel.history.delete_selected()  # even when called: nothing asked, nothing deleted
    assert default.exists()
    panel.history.select_path(other)
    assert panel.history.delete_btn.isEnabled()


def test_an_evaluation_in_the_evaluation_tab_reaches_saved_runs(
        qtbot, panel: TrainPanel, tiny_dir: Path) -> None:  # noqa: ANN001
    a = _run(runs.models_dir() / "run-20260101-000001.pt", 0.01, "2026-01-01", curves=False)
    before = a.read_bytes()
    st = panel.state
    st.set_dataset(open_dataset(tiny_dir))
    st.set_model(load_checkpoint(a), a)
    _refresh(qtbot, panel)
    row = [r.path for r in panel.history.records].index(a)
    assert panel.history.table.item(row, 3).text() == "25.00%"  # the checkpoint's own
    with qtbot.waitSignal(panel.history.refreshed, timeout=60000):
        with qtbot.waitSignal(panel.eval_view.evaluated, timeout=60000) as sig:
            assert panel.eval_view.evaluate_now()
    r = sig.args[0]
    row = [rec.path for rec in panel.history.records].index(a)
    assert panel.history.table.item(row, 3).text() == f"{100 * r.balanced_accuracy:.2f}%"
    assert panel.history.table.item(row, 4).text() == f"{100 * r.accuracy:.2f}%"
    assert "evaluated on" in panel.history.table.item(row, 3).toolTip()
    assert a.read_bytes() == before  # recorded beside the checkpoint, never inside it
