"""The CNN and its checkpoints: shapes, round trip, and every kind of bad checkpoint."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.errors import CheckpointError
from k49desk.core.model import (
    LoadedModel,
    ModelConfig,
    build_model,
    load_checkpoint,
    save_checkpoint,
)

SMALL = ModelConfig(channels=(4, 8, 8), dropout=0.0)


def _save(path: Path, cfg: ModelConfig = SMALL, **kw: object) -> torch.nn.Module:
    torch.manual_seed(0)
    m = build_model(cfg)
    save_checkpoint(path, m, cfg, OFFICIAL_CLASSES, metrics={"val_balanced_accuracy": 0.5},
                    trained_on="tests", train_config={"epochs": 1}, **kw)
    return m


def test_model_maps_images_to_49_logits() -> None:
    m = build_model(ModelConfig())
    out = m(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 49)
    n_params = sum(p.numel() for p in m.parameters())
    assert n_params < 1_000_000  # the default must stay a few-MB file


def test_config_is_frozen_and_accepts_lists_from_json() -> None:
    cfg = ModelConfig.from_dict({"n_classes": 49, "channels": [8, 16], "convs_per_stage": 1,
                                 "dropout": 0.1, "hidden": 0})
    assert cfg.channels == (8, 16)
    with pytest.raises(AttributeError):
        cfg.dropout = 0.5  # type: ignore[misc]


def test_checkpoint_round_trip_keeps_weights_metadata_and_predictions(tmp_path: Path) -> None:
    p = tmp_path / "m.pt"
    m = _save(p)
    lm = load_checkpoint(p)
    assert isinstance(lm, LoadedModel)
    assert lm.config == SMALL and lm.path == p
    assert lm.classes == OFFICIAL_CLASSES
    assert lm.metrics == {"val_balanced_accuracy": 0.5}
    assert lm.trained_on == "tests" and lm.train_config == {"epochs": 1}
    assert lm.created.endswith("+00:00")
    for k, v in m.state_dict().items():
        assert torch.equal(v, lm.model.state_dict()[k])
    imgs = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    proba = lm.predict_proba(imgs, batch_size=2)
    assert proba.shape == (5, 49) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    m.eval()
    with torch.no_grad():
        ref = torch.softmax(m(torch.from_numpy(imgs).unsqueeze(1).float() / 255), 1).numpy()
    np.testing.assert_allclose(proba, ref, atol=1e-6)
    card = lm.card()
    assert card["Trained on"] == "tests" and card["Validation balanced accuracy"] == "50.00%"


def test_missing_checkpoint_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nope.pt: model file not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_text_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    p = tmp_path / "notes.pt"
    p.write_text("hello, I am not a model\n")
    with pytest.raises(CheckpointError, match="notes.pt: not a k49desk checkpoint"):
        load_checkpoint(p)


def test_truncated_checkpoint_is_reported_as_truncated(tmp_path: Path) -> None:
    p = tmp_path / "cut.pt"
    _save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt: truncated or corrupt"):
        load_checkpoint(p)


@pytest.mark.parametrize("key", ["model", "config", "classes"])
def test_checkpoint_missing_a_key_names_it(tmp_path: Path, key: str) -> None:
    p = tmp_path / "partial.pt"
    _save(p)
    ck = torch.load(p, weights_only=True)
    del ck[key]
    torch.save(ck, p)
    with pytest.raises(CheckpointError, match=f"partial.pt: .*missing keys: {key}"):
        load_checkpoint(p)


def test_checkpoint_with_wrong_number_of_classes_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "ten.pt"
    cfg = ModelConfig(n_classes=10, channels=(4, 8))
    save_checkpoint(p, build_model(cfg), cfg, OFFICIAL_CLASSES[:10], metrics={},
                    trained_on="kmnist", train_config={})
    with pytest.raises(CheckpointError, match="ten.pt: model has 10 classes .*expected 49"):
        load_checkpoint(p)


def test_pickled_objects_are_refused_by_the_safe_load(tmp_path: Path) -> None:
    p = tmp_path / "evil.pt"
    torch.save({"model": {}, "config": {}, "classes": [], "payload": Path("/etc")}, p)
    with pytest.raises(CheckpointError, match="evil.pt: holds pickled Python objects"):
        load_checkpoint(p)


def test_weights_that_do_not_fit_the_config_are_a_state_dict_mismatch(tmp_path: Path) -> None:
    p = tmp_path / "mismatch.pt"
    _save(p)
    ck = torch.load(p, weights_only=True)
    ck["config"]["channels"] = [4, 8, 16]
    torch.save(ck, p)
    with pytest.raises(CheckpointError, match="mismatch.pt: weights do not match .*state_dict"):
        load_checkpoint(p)


def test_bare_tensor_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    p = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), p)
    with pytest.raises(CheckpointError, match="tensor.pt: not a k49desk checkpoint"):
        load_checkpoint(p)


def test_zip_with_garbage_member_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "junk.pt"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("junk/data.pkl", b"\x80\x05garbage")
    p.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="junk.pt: "):
        load_checkpoint(p)


def test_failed_save_names_the_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(CheckpointError, match="afile/m.pt: cannot be written"):
        _save(blocker / "m.pt")
    target = tmp_path / "adir.pt"
    target.mkdir()  # os.replace onto a folder fails after the temp file was written
    with pytest.raises(CheckpointError, match="adir.pt"):
        _save(target)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["adir.pt", "afile"]


def test_shipped_default_model_is_small_loads_and_says_what_it_saw() -> None:
    from k49desk.paths import DEFAULT_MODEL

    if not DEFAULT_MODEL.exists():
        pytest.skip("models/k49desk-default.pt is not in this checkout")
    assert DEFAULT_MODEL.stat().st_size <= 2_000_000  # issue 14: at most 2 MB
    lm = load_checkpoint(DEFAULT_MODEL)
    data = lm.metrics["data"]
    assert data["is_demo"] is False and data["mixed_demo_and_real"] is True
    real = np.asarray(data["real_per_class"])
    assert (real > 0).sum() == 10 and (np.asarray(data["demo_per_class"]) > 0).all()
    assert "generated demo data" in lm.trained_on and "REAL" in lm.trained_on
    assert "10 classes only" in lm.card()["Note"] and "10 classes" in lm.caution
    # the card's bars, measured on held-out real images and on the bundled fonts
    assert lm.metrics["heldout"]["all held-out real"]["balanced_accuracy"] >= 0.90
    assert all(min(v) >= 47 for v in lm.metrics["pen_strokes_top5"].values())
    assert "on held-out real images" in lm.summary()


def test_default_model_scores_well_above_chance_on_real_images(first100: Path) -> None:
    from k49desk.core.dataset import open_dataset
    from k49desk.core.training import evaluate
    from k49desk.paths import DEFAULT_MODEL

    if not DEFAULT_MODEL.exists():
        pytest.skip("models/k49desk-default.pt is not in this checkout")
    test = open_dataset(first100).split("test")
    r = evaluate(load_checkpoint(DEFAULT_MODEL), test.images, test.labels)
    # real images of 10 classes only: modest on all 40 present, far above 1/49 chance
    assert r.n == 100 and r.balanced_accuracy > 0.3
