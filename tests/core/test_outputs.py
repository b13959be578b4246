"""Model outputs over whole splits: predictions agree with the model, embeddings, cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from k49desk.core import outputs_cache
from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.dataset import K49Dataset, Split, open_dataset
from k49desk.core.errors import Cancelled, K49Error
from k49desk.core.model import LoadedModel, ModelConfig, build_model
from k49desk.core.outputs import (
    Embedder,
    compute_outputs,
    data_fingerprint,
    embed_images,
    final_linear,
    inference_copy,
    model_fingerprint,
)


def _model(seed: int = 0, **cfg: object) -> LoadedModel:
    torch.manual_seed(seed)
    config = ModelConfig(channels=(8, 16), dropout=0.0, **cfg)
    m = build_model(config).eval()
    # Non-trivial batch-norm statistics, so fusing them into the convolutions is tested.
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
    return LoadedModel(model=m, config=config)


def test_predictions_match_predict_proba_and_are_consistent(tiny_dir: Path) -> None:
    lm = _model()
    ds = open_dataset(tiny_dir)
    res = compute_outputs(lm, ds, use_cache=False, batch_size=100)
    assert set(res.splits) == {"train", "test"}
    for name, so in res.splits.items():
        split = ds.split(name)
        proba = lm.predict_proba(np.asarray(split.images))
        assert len(so) == len(split)
        assert np.array_equal(so.labels, split.labels)
        np.testing.assert_array_equal(so.predicted, proba.argmax(1))
        np.testing.assert_allclose(so.confidence, proba.max(1), atol=1e-5)
        srt = np.sort(proba, 1)[:, ::-1]
        np.testing.assert_allclose(so.margin, srt[:, 0] - srt[:, 1], atol=1e-5)
        lab = split.labels.astype(int)
        np.testing.assert_allclose(so.loss, -np.log(proba[np.arange(len(lab)), lab]),
                                   rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(so.top5_p, srt[:, :5], atol=1e-5)
        assert (so.top5[:, 0] == so.predicted).all()
        assert so.embedding.shape == (len(split), res.embedder.dim)
        assert so.correct.dtype == bool
    # 16 channels x 3 x 3 pooled features -> at most 144 dimensions, fewer than EMBED_DIM
    assert res.embedder.dim == 128 and res.embedder.components.shape == (128, 144)


def test_fused_channels_last_copy_computes_the_same_and_leaves_the_model_alone() -> None:
    lm = _model()
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    fast = inference_copy(lm.model)
    x = torch.rand(7, 1, 28, 28)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x.contiguous(memory_format=torch.channels_last)),
                                   lm.model(x), atol=1e-4, rtol=1e-4)
    for k, v in lm.model.state_dict().items():
        assert torch.equal(v, before[k])


def test_penultimate_layer_is_found_generically() -> None:
    lm = _model(hidden=32)
    lin = final_linear(lm.model)
    assert lin.in_features == 32 and lin.out_features == 49
    images = np.random.default_rng(0).integers(0, 255, (5, 28, 28), dtype=np.uint8)
    emb = embed_images(lm, Embedder(np.zeros(32, np.float32), np.eye(32, dtype=np.float32)),
                       images)
    assert emb.shape == (5, 32)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)  # ReLU'd, normed


def test_embedder_fit_is_orthonormal_and_ordered_by_variance(rng: np.random.Generator) -> None:
    x = rng.normal(size=(500, 20)) * np.linspace(5, 0.1, 20)
    e = Embedder.fit(x, dim=6)
    np.testing.assert_allclose(e.components @ e.components.T, np.eye(6), atol=1e-5)
    var = e.transform(x).var(axis=0)
    assert (np.diff(var) <= 1e-6).all()
    with pytest.raises(K49Error):
        Embedder.fit(x[:1])


def test_cache_hit_is_identical_and_keyed_by_model_and_data(tiny_dir: Path) -> None:
    lm = _model()
    ds = open_dataset(tiny_dir)
    a = compute_outputs(lm, ds)
    assert not a.cached
    b = compute_outputs(lm, ds)
    assert b.cached and b.key == a.key
    for n in a.splits:
        np.testing.assert_array_equal(a.splits[n].embedding, b.splits[n].embedding)
        np.testing.assert_array_equal(a.splits[n].loss, b.splits[n].loss)
    np.testing.assert_array_equal(a.embedder.components, b.embedder.components)
    other = _model(seed=1)
    assert model_fingerprint(other) != model_fingerprint(lm)
    assert not compute_outputs(other, ds).cached


def test_in_memory_splits_are_fingerprinted_by_content(rng: np.random.Generator) -> None:
    imgs = rng.integers(0, 255, (10, 28, 28), dtype=np.uint8)
    a = Split("train", imgs, np.zeros(10, np.uint8))
    b = Split("train", imgs.copy(), np.zeros(10, np.uint8))
    assert data_fingerprint(a) == data_fingerprint(b)
    imgs[3, 3, 3] ^= 1
    assert data_fingerprint(a) != data_fingerprint(b)


@pytest.mark.parametrize("damage", ["truncate", "nan", "range", "shape", "meta", "pickle"])
def test_damaged_cache_is_rebuilt_not_trusted(tiny_dir: Path, damage: str) -> None:
    lm = _model()
    ds = open_dataset(tiny_dir)
    good = compute_outputs(lm, ds)
    folder = outputs_cache.find_folder(ds, good.key)
    assert folder is not None
    conf = folder / "train-confidence.npy"
    if damage == "truncate":
        emb = folder / "train-embedding.npy"
        emb.write_bytes(emb.read_bytes()[:200])
    elif damage == "nan":
        a = np.load(conf)
        a[0] = np.nan
        np.save(conf, a)
    elif damage == "range":
        np.save(folder / "test-predicted.npy",
                np.full(len(ds.split("test")), 200, np.uint8))
    elif damage == "shape":
        np.save(conf, np.zeros(3, np.float32))
    elif damage == "meta":
        (folder / "meta.json").write_text("{not json")
    else:
        np.save(conf, np.array([{"x": 1}] * len(ds.split("train")), dtype=object),
                allow_pickle=True)
    assert outputs_cache.load(ds, good.key, 49) is None
    again = compute_outputs(lm, ds)
    assert not again.cached
    np.testing.assert_allclose(again.splits["train"].confidence,
                               good.splits["train"].confidence)
    assert compute_outputs(lm, ds).cached  # the rebuilt entry replaced the damaged one


def test_cache_keeps_only_recent_entries(tiny_dir: Path) -> None:
    ds = open_dataset(tiny_dir)
    keys = [compute_outputs(_model(seed=s), ds).key for s in range(5)]
    parent = outputs_cache.cache_folder_candidates(ds.root)[0]
    left = {p.name for p in parent.iterdir() if p.is_dir()}
    assert len(left) == 3 and keys[-1] in left and keys[0] not in left


def test_stop_request_cancels_the_pass(tiny_dir: Path) -> None:
    ds = open_dataset(tiny_dir)
    calls: list[float | None] = []

    def progress(f: float | None, text: str, payload: object = None) -> None:
        calls.append(f)

    with pytest.raises(Cancelled):
        compute_outputs(_model(), ds, use_cache=False, batch_size=64, progress=progress,
                        should_stop=lambda: len(calls) > 3)
    res = compute_outputs(_model(), ds, use_cache=False, batch_size=64, progress=progress)
    fr = [f for f in calls if f is not None]
    assert fr[-1] == 1.0 and len(res.split("train")) == 588


def test_unwritable_cache_still_computes(tmp_path: Path, rng: np.random.Generator,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    imgs = rng.integers(0, 255, (40, 28, 28), dtype=np.uint8)
    ds = K49Dataset(root=tmp_path / "missing", classes=OFFICIAL_CLASSES,
                    splits={"test": Split("test", imgs, np.arange(40, dtype=np.uint8))})
    monkeypatch.setattr("k49desk.core.outputs.cache_folder_candidates",
                        lambda root: [Path("/proc/no-such-place")])
    monkeypatch.setattr("k49desk.core.outputs_cache.cache_folder_candidates",
                        lambda root: [Path("/proc/no-such-place")])
    res = compute_outputs(_model(), ds)
    assert not res.cached and len(res.split("test")) == 40
    with pytest.raises(K49Error, match="no model outputs for the train split"):
        res.split("train")


def test_sort_orders_are_kept_and_stable() -> None:
    from k49desk.core.outputs import SplitOutputs

    so = SplitOutputs.empty("train", np.array([3, 1, 2, 1], np.uint8), 2)
    so.loss[:] = [0.5, 2.0, 0.5, 1.0]
    desc = so.sort_order("loss", descending=True)
    np.testing.assert_array_equal(desc, [1, 3, 0, 2])
    assert so.sort_order("loss", descending=True) is desc
    np.testing.assert_array_equal(so.sort_order("labels", descending=True), [0, 2, 1, 3])
    wrong = np.array([True, False, True, True])
    np.testing.assert_array_equal(desc[wrong[desc]], [3, 0, 2])
    with pytest.raises(K49Error, match="cannot sort by"):
        so.sort_order("embedding")
