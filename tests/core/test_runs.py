"""Run history index: listing saved models with their metrics, delete; the side files
(curves, evaluations) and the settings diff."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from k49desk.core import runs
from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.errors import CheckpointError, K49Error
from k49desk.core.model import ModelConfig, build_model, save_checkpoint


def _save(path: Path, bal: float, created: str, epochs: int = 2) -> Path:
    cfg = ModelConfig(channels=(4,))
    save_checkpoint(path, build_model(cfg), cfg, OFFICIAL_CLASSES,
                    metrics={"test_balanced_accuracy": bal, "test_accuracy": bal + 0.01,
                             "epochs_completed": epochs},
                    trained_on="tiny", train_config={"epochs": epochs, "lr": 0.01},
                    created=created)
    return path


def test_models_dir_follows_environment_at_call_time(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K49DESK_MODELS_DIR", str(tmp_path / "a"))
    assert runs.models_dir() == tmp_path / "a"
    monkeypatch.setenv("K49DESK_MODELS_DIR", str(tmp_path / "b"))
    assert runs.models_dir() == tmp_path / "b"
    assert runs.models_dir(tmp_path / "c") == tmp_path / "c"


def test_new_run_path_is_timestamped_and_never_reuses_a_name(tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 23, 21, 5, 9)
    p1 = runs.new_run_path(tmp_path / "m", now=now)
    assert p1.name == "run-20261123-210509.pt" and p1.parent.is_dir()
    p1.write_bytes(b"x")
    p2 = runs.new_run_path(tmp_path / "m", now=now)
    assert p2.name == "run-20261123-210509-2.pt"


def test_list_runs_reads_metrics_newest_first_and_caches_in_index(tmp_path: Path) -> None:
    d = tmp_path / "models"
    d.mkdir()
    _save(d / "run-a.pt", 0.5, "2026-11-23T10:00:00+00:00")
    _save(d / "run-b.pt", 0.75, "2026-11-23T11:00:00+00:00", epochs=3)
    (d / "broken.pt").write_bytes(b"not a checkpoint")
    recs = runs.list_runs(d)
    assert [r.name for r in recs] == ["run-b.pt", "run-a.pt", "broken.pt"]
    assert recs[0].metric("test_balanced_accuracy") == pytest.approx(0.75)
    assert recs[0].epochs == 3 and recs[0].trained_on == "tiny"
    assert "broken.pt" in recs[2].error and recs[2].metric("test_accuracy") is None
    index = json.loads((d / runs.INDEX_FILE).read_text())
    assert set(index["runs"]) == {"run-a.pt", "run-b.pt", "broken.pt"}

    calls: list[Path] = []

    def reader(p: Path) -> dict:
        calls.append(p)
        return runs.read_run_metadata(p)

    runs.list_runs(d, reader=reader)
    assert calls == []  # unchanged files come from the index
    _save(d / "run-a.pt", 0.6, "2026-11-23T10:00:00+00:00")
    os.utime(d / "run-a.pt", ns=(1, 1))  # make sure the stat key changes even on coarse clocks
    recs = runs.list_runs(d, reader=reader)
    assert [p.name for p in calls] == ["run-a.pt"]
    assert {r.name: r.metric("test_balanced_accuracy") for r in recs}["run-a.pt"] == \
        pytest.approx(0.6)


def test_list_runs_of_missing_folder_is_empty(tmp_path: Path) -> None:
    assert runs.list_runs(tmp_path / "nope") == []


def test_delete_run_removes_file_and_forgets_it(tmp_path: Path) -> None:
    d = tmp_path / "models"
    a = _save(d / "run-a.pt", 0.5, "2026-11-23T10:00:00+00:00")
    b = _save(d / "run-b.pt", 0.7, "2026-11-23T11:00:00+00:00")
    runs.list_runs(d)
    runs.delete_run(a, d)
    assert not a.exists() and b.exists()
    assert [r.name for r in runs.list_runs(d)] == ["run-b.pt"]
    assert "run-a.pt" not in json.loads((d / runs.INDEX_FILE).read_text())["runs"]
    runs.delete_run(a, d)  # already gone: no error


def test_delete_refuses_the_bundled_default_model(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    import k49desk.paths

    fake_default = tmp_path / "k49desk-default.pt"
    fake_default.write_bytes(b"x")
    monkeypatch.setattr(k49desk.paths, "DEFAULT_MODEL", fake_default)
    with pytest.raises(CheckpointError, match="default model"):
        runs.delete_run(fake_default, tmp_path)
    assert fake_default.exists()


def test_corrupt_index_is_rebuilt_from_checkpoints(tmp_path: Path) -> None:
    d = tmp_path / "models"
    _save(d / "run-a.pt", 0.5, "2026-11-23T10:00:00+00:00")
    (d / runs.INDEX_FILE).write_text("{not json")
    assert [r.name for r in runs.list_runs(d)] == ["run-a.pt"]
    assert json.loads((d / runs.INDEX_FILE).read_text())["version"] == runs.INDEX_VERSION


# ---- side files: curves and evaluations --------------------------------------------------
def _events(epochs: int, spe: int, extra_steps: int = 0) -> list:
    from k49desk.core.training import TrainEvent

    evs, g = [], 0
    for e in range(1, epochs + 1):
        for s in range(1, spe + 1):
            g += 1
            evs.append(TrainEvent("step", e, 5, s, spe, g, 1.0 / g, 0.5, 100.0, 1.0,
                                  batch_loss=10.0 / g))
        evs.append(TrainEvent("epoch", e, 5, spe, spe, g, 1.0 / g, 0.5, 100.0, 1.0,
                              val_loss=0.5 / e, val_balanced_accuracy=0.5 + 0.1 * e,
                              val_accuracy=None))
    for s in range(1, extra_steps + 1):  # a half epoch that a stop dropped
        evs.append(TrainEvent("step", epochs + 1, 5, s, spe, g + s, 9.0, 0.5, 100.0, 1.0))
    return evs


def test_curves_round_trip_keep_only_what_the_checkpoint_saw(tmp_path: Path) -> None:
    ck = _save(tmp_path / "run-a.pt", 0.5, "2026-11-23T10:00:00+00:00")
    out = runs.save_curves(ck, _events(2, 4, extra_steps=3), stopped=True)
    assert out == tmp_path / "run-a.curves.json"
    c = runs.load_curves(ck)
    assert c.stopped and c.epochs_planned == 5 and c.epochs_completed == 2
    assert c.step_x == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]  # not the dropped steps
    assert c.step_loss == pytest.approx([10.0 / g for g in range(1, 9)])  # the batch's own
    assert c.epochs["x"] == [1.0, 2.0]
    assert c.epochs["val_balanced_accuracy"] == pytest.approx([0.6, 0.7])
    assert all(math.isnan(v) for v in c.epochs["val_accuracy"])  # None -> NaN, not 0
    assert not list(tmp_path.glob("*.tmp"))


def test_curves_are_subsampled_to_bucket_means(tmp_path: Path) -> None:
    ck = tmp_path / "run-b.pt"
    runs.save_curves(ck, _events(1, 1005), max_points=100)
    c = runs.load_curves(ck)
    assert c.step_every == 11 and len(c.step_x) == 92  # 91 full buckets and the last 4 steps
    assert c.step_loss[0] == pytest.approx(np.mean([10.0 / g for g in range(1, 12)]))
    assert c.step_x[-1] == pytest.approx(np.mean([g / 1005 for g in range(1002, 1006)]))
    assert c.step_loss[-1] == pytest.approx(np.mean([10.0 / g for g in range(1002, 1006)]))


@pytest.mark.parametrize("text, why", [
    (b"\xff\xfe garbage", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"version": 99, "epochs": {}, "steps": {}}', "version 99"),
    (b'{"version": 1, "epochs": {"x": [1, 2], "train_loss": [1]}, "steps": {"x": [],'
     b' "loss": []}}', "epochs.train_loss has 1 values for 2 epochs"),
    (b'{"version": 1, "epochs": {}, "steps": {"x": [1], "loss": ["a"]}}', "steps.loss"),
    (b'{"version": 1, "epochs": {}, "steps": {"x": [1, 2], "loss": [1]}}', "2 step positions"),
])
def test_damaged_curves_file_is_refused_with_its_name(tmp_path: Path, text: bytes,
                                                      why: str) -> None:
    ck = tmp_path / "run-c.pt"
    runs.curves_path(ck).write_bytes(text)
    with pytest.raises(K49Error, match="run-c.curves.json") as e:
        runs.load_curves(ck)
    assert why in str(e.value)


def test_missing_curves_say_so(tmp_path: Path) -> None:
    with pytest.raises(K49Error, match="no saved curves for run-d.pt"):
        runs.load_curves(tmp_path / "run-d.pt")


def test_evaluations_are_recorded_beside_the_checkpoint_and_shown_by_list_runs(
        tmp_path: Path) -> None:
    d = tmp_path / "models"
    ck = _save(d / "run-a.pt", 0.5, "2026-11-23T10:00:00+00:00")
    before = ck.read_bytes()
    runs.record_evaluation(ck, "fp1", balanced_accuracy=0.9, accuracy=0.95, n=60,
                           data_dir="/x")
    runs.record_evaluation(ck, "fp2", balanced_accuracy=float("nan"), accuracy=0.5, n=1)
    assert ck.read_bytes() == before  # the checkpoint is never rewritten
    ev = runs.evaluations(ck)
    assert ev["fp1"]["balanced_accuracy"] == 0.9 and ev["fp1"]["n"] == 60
    assert ev["fp2"]["balanced_accuracy"] is None
    rec = runs.list_runs(d)[0]
    assert rec.test_result("fp1")[:2] == (0.9, 0.95) and "/x" in rec.test_result("fp1")[2]
    # Another split: the checkpoint's own end-of-training test metrics.
    assert rec.test_result("other")[:2] == (0.5, pytest.approx(0.51))
    assert "end of training" in rec.test_result("other")[2]
    os.utime(ck, ns=(1, 1))  # the checkpoint changed: its old evaluations no longer apply
    assert runs.evaluations(ck) == {}


def test_damaged_evaluations_file_does_not_break_listing(tmp_path: Path) -> None:
    d = tmp_path / "models"
    ck = _save(d / "run-a.pt", 0.5, "2026-11-23T10:00:00+00:00")
    runs.evals_path(ck).write_text('{"version": 1, "evals": [1]}')
    with pytest.raises(K49Error, match="run-a.evals.json"):
        runs.evaluations(ck)
    assert runs.list_runs(d)[0].evals == {}
    runs.record_evaluation(ck, "fp", balanced_accuracy=0.8, accuracy=0.8, n=2)  # replaces it
    assert set(runs.evaluations(ck)) == {"fp"}


def test_delete_run_removes_its_side_files(tmp_path: Path) -> None:
    d = tmp_path / "models"
    ck = _save(d / "run-a.pt", 0.5, "2026-11-23T10:00:00+00:00")
    runs.save_curves(ck, _events(1, 2))
    runs.record_evaluation(ck, "fp", balanced_accuracy=0.8, accuracy=0.8, n=2)
    assert runs.list_runs(d)[0].has_curves
    runs.delete_run(ck, d)
    assert sorted(p.name for p in d.iterdir()) == [runs.INDEX_FILE]


def test_settings_diff_lists_only_what_differs(tmp_path: Path) -> None:
    a = runs.RunRecord(tmp_path / "a.pt", train_config={"lr": 0.01, "epochs": 2, "seed": 0,
                                                        "model": {"dropout": 0.2}},
                       metrics={"epochs_completed": 2, "data": {"n_train": 10}})
    b = runs.RunRecord(tmp_path / "b.pt", train_config={"lr": 0.003, "epochs": 2, "seed": 0,
                                                        "model": {"dropout": 0.3}},
                       metrics={"epochs_completed": 1, "stopped": True,
                                "data": {"n_train": 10}})
    rows = dict(runs.settings_diff([a, b]))
    assert rows == {"lr": [0.01, 0.003], "model.dropout": [0.2, 0.3],
                    "epochs completed": [2, 1], "stopped": [False, True]}
    assert dict(runs.settings_diff([a, b], only_differing=False))["seed"] == [0, 0]


def test_is_listed_means_in_the_models_folder(tmp_path: Path) -> None:
    d = tmp_path / "models"
    assert runs.is_listed(d / "run-a.pt", d) and not runs.is_listed(tmp_path / "x.pt", d)


def test_save_run_side_files_writes_curves_and_the_test_result(tmp_path: Path) -> None:
    from types import SimpleNamespace

    ck = _save(tmp_path / "run-a.pt", 0.5, "2026-11-23T10:00:00+00:00")
    res = SimpleNamespace(history=_events(2, 3), stopped=False,
                          metrics={"test_balanced_accuracy": 0.8, "test_accuracy": 0.9,
                                   "test_n": 40})
    assert runs.save_run_side_files(ck, res, 5, test=("fp", "/data")) == []
    assert runs.load_curves(ck).epochs_planned == 5
    assert runs.evaluations(ck)["fp"]["accuracy"] == 0.9
    b = _save(tmp_path / "run-b.pt", 0.5, "2026-11-23T10:00:00+00:00")
    runs.curves_path(b).mkdir()  # unwritable side files (a folder in the way, even for root)
    runs.evals_path(b).mkdir()
    warnings = runs.save_run_side_files(b, res, 5, test=("fp", "/data"))
    assert [w.split(":")[0] for w in warnings] == ["curves not saved", "test result not recorded"]
    assert "run-b.curves.json" in warnings[0]
