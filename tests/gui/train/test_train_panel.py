"""Train panel: a real short run, stop, errors, close while training, settings, history,
and the curve maths (debiased EMA, per-batch loss, batched events)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox

from k49desk.core import runs
from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.dataset import open_dataset
from k49desk.core.model import ModelConfig, build_model, load_checkpoint, save_checkpoint
from k49desk.gui.common import settings
from k49desk.gui.common.state import AppState
from k49desk.gui.train.curves import TrainCurves, debiased_ema
from k49desk.gui.train.panel import TrainPanel
from k49desk.gui.train.process import batched_progress
from k49desk.gui.train.settings_form import TrainSettingsForm, load_saved


@pytest.fixture
def panel(qtbot, tiny_dir: Path):  # noqa: ANN001, ANN201
    state = AppState()
    p = TrainPanel(state)
    p.in_process = False  # fast: no child to spawn; tests that need the child set it back
    qtbot.addWidget(p)
    state.set_dataset(open_dataset(tiny_dir))
    p.form.epochs.setValue(2)
    p.form.batch.setValue(64)
    p.form.augment.setChecked(False)
    yield p
    if p.running:
        p.tasks.shutdown()


def _run(qtbot, p: TrainPanel, timeout: int = 120000) -> None:  # noqa: ANN001
    with qtbot.waitSignal(p.training_done, timeout=timeout):
        assert p.start()


def test_short_run_in_child_process_draws_curves_saves_model_and_makes_it_current(
        qtbot, panel: TrainPanel) -> None:  # noqa: ANN001
    panel.in_process = True
    _run(qtbot, panel)
    res = panel.last_result
    assert res is not None and not res.stopped and res.epochs_completed == 2
    steps = [e for e in res.history if e.kind == "step"]
    assert panel.curves.step_x.n == len(steps) > 0
    assert len(panel.curves.epoch_x) == 2 and panel.curves.epoch_x[-1] == pytest.approx(2.0)
    assert panel.curves.val_bal[-1] == pytest.approx(100 * res.val_balanced_accuracy)
    assert np.isfinite(panel.curves.step_smooth.view()).all()
    path = panel.out_path
    assert path is not None and path.exists() and path.parent == runs.models_dir()
    loaded = load_checkpoint(path)
    assert loaded.metrics["epochs_completed"] == 2
    # There was no model: a completed run becomes current by itself.
    assert panel.state.model_path == path and panel.state.model.metrics == loaded.metrics
    assert settings.current_model_path() == path.resolve()
    log = panel.log.toPlainText()
    assert "test balanced acc" in log
    # The log names the device and says "auto" as the form does (it said "threads 0").
    assert "Device: CPU, " in log and "(auto)" in log
    assert "CPU threads auto" in log and "threads 0" not in log
    assert panel.progress.format().startswith("done · 2 epochs · ")
    assert panel.progress.value() == panel.progress.maximum()
    # The child wrote the run's curves beside the checkpoint, equal to what was drawn.
    saved = runs.load_curves(path)
    assert saved.epochs["x"] == panel.curves.epoch_x
    assert saved.epochs["val_balanced_accuracy"] == pytest.approx(
        [v / 100 for v in panel.curves.val_bal])
    assert saved.step_x == pytest.approx(panel.curves.step_x.view().tolist())
    assert panel.start_btn.isEnabled() and not panel.stop_btn.isEnabled()
    with qtbot.waitSignal(panel.history.refreshed, timeout=20000):
        panel.history.refresh()
    assert [r.path for r in panel.history.records] == [path]
    assert load_saved()["epochs"] == 2 and load_saved()["batch_size"] == 64


def test_stop_ends_run_within_seconds_and_keeps_last_epoch(qtbot, panel: TrainPanel) -> None:  # noqa: ANN001
    panel.in_process = True
    panel.form.epochs.setValue(200)
    panel.form.batch.setValue(16)
    with qtbot.waitSignal(panel.training_done, timeout=120000):
        panel.start()
        qtbot.waitUntil(lambda: len(panel.curves.epoch_x) >= 1, timeout=60000)
        t0 = time.monotonic()
        panel.stop()
    assert time.monotonic() - t0 < 10
    res = panel.last_result
    assert res.stopped and 1 <= res.epochs_completed < 200
    loaded = load_checkpoint(panel.out_path)
    assert loaded.metrics["epochs_completed"] == res.epochs_completed
    assert "Stopped after epoch" in panel.log.toPlainText()
    # Issue 9 item 7: a stopped run is never made current by itself; it is offered.
    assert panel.state.model is None and settings.current_model_path() is None
    assert panel.view.offer.isVisibleTo(panel) and "Stopped after epoch" in \
        panel.view.offer.text.text()
    # Item 13: the bar does not stay partly filled, the text counts epochs correctly.
    assert panel.progress.value() == 0
    assert panel.progress.format().startswith("stopped after ")
    assert "1 epochs" not in panel.progress.format()
    assert runs.load_curves(panel.out_path).epochs_completed == res.epochs_completed
    panel.view.offer.use_btn.click()  # the user chooses it
    assert panel.state.model_path == panel.out_path and not panel.view.offer.isVisibleTo(panel)


def test_stop_before_first_epoch_saves_nothing_and_says_so(qtbot, panel: TrainPanel) -> None:  # noqa: ANN001
    panel.form.epochs.setValue(200)
    with qtbot.waitSignal(panel.training_done, timeout=60000):
        panel.start()
        panel.stop()
    assert panel.last_result is None and panel.state.model is None
    assert not panel.out_path.exists()
    assert "no model was saved" in panel.log.toPlainText()
    assert panel.start_btn.isEnabled()


def test_error_inside_training_shows_dialog_and_panel_stays_usable(
        qtbot, panel: TrainPanel, tiny_dir: Path, error_dialogs: list) -> None:  # noqa: ANN001
    shown = error_dialogs.texts
    good = (tiny_dir / "k49-train-imgs.npz").read_bytes()
    (tiny_dir / "k49-train-imgs.npz").write_bytes(b"garbage, not an npz")
    panel.in_process = True  # the error crosses the process boundary with its message
    _run(qtbot, panel)
    assert len(shown()) == 1 and "k49-train-imgs.npz" in shown()[0]
    assert panel.state.model is None and panel.start_btn.isEnabled()
    (tiny_dir / "k49-train-imgs.npz").write_bytes(good)
    panel.in_process = False
    panel.form.epochs.setValue(1)
    _run(qtbot, panel)
    assert panel.last_result is not None and panel.state.model is not None


def test_close_while_training_asks_and_cancels_only_on_yes(
        qtbot, panel: TrainPanel, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked: list[str] = []

    def question(*a: object, **k: object) -> QMessageBox.StandardButton:
        asked.append(str(a[2]))
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    panel.form.epochs.setValue(200)
    assert panel.start() is True
    assert panel.start() is False and not panel.start_btn.isEnabled()  # one run at a time
    assert panel.can_close() is False and panel.running
    assert panel.can_close() is True
    assert all(a.startswith("Stop training and quit?") for a in asked) and len(asked) == 2
    panel.shutdown()  # stops the run and waits for it
    assert not panel.running


def test_start_is_disabled_without_data_and_says_why(qtbot) -> None:  # noqa: ANN001
    p = TrainPanel(AppState())
    qtbot.addWidget(p)
    assert not p.start_btn.isEnabled() and "Open a data folder" in p.message.text()
    assert p.start() is False
    assert p.can_close() is True


def test_settings_are_remembered_between_runs(qtbot) -> None:  # noqa: ANN001
    f = TrainSettingsForm()
    qtbot.addWidget(f)
    assert f.values()["epochs"] == 0 and f.values()["imbalance"] == "weights"  # 0: auto
    f.set_values({"epochs": 3, "batch_size": 32, "lr": 0.001, "augment": False,
                  "imbalance": "sampler", "val_fraction": 0.2, "seed": 7, "threads": 1})
    f.save()
    g = TrainSettingsForm()
    qtbot.addWidget(g)
    v = g.values()
    assert (v["epochs"], v["batch_size"], v["lr"], v["augment"], v["imbalance"],
            v["val_fraction"], v["seed"], v["threads"]) == (3, 32, 0.001, False, "sampler",
                                                             0.2, 7, 1)
    cfg = g.config()
    assert cfg.imbalance == "sampler" and cfg.val_fraction == pytest.approx(0.2)
    assert all(g.form_tooltips())


def _ckpt(path: Path, bal: float) -> Path:
    cfg = ModelConfig(channels=(4,))
    save_checkpoint(path, build_model(cfg), cfg, OFFICIAL_CLASSES,
                    metrics={"test_balanced_accuracy": bal, "epochs_completed": 1},
                    trained_on="tiny", train_config={"epochs": 1})
    return path


def test_history_make_current_and_delete_with_confirmation(
        qtbot, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    d = runs.models_dir()
    a = _ckpt(d / "run-20260101-000001.pt", 0.5)
    b = _ckpt(d / "run-20260101-000002.pt", 0.75)
    state = AppState()
    p = TrainPanel(state)
    qtbot.addWidget(p)
    h = p.history
    with qtbot.waitSignal(h.refreshed, timeout=20000):
        h.refresh()
    assert {r.path for r in h.records} == {a, b}
    assert "75.00%" in [h.table.item(r, 3).text() for r in range(2)]
    h.select_path(a)
    with qtbot.waitSignal(state.model_changed, timeout=20000):
        h.make_current_selected()
    assert state.model_path == a and settings.current_model_path() == a.resolve()
    assert state.model.metrics["test_balanced_accuracy"] == pytest.approx(0.5)
    row = [r.path for r in h.records].index(a)
    assert h.table.item(row, 0).text().startswith("● ")

    monkeypatch.setattr(QMessageBox, "question",
                        lambda *x, **k: QMessageBox.StandardButton.No)
    h.select_path(b)
    h.delete_selected()
    assert b.exists()
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *x, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(h.refreshed, timeout=20000):
        h.delete_selected()
    assert not b.exists() and [r.path for r in h.records] == [a]


def test_debiased_ema_matches_tensorboard_definition() -> None:
    vals = [4.0, 2.0, 3.0, math.nan, 1.0]
    s = 0.6
    out = debiased_ema(vals, s)
    last, n, expect = 0.0, 0, []
    for v in vals:
        if math.isnan(v):
            expect.append(math.nan)
            continue
        last = last * s + (1 - s) * v
        n += 1
        expect.append(last / (1 - s ** n))
    np.testing.assert_allclose(out, expect)
    assert out[0] == 4.0  # debiased: the first point is not pulled towards zero
    np.testing.assert_allclose(debiased_ema([2.5] * 50, 0.99), 2.5)


def _ev(kind: str, step: int, gstep: int, loss: float, spe: int = 4, **kw: object) -> object:
    return SimpleNamespace(kind=kind, epoch=1, epochs=1, step=step, steps_per_epoch=spe,
                           global_step=gstep, loss=loss, acc=0.5, images_per_s=100.0,
                           eta_s=1.0, val_loss=kw.get("val_loss"),
                           val_balanced_accuracy=kw.get("bal"), val_accuracy=kw.get("acc"))


def test_curves_smoothing_slider_and_exports(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    c = TrainCurves()
    qtbot.addWidget(c)
    evs = [_ev("step", k, k, float(5 - k)) for k in range(1, 5)]
    evs.append(_ev("epoch", 4, 4, 1.0, val_loss=0.9, bal=0.8, acc=0.85))
    c.add_events(evs)
    c.redraw()
    assert c.step_x.view().tolist() == [0.25, 0.5, 0.75, 1.0]
    x, y = c.smooth_curve.getData()
    np.testing.assert_allclose(y, debiased_ema([4, 3, 2, 1], 0.9))
    c.slider.setValue(0)
    np.testing.assert_allclose(c.smooth_curve.getData()[1], [4, 3, 2, 1])
    c.export_csv(tmp_path / "c.csv", run="run-x")
    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert lines[0].startswith("kind,epoch,train_loss") and len(lines) == 6
    assert lines[-1] == "epoch,1,,,0.9,0.8,0.85,run-x"
    c.export_png(tmp_path / "c.png")
    assert not QImage(str(tmp_path / "c.png")).isNull()


def test_step_events_are_handed_over_in_batches(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    calls: list[list] = []
    on_progress, buf = batched_progress(calls.append, interval_s=3600)
    for k in range(1, 2001):
        on_progress(k / 2000, "", _ev("step", k, k, 1.0, spe=2000))
    assert calls == [] and len(buf) == 2000  # nothing sent per step
    on_progress(1.0, "", _ev("epoch", 2000, 2000, 1.0, spe=2000, bal=0.5))
    assert len(calls) == 1 and len(calls[0]) == 2001 and buf == []
    assert calls[0][-1].kind == "epoch"


def test_epochs_and_batch_default_to_auto_like_the_cli(qtbot) -> None:  # noqa: ANN001
    """The form starts on "auto": the schedule `k49desk train` picks for the data decides,
    and the curves' x axis is fixed to it once the first event says how many epochs."""
    form = TrainSettingsForm()
    qtbot.addWidget(form)
    assert form.epochs.value() == 0 and form.epochs.text() == "auto (sized to the data)"
    assert form.batch.text() == "auto"
    cfg = form.config()
    assert cfg.epochs is None and cfg.batch_size is None
    assert "epochs auto" in form.describe() and "batch size auto" in form.describe()
    form.epochs.setValue(5)
    assert form.config().epochs == 5

    from k49desk.gui.train.training_view import TrainingView

    view = TrainingView(lambda _s: None)
    qtbot.addWidget(view)
    view.begin("run", None)
    ev = SimpleNamespace(kind="step", epoch=1, epochs=30, step=1, steps_per_epoch=10,
                         global_step=1, loss=1.0, batch_loss=1.0, acc=0.5, fraction=0.01,
                         images_per_s=100.0, eta_s=10.0, val_loss=None,
                         val_balanced_accuracy=None, val_accuracy=None, n_train=100, n_val=0)
    view.show_events([ev], stopping=False)
    assert view._epochs == 30
    lo, hi = view.curves.loss_plot.getViewBox().viewRange()[0]
    assert hi == pytest.approx(30, rel=0.05)
