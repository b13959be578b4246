"""The shared model-outputs pass: computed once in the background, reset when the model or
the folder changes, and the similar-image index built from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.dataset import open_dataset
from k49desk.core.model import ModelConfig, build_model, load_checkpoint, save_checkpoint
from k49desk.gui.common.state import AppState


def test_outputs_are_computed_once_shared_and_reset_with_the_model(
        qtbot, tiny_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    cfg = ModelConfig(channels=(4, 8), dropout=0.0)
    path = tmp_path / "m.pt"
    save_checkpoint(path, build_model(cfg), cfg, OFFICIAL_CLASSES, metrics={},
                    trained_on="tiny", train_config={})
    state = AppState()
    state.set_dataset(open_dataset(tiny_dir))
    hub = state.outputs
    assert hub.ensure() is None  # no model yet: nothing to compute
    state.set_model(load_checkpoint(path), path, remember=False)
    with qtbot.waitSignal(hub.ready, timeout=60000) as sig:
        assert hub.ensure() is None and hub.busy
    out = sig.args[0]
    assert hub.ensure() is out and not hub.busy
    train = out.split("train")
    assert len(train) == 588 and train.top5.shape == (588, 5)
    np.testing.assert_array_equal(train.labels, state.dataset.split("train").labels)
    with qtbot.waitSignal(hub.index_ready, timeout=60000):
        assert hub.ensure_index() is None
    got = hub.index.similar("train", 3, k=5)
    assert len(got) == 5 and all((n.split, n.index) != ("train", 3) for n in got)
    state.set_model(None)  # another model (none): the outputs were for the old one
    assert hub.outputs is None and hub.index is None
