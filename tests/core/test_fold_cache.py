"""Find suspects resumes at the first unfinished fold after a stop (core/fold_cache.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from k49helpers import make_k49_folder

from k49desk.core.dataset import open_dataset
from k49desk.core.errors import Cancelled
from k49desk.core.fold_cache import FoldCache, proba_cache_name, resume_status
from k49desk.core.issues import find_issues


def fast_config(epochs: int = 1):  # noqa: ANN201
    from k49desk.core.model import ModelConfig
    from k49desk.core.training import TrainConfig

    return TrainConfig(epochs=epochs, batch_size=32, lr=1e-2, augment=False, imbalance="none",
                       val_fraction=0.0, seed=0, model=ModelConfig(channels=(8, 16, 32)))


@pytest.fixture
def counting_fit(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """fit replaced by an untrained model (enough to score a fold); counts the fold models."""
    import k49desk.core.training as training
    from k49desk.core.model import build_model

    calls: list[int] = []

    def fit(cfg: training.TrainConfig, *a: object, **kw: object) -> object:
        calls.append(1)
        return training.TrainResult(model=build_model(cfg.model).eval(), history=[],
                                    epochs_completed=cfg.epochs, stopped=False,
                                    val_balanced_accuracy=None, elapsed_s=0.0)

    monkeypatch.setattr(training, "fit", fit)
    return calls


def test_a_stopped_run_resumes_at_the_first_unfinished_fold(tmp_path: Path,
                                                           counting_fit: list[int]) -> None:
    root = make_k49_folder(tmp_path / "d", n_train=6, classes=range(4), splits=("train",))
    ds = open_dataset(root)
    cfg = fast_config()
    assert resume_status(ds, "train", 3, cfg).done == 0
    texts: list[str] = []

    def stop_after_two_folds() -> bool:
        return len(counting_fit) >= 2 and "Fold 2/3: scoring" in " ".join(texts)

    with pytest.raises(Cancelled):
        find_issues(ds, "train", folds=3, train_config=cfg, should_stop=stop_after_two_folds,
                    progress=lambda f, t, p=None: texts.append(t))
    st = resume_status(open_dataset(root), "train", 3, cfg)
    assert (st.done, st.complete) == (2, False) and "2 of 3 folds already done" in st.describe()
    name = proba_cache_name(ds, "train", 3, cfg)
    kept = FoldCache(root, name).load(0, 8)
    assert kept is not None and kept.shape == (8, 49)
    # The app restarts: only the third fold model is trained; the kept folds are used as is.
    rep = find_issues(open_dataset(root), "train", folds=3, train_config=cfg)
    assert len(counting_fit) == 3 and not rep.proba_cached
    from k49desk.core.issues import stratified_folds

    held0 = np.flatnonzero(stratified_folds(ds.split("train").labels, 3, cfg.seed) == 0)
    np.testing.assert_array_equal(rep.proba[held0], kept)
    # Once the whole table is cached the fold files go; other settings start from zero.
    assert not list((root / ".k49desk-cache").glob("*.fold*.npy"))
    assert resume_status(open_dataset(root), "train", 3, cfg).complete
    assert resume_status(open_dataset(root), "train", 2, cfg).done == 0


def test_a_damaged_or_wrong_sized_fold_file_is_retrained(tmp_path: Path,
                                                        counting_fit: list[int]) -> None:
    root = make_k49_folder(tmp_path / "d", n_train=6, classes=range(4), splits=("train",))
    ds = open_dataset(root)
    cache = FoldCache(root, proba_cache_name(ds, "train", 2, fast_config()))
    (root / ".k49desk-cache").mkdir(exist_ok=True)
    (root / ".k49desk-cache" / cache.fold_name(0)).write_bytes(b"not numpy")
    cache.save(1, np.full((3, 49), 0.5, np.float32))  # 12 images in fold 1, not 3
    assert cache.load(0, 12) is None and cache.load(1, 12) is None
    find_issues(ds, "train", folds=2, train_config=fast_config())
    assert len(counting_fit) == 2
