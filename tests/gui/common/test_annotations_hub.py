"""The shared annotation stores: opened off the GUI thread, one undo stack for every panel,
and what another process writes shows up."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from k49desk.core.annotations import AnnotationStore
from k49desk.core.dataset import open_dataset
from k49desk.gui.common.state import AppState


def test_annotation_writes_share_one_undo_stack_and_see_other_writers(
        qtbot, tiny_dir: Path) -> None:  # noqa: ANN001
    state = AppState()
    ds = open_dataset(tiny_dir)
    state.set_dataset(ds)
    hub = state.annotations
    with qtbot.waitSignal(hub.ready, timeout=20000) as sig:
        assert hub.ensure("train") is None  # opening in the background
    assert sig.args == ["train"] and hub.store("train") is not None
    seen: list[tuple[str, object]] = []
    hub.changed.connect(lambda split, imgs: seen.append((split, imgs)))
    step = hub.write("train", lambda st: st.relabel(np.arange(40), 7))
    assert step is not None and hub.undo_stack.count() == 1
    assert "relabel" in hub.undo_stack.undoText()
    codes = hub.store("train").decision_codes()
    assert (hub.store("train").final_labels()[:40] == 7).all() and codes[:40].all()
    hub.undo_stack.undo()  # what Edit > Undo does, from the Gallery or the Review tab
    assert (hub.store("train").final_labels()[:40] == -1).all()
    hub.undo_stack.redo()
    assert (hub.store("train").final_labels()[:40] == 7).all()
    assert [s for s, _ in seen] == ["train"] * 3
    # another process (a script, a second window) marks image 100 unusable
    other = AnnotationStore.open(tiny_dir, "train", labels=np.asarray(ds.split("train").labels))
    other.mark_unusable([100])
    other.close()
    with qtbot.waitSignal(hub.changed, timeout=10000) as sig:
        hub.refresh()
    assert sig.args[0] == "train" and hub.store("train").decision_codes()[100] != 0
    state.set_dataset(None)  # closing the folder closes its stores and clears the history
    assert hub.store("train") is None and hub.undo_stack.count() == 0
