"""Issue 9 item 7: a stopped or worse run never replaces the current model by itself; a
completed run that is at least as good on the same test split (or when there is no model, or
only the bundled default and no common test data) does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from k49desk.core import runs
from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.dataset import open_dataset
from k49desk.core.model import ModelConfig, build_model, load_checkpoint, save_checkpoint
from k49desk.gui.common.state import AppState
from k49desk.gui.train.model_choice import choose
from k49desk.gui.train.panel import TrainPanel

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from k49helpers import make_k49_folder  # noqa: E402

BASE = dict(run="run-new.pt", epochs_done=8, epochs_planned=8)


@pytest.mark.parametrize("kw, make_current, says", [
    (dict(stopped=True, new_score=None, current=None, current_score=None,
          current_is_default=False), False, "Stopped after epoch 8 of 8"),
    (dict(stopped=True, new_score=None, current="k49desk-default.pt", current_score=None,
          current_is_default=True), False, "k49desk-default.pt stays"),
    (dict(stopped=False, new_score=None, current=None, current_score=None,
          current_is_default=False), True, "there was none"),
    (dict(stopped=False, new_score=0.9544, current="good.pt", current_score=0.998,
          current_is_default=False), False, "95.44% on this test split"),
    (dict(stopped=False, new_score=0.95, current="k49desk-default.pt", current_score=0.998,
          current_is_default=True), False, "k49desk-default.pt stays"),
    (dict(stopped=False, new_score=0.998, current="good.pt", current_score=0.998,
          current_is_default=False), True, "is the current model"),
    (dict(stopped=False, new_score=None, current="k49desk-default.pt", current_score=None,
          current_is_default=True), True, "replaces the bundled default"),
    (dict(stopped=False, new_score=None, current="good.pt", current_score=None,
          current_is_default=False), False, "not measured on the same test data"),
])
def test_rule(kw: dict, make_current: bool, says: str) -> None:
    c = choose(**BASE, **kw)
    assert c.make_current is make_current and says in c.reason


def _ckpt(path: Path, metrics: dict | None = None) -> Path:
    cfg = ModelConfig(channels=(4,))
    save_checkpoint(path, build_model(cfg), cfg, OFFICIAL_CLASSES, metrics=metrics or {},
                    trained_on="elsewhere", train_config={"epochs": 1})
    return path


@pytest.fixture
def panel(qtbot, tiny_dir: Path) -> TrainPanel:  # noqa: ANN001
    state = AppState()
    p = TrainPanel(state)
    p.in_process = False
    qtbot.addWidget(p)
    state.set_dataset(open_dataset(tiny_dir))
    p.form.epochs.setValue(1)
    p.form.batch.setValue(64)
    p.form.augment.setChecked(False)
    yield p
    p.tasks.shutdown()


def _run(qtbot, p: TrainPanel) -> object:  # noqa: ANN001
    with qtbot.waitSignal(p.decided, timeout=120000) as sig:
        assert p.start()
    qtbot.waitUntil(lambda: not p.running, timeout=20000)
    return sig.args[0]


def _current(state: AppState, path: Path) -> None:
    state.set_model(load_checkpoint(path), path)


def test_worse_completed_run_is_offered_and_the_better_model_stays(
        qtbot, panel: TrainPanel) -> None:  # noqa: ANN001
    good = _ckpt(runs.models_dir() / "good.pt")
    fp = panel.state.dataset.splits["test"].fingerprint
    runs.record_evaluation(good, fp, balanced_accuracy=1.0, accuracy=1.0, n=196)
    _current(panel.state, good)
    panel.form.lr.setValue(1e-5)  # one epoch at this rate stays near chance: surely worse
    choice = _run(qtbot, panel)
    assert not choice.make_current and "good.pt stays" in choice.reason
    assert panel.state.model_path == good
    assert panel.view.offer.isVisibleTo(panel) and panel.view.offer.path == panel.out_path
    assert "good.pt stays" in panel.log.toPlainText()


def test_better_run_replaces_a_model_it_was_compared_with_on_the_same_test_split(
        qtbot, panel: TrainPanel) -> None:  # noqa: ANN001
    """No recorded result for the current model: it is evaluated on the run's test split
    (and the result recorded), then the new run wins."""
    weak = _ckpt(runs.models_dir() / "weak.pt")  # untrained: chance on 49 classes
    _current(panel.state, weak)
    panel.form.epochs.setValue(3)
    choice = _run(qtbot, panel)
    assert choice.make_current, choice.reason
    assert panel.state.model_path == panel.out_path and not panel.view.offer.isVisibleTo(panel)
    fp = panel.state.dataset.splits["test"].fingerprint
    assert runs.evaluations(weak)[fp]["n"] == 196  # recorded for Saved runs too
    # The run's own end-of-training test result is recorded under the same fingerprint.
    assert runs.evaluations(panel.out_path)[fp]["balanced_accuracy"] == pytest.approx(
        load_checkpoint(panel.out_path).metrics["test_balanced_accuracy"])


def test_without_common_test_data_only_the_default_model_is_replaced(
        qtbot, panel: TrainPanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import k49desk.paths

    panel.state.set_dataset(open_dataset(make_k49_folder(tmp_path / "trainonly", n_train=8,
                                                         splits=("train",))))
    mine = _ckpt(tmp_path / "mine.pt")
    _current(panel.state, mine)
    choice = _run(qtbot, panel)
    assert not choice.make_current and panel.state.model_path == mine
    monkeypatch.setattr(k49desk.paths, "DEFAULT_MODEL", mine)  # now "mine" is the default
    choice = _run(qtbot, panel)
    assert choice.make_current and panel.state.model_path == panel.out_path
