"""Gallery file work: import images (files -> folder -> opens on its pre-labels), merge,
selection CSVs (`k49desk gui --indices`), decision exports, and annotations that survive a
killed process. Run them with -k 'annotat or select or tag or import'."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gallery_helpers import open_panel
from k49helpers import make_k49_folder
from PIL import Image
from PySide6.QtCore import Qt

from k49desk.core import inference
from k49desk.core.annotations import AnnotationStore
from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.core.dataset import open_dataset
from k49desk.core.demo import render_char
from k49desk.core.selection_csv import read_selection_csv, write_selection_csv

CHARS = (0, 5, 25, 47)  # あ か は ん


@pytest.fixture(scope="module")
def model():  # noqa: ANN201
    from k49desk.core.model import load_checkpoint
    from k49desk.paths import DEFAULT_MODEL

    return load_checkpoint(DEFAULT_MODEL)


def _photos(d: Path) -> list[Path]:
    d.mkdir()
    out = []
    for k, c in enumerate(CHARS):
        ink = render_char(OFFICIAL_CLASSES[c].char, 80 + 30 * k, k % 2)
        img = Image.fromarray(255 - ink if k % 2 else ink)
        out.append(d / f"p{k}.png")
        img.save(out[-1])
    return out


def test_import_round_trip_opens_prelabels_least_confident_first(
        qtbot, tiny_dir: Path, tmp_path: Path, model) -> None:  # noqa: ANN001
    p = open_panel(qtbot, tiny_dir)
    p.state.set_model(model, None, remember=False)
    files = _photos(tmp_path / "photos")
    out = tmp_path / "imported"
    with qtbot.waitSignal(p.state.dataset_changed, timeout=60000):
        assert p.import_images([tmp_path / "photos"], out)
        assert p.task_strip.isVisible()  # progress, with Cancel
    ds = p.state.dataset
    assert Path(ds.root) == out
    labels = ds.split("train").labels
    top1 = [inference.topk(model, inference.preprocess(inference.load_image_file(f)), 1)[0][0]
            for f in files]
    assert labels.tolist() == top1  # the labels are predict's top-1
    qtbot.waitUntil(lambda: p.model.rowCount() == len(files), timeout=20000)
    assert p.model.query.decision == "prelabel"
    st = p.state.annotations.store("train")
    imgs, _conf = st.prelabels()
    np.testing.assert_array_equal(p.current_indices(), imgs)  # least confident first
    assert "unconfirmed pre-labels" in p.count_label.text()
    p.view.select_only(0)
    qtbot.keyClick(p.view, Qt.Key.Key_K)  # confirms: out of the queue
    assert st.annotation(int(imgs[0])).decision == "keep"
    assert p.model.rowCount() == len(files) - 1


def test_import_with_one_class_and_without_readable_files(
        qtbot, tiny_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    p = open_panel(qtbot, tiny_dir)
    assert not p.import_images([tmp_path], tmp_path / "x")  # no model, no class: refused
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"not a png")
    p.import_images([bad], tmp_path / "none", label=5)
    qtbot.waitUntil(lambda: p.last_summary is not None, timeout=30000)
    assert p.state.dataset.root == tiny_dir
    assert p.last_summary.windowTitle() == "Nothing imported"
    assert "a.png" in p.last_summary.text()
    p.last_summary.close()
    files = _photos(tmp_path / "ph")
    with qtbot.waitSignal(p.state.dataset_changed, timeout=60000):
        p.import_images(files[:2], tmp_path / "ka", label=5)
    assert p.state.dataset.split("train").labels.tolist() == [5, 5]
    assert p.model.rowCount() == 2 and p.request_bar.isVisible()


def test_merge_from_the_gallery_applies_decisions_and_shows_a_summary(
        qtbot, tiny_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    p = open_panel(qtbot, tiny_dir)
    p.view.select_rows(np.arange(3))
    p.mark_unusable_selection()
    other = make_k49_folder(tmp_path / "other", n_train=2, n_test=1)
    out = tmp_path / "merged"
    assert p.merge_folders([tiny_dir, other], out)
    qtbot.waitUntil(lambda: p.last_merge is not None, timeout=60000)
    r = p.last_merge
    ds = open_dataset(out)
    assert len(ds.split("train")) == 49 * 12 - 3 + 49 * 2
    first = [c for c in r.counts if c.split == "train"][0]
    assert first.dropped_unusable == 3
    html = p.last_summary.text()
    assert "Unusable" in html and "tiny" in html and "other" in html


def test_selection_csv_of_both_splits_shows_exactly_those_rows_and_round_trips(
        qtbot, tiny_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    p = open_panel(qtbot, tiny_dir)
    ds = p.model.dataset
    sel = tmp_path / "sel.csv"
    write_selection_csv(sel, {"train": [40, 3, 100], "test": [7, 1]}, ds=ds)
    p.open_selection_csv(sel)
    qtbot.waitUntil(lambda: p.request_bar.isVisible(), timeout=20000)
    assert p.model.split_name == "both"
    assert p.model.indices().tolist() == [40, 3, 100, 7, 1]
    assert p.model.split_codes().tolist() == [0, 0, 0, 1, 1]
    assert "sel.csv" in p.request_title.text()
    # File > Export selection writes the same CSV
    p.view.select_rows(np.array([0, 3]))
    assert p.export_selection_csv(tmp_path / "out.csv") == 2
    got = read_selection_csv(tmp_path / "out.csv", ds)
    assert {k: v.tolist() for k, v in got.items()} == {"train": [40], "test": [7]}
    assert p.export_selection_csv(tmp_path / "view.csv", "view") == 5
    got = read_selection_csv(tmp_path / "view.csv", ds)
    assert {k: v.tolist() for k, v in got.items()} == {"train": [40, 3, 100], "test": [7, 1]}


def test_gui_indices_flag_opens_the_gallery_on_the_selection(
        qtbot, tiny_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from k49desk.cli import main
    from k49desk.core.errors import K49Error
    from k49desk.gui.common.state import AppState
    from k49desk.gui.gallery.panel import GalleryPanel

    sel = tmp_path / "sel.csv"
    sel.write_text("split,index\ntest,3\ntest,0\n")
    shot = tmp_path / "shot.png"
    assert main(["gui", "--data-dir", str(tiny_dir), "--indices", str(sel),
                 "--screenshot", str(shot), "--size", "1024x700"]) == 0
    assert shot.exists()
    assert main(["gui", "--indices", str(tmp_path / "missing.csv")]) != 0
    with pytest.raises(K49Error, match="does not exist"):
        from k49desk.commands.gui import _check_indices

        _check_indices(type("A", (), {"indices": str(tmp_path / "no.csv"), "panel": None})())
    # before a folder is open the request waits for it (what run_app does at start-up)
    state = AppState()
    p = GalleryPanel(state)
    qtbot.addWidget(p)
    p.open_selection_csv(sel)
    state.set_dataset(open_dataset(tiny_dir))
    qtbot.waitUntil(lambda: p.model.indices().tolist() == [3, 0], timeout=20000)
    assert p.model.split_name == "test"


def test_decisions_export_includes_manual_annotations_and_tags(
        qtbot, tiny_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    p = open_panel(qtbot, tiny_dir)
    p.view.select_rows(np.array([4, 5]))
    p.relabel_selection(25)
    p.tag_selection("checked")
    out = tmp_path / "dec.csv"
    assert p.export_decisions("train", out)
    # the file appears (os.replace) a moment before the task ends: wait for the task
    qtbot.waitUntil(lambda: not p.tasks.running("folder"), timeout=20000)
    assert out.exists()
    t = pd.read_csv(out)
    rows = t[t["index"].isin([4, 5])]
    assert set(rows["decision"]) == {"relabel"} and set(rows["final_label"]) == {25}
    assert set(rows["source"]) == {"manual"} and set(rows["tags"]) == {"checked"}
    folder = tmp_path / "corrected"
    assert p.export_corrected("train", folder)
    qtbot.waitUntil(lambda: not p.tasks.running("folder"), timeout=20000)
    assert folder.exists()
    assert open_dataset(folder).split("train").labels[[4, 5]].tolist() == [25, 25]


CHILD = textwrap.dedent("""
    import os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import numpy as np
    from k49desk.gui.app import make_app
    from k49desk.core.dataset import open_dataset
    from k49desk.gui.common.state import AppState
    from k49desk.gui.gallery.panel import GalleryPanel
    app = make_app()
    st = AppState()
    st.set_dataset(open_dataset(sys.argv[1]))
    p = GalleryPanel(st)
    while not p.model.marks.has("train"):
        app.processEvents(); time.sleep(0.01)
    p.view.select_rows(np.arange(10, 30))
    assert p.relabel_selection(25) and p.tag_selection("seen")
    print("acknowledged", flush=True)
    time.sleep(60)
""")


def test_annotations_survive_a_killed_process(tiny_dir: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tiny_dir)], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "acknowledged"
        os.kill(proc.pid, signal.SIGKILL)  # kill -9 right after the write returned
    finally:
        proc.wait(30)
    labels = open_dataset(tiny_dir).split("train").labels
    with AnnotationStore.open(tiny_dir, "train", labels=labels) as st:
        assert st.find(decision="relabel", final_label=25).tolist() == list(range(10, 30))
        assert st.images_tagged("seen").tolist() == list(range(10, 30))
