"""The map follows the model and folder: PCA preview at once, t-SNE in the background with
progress and Cancel, cached results back at once."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from map_helpers import tiny_model

from k49desk.core.dataset import open_dataset
from k49desk.core.errors import Cancelled
from k49desk.core.projection import MapResult, pca_map
from k49desk.gui.common.state import AppState
from k49desk.gui.map import panel as panel_mod
from k49desk.gui.map.panel import MapPanel


def _panel(qtbot, folder: Path, split: str) -> MapPanel:  # noqa: ANN001
    state = AppState()
    state.set_dataset(open_dataset(folder))
    p = MapPanel(state)
    qtbot.addWidget(p)
    p.resize(900, 600)
    p.show()
    p.set_split(split)
    return p


def test_pca_preview_then_tsne_then_cached_and_following_the_model(
        qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    p = _panel(qtbot, tiny_dir, "test")
    p.on_shown()
    assert p.pages.currentIndex() == 0 and "Load a model" in p.message.text()
    model = tiny_model()
    p.state.set_model(model, None, remember=False)
    qtbot.waitUntil(lambda: p.result is not None, timeout=60000)
    # The preview: PCA of the embeddings, shown while the t-SNE runs.
    assert p.result.method == "pca" and p.tasks.running("map")
    assert len(p.result) == 196 and p.result.split_names == ("test",)
    np.testing.assert_array_equal(p.result.xy, p.outputs.split("test").embedding[:, :2])
    assert p.strip_button.text() == "Cancel" and "Preview (PCA)" in p.strip_label.text()
    qtbot.waitUntil(lambda: p.result.method == "tsne", timeout=120000)
    tsne = p.result
    assert not tsne.cached and "t-SNE map of 196 test images" in p.strip_label.text()
    assert np.ptp(tsne.xy, axis=0).min() > 1.0  # laid out, not the preview
    assert p.view.cloud.xy is tsne.xy
    # The same model again (e.g. re-loaded): outputs from the disk cache, the map from memory.
    p.state.set_model(model, None, remember=False)
    assert p.result is None
    qtbot.waitUntil(lambda: p.result is not None, timeout=60000)
    assert p.result is tsne and not p.tasks.running("map")
    # Without the in-memory copy the disk cache answers (no t-SNE run).
    p.maps.clear()
    p.result = None
    t0 = time.perf_counter()
    p.refresh()
    qtbot.waitUntil(lambda: p.result is not None and p.result.method == "tsne", timeout=20000)
    assert p.result.cached and "from the cache" in p.strip_label.text()
    np.testing.assert_array_equal(p.result.xy, tsne.xy)
    assert time.perf_counter() - t0 < 20
    # Another folder: the old map goes at once.
    p.state.set_dataset(None)
    assert p.result is None and p.view.cloud.xy.shape[0] == 0
    assert "Open a data folder" in p.message.text()


def test_cancel_keeps_the_preview_and_compute_restarts(qtbot, tiny_dir: Path,  # noqa: ANN001
                                                       monkeypatch) -> None:  # noqa: ANN001
    calls = []

    def slow_map(out, ds, names, method, *, progress, should_stop, **_kw) -> MapResult:  # noqa: ANN001, ARG001
        calls.append(names)
        if len(calls) == 1:  # the first run waits to be stopped, reporting progress
            for i in range(2000):
                progress(i / 2000, f"t-SNE: iteration {i}/2000")
                if should_stop():
                    raise Cancelled("map stopped")
                time.sleep(0.01)
        m = pca_map(out, names)
        m.xy = m.xy * 2
        m.method = "tsne"
        return m

    monkeypatch.setattr(panel_mod, "compute_map", slow_map)
    p = _panel(qtbot, tiny_dir, "both")
    p.state.set_model(tiny_model(), None, remember=False)
    p.on_shown()
    qtbot.waitUntil(lambda: p.result is not None and p.strip_bar.isVisible()
                    and "iteration" in p.strip_label.text(), timeout=60000)
    assert p.result.method == "pca" and len(p.result) == 784
    p.strip_button.click()  # Cancel
    qtbot.waitUntil(lambda: not p.tasks.running("map"), timeout=10000)
    qtbot.waitUntil(lambda: p.strip_button.text() == "Compute t-SNE map")
    assert p.result.method == "pca" and "Stopped" in p.strip_label.text()
    assert p.view.cloud.xy is p.result.xy  # the preview stays on screen
    p.strip_button.click()  # compute again
    qtbot.waitUntil(lambda: p.result.method == "tsne", timeout=10000)
    assert calls == [("train", "test"), ("train", "test")]
    # Switching to one split shows its preview; the finished both-splits map is kept.
    p.set_split("train")
    qtbot.waitUntil(lambda: p.result.split_names == ("train",)
                    and p.result.method == "tsne", timeout=10000)
    p.set_split("both")
    assert p.result.split_names == ("train", "test") and len(calls) == 3
