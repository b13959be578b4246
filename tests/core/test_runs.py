"""Run history index: listing saved models with their metrics, delete."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from k49desk.core import runs
from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.errors import CheckpointError
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
