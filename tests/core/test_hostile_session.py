"""The annotation store under hostile conditions: two processes writing at once, kill -9 in the
middle of bulk writes, files of a newer version, damaged files, a held lock, a full disk."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from k49helpers import make_flags

from k49desk.core import review_export
from k49desk.core.annotations import (
    DECISION_CODES,
    AnnotationStore,
    SessionCorrupt,
    SessionTooNew,
)
from k49desk.core.annotations import db as dbmod
from k49desk.core.dataset import open_dataset
from k49desk.core.errors import ReviewError
from k49desk.core.review import ReviewSession

KEEP, UNUSABLE, RELABEL = (DECISION_CODES[d] for d in ("keep", "unusable", "relabel"))

WRITER = """
import sys, time
from pathlib import Path
import numpy as np
from k49desk.core.annotations import AnnotationStore
root, parity, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = AnnotationStore.open(root, "train")
print("ready", flush=True)
while not (Path(root) / "go").exists():
    time.sleep(0.002)
for k, i in enumerate(range(parity, 2 * n, 2)):
    s.set_decisions([i], "keep" if parity == 0 else "unusable", source="review")
    if k % 20 == 0:  # now and then a bulk change, in a range of its own
        s.relabel(np.arange(1000 + parity * 500 + k, 1000 + parity * 500 + k + 40), 3 + parity)
    print(i, flush=True)
s.close()
"""


def spawn(code: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                            stdout=subprocess.PIPE, text=True)


def test_two_processes_writing_at_once_both_keep_every_decision(tmp_path) -> None:  # noqa: ANN001
    AnnotationStore.open(tmp_path, "train").close()
    n = 60
    procs = [spawn(WRITER, tmp_path, parity, n) for parity in (0, 1)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        (tmp_path / "go").write_bytes(b"")  # both start writing at the same moment
        acked = [[int(x) for x in p.stdout] for p in procs]
        for p in procs:
            assert p.wait(60) == 0
    finally:
        for p in procs:
            p.kill()
            p.wait()
            p.stdout.close()
    assert [len(a) for a in acked] == [n, n]
    s = AnnotationStore.open(tmp_path, "train")
    codes, finals = s.decision_codes(), s.final_labels()
    assert (codes[0:2 * n:2] == KEEP).all() and (codes[1:2 * n:2] == UNUSABLE).all()
    for parity in (0, 1):
        for k in range(0, n, 20):
            lo = 1000 + parity * 500 + k
            assert (codes[lo:lo + 40] == RELABEL).all() and (finals[lo:lo + 40] == 3 + parity).all()
    assert s.find(source="review").tolist() == list(range(2 * n))
    s.close()


BULK = """
import sys
import numpy as np
from k49desk.core.annotations import AnnotationStore
s = AnnotationStore.open(sys.argv[1], "train")
for b in range(400):
    s.relabel(np.arange(b * 200, b * 200 + 200), b % 49)
    s.add_tag(np.arange(b * 200, b * 200 + 200), f"batch{b}")
    print(b, flush=True)
"""


def test_kill_9_in_the_middle_of_bulk_writes_loses_nothing_acknowledged(tmp_path) -> None:  # noqa: ANN001
    proc = spawn(BULK, tmp_path)
    try:
        for line in proc.stdout:
            if int(line) == 6:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    s = AnnotationStore.open(tmp_path, "train")
    codes, finals = s.decision_codes(), s.final_labels()
    done = int(np.flatnonzero(codes == RELABEL).max()) // 200 + 1
    assert done >= 7  # every acknowledged batch is there ...
    for b in range(done):  # ... whole: a batch is one transaction, never half written
        assert (codes[b * 200:(b + 1) * 200] == RELABEL).all()
        assert (finals[b * 200:(b + 1) * 200] == b % 49).all()
    assert len(codes) == done * 200
    tags = s.tags()
    assert all(tags[f"batch{b}"] == 200 for b in range(done - 1)) and len(tags) in (done - 1, done)
    s.close()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_database_of_a_newer_schema_is_refused_and_left_untouched(tmp_path) -> None:  # noqa: ANN001
    s = AnnotationStore.open(tmp_path, "train")
    s.keep([1, 2])
    path = s.path
    s.close()
    c = sqlite3.connect(path)
    c.execute("PRAGMA user_version=2")
    c.commit()
    c.close()
    before = _files(tmp_path)
    for _ in range(2):
        with pytest.raises(SessionTooNew, match="newer k49desk .*schema version 2.*untouched"):
            AnnotationStore.open(tmp_path, "train")
        with pytest.raises(SessionTooNew):
            ReviewSession.open(tmp_path, "train")
    assert _files(tmp_path) == before


def test_newer_schema_still_in_the_wal_of_another_process_is_refused(tmp_path) -> None:  # noqa: ANN001
    AnnotationStore.open(tmp_path, "train").close()
    path = tmp_path / "k49desk-annotations-train.sqlite"
    holder = sqlite3.connect(path)  # a newer k49desk, running: its change is in the -wal
    holder.execute("PRAGMA user_version=3")
    holder.commit()
    main = path.read_bytes()
    with pytest.raises(SessionTooNew, match="schema version 3"):
        AnnotationStore.open(tmp_path, "train")
    assert path.read_bytes() == main
    holder.close()


def test_damaged_database_is_backed_up_and_reported_never_replaced_silently(tmp_path) -> None:  # noqa: ANN001
    s = AnnotationStore.open(tmp_path, "train")
    s.relabel(np.arange(3000), 1)
    s.add_tag(np.arange(3000), "x")
    path = s.path
    s.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[page:page * 6] = np.random.default_rng(0).integers(0, 256, page * 5,
                                                            dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(SessionCorrupt, match="k49desk-annotations-train.sqlite: the annotation "
                                             "database is damaged .*renamed to") as ei:
        AnnotationStore.open(tmp_path, "train")
    assert ei.value.backup.read_bytes() == bytes(data)
    fresh = AnnotationStore.open(tmp_path, "train")  # reported, then a new one
    assert not fresh.decision_codes().any() and fresh.tags() == {}
    fresh.close()


@pytest.mark.parametrize("make", ["text", "foreign", "missing_table"])
def test_a_file_that_is_not_our_database_is_corrupt_not_a_traceback(tmp_path, make) -> None:  # noqa: ANN001
    path = tmp_path / "k49desk-annotations-train.sqlite"
    if make == "text":
        path.write_bytes(b"not a database " * 20)
    elif make == "foreign":
        c = sqlite3.connect(path)
        c.execute("CREATE TABLE x(a)")
        c.commit()
        c.close()
    else:
        AnnotationStore.open(tmp_path, "train").close()
        c = sqlite3.connect(path)
        c.execute("DROP TABLE tags")
        c.commit()
        c.close()
    with pytest.raises(SessionCorrupt, match="damaged") as ei:
        ReviewSession.open(tmp_path, "train")
    assert ei.value.backup is not None and ei.value.backup.exists()
    assert len(ReviewSession.open(tmp_path, "train")) == 0


def test_database_of_another_split_is_refused(tmp_path) -> None:  # noqa: ANN001
    AnnotationStore.open(tmp_path, "train").close()
    os.replace(tmp_path / "k49desk-annotations-train.sqlite",
               tmp_path / "k49desk-annotations-test.sqlite")
    with pytest.raises(ReviewError, match="holds the 'train' split, expected 'test'"):
        AnnotationStore.open(tmp_path, "test")


def test_a_write_blocked_by_another_process_fails_then_succeeds(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_S", 0.2)
    s = AnnotationStore.open(tmp_path, "train")
    other = sqlite3.connect(s.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(ReviewError, match="locked .* was not saved"):
        s.relabel([1, 2], 4)
    assert not s.decision_codes().any() and not s.can_undo()
    other.execute("COMMIT")
    other.close()
    s.relabel([1, 2], 4)
    assert s.final_labels()[1] == 4
    s.close()


def test_corrected_folder_appears_whole_or_not_at_all(tiny_dir, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    ds = open_dataset(tiny_dir)
    labels = ds.split("train").labels
    s = ReviewSession.open(tiny_dir, "train", make_flags(labels, n=5), labels=labels)
    s.decide(0, "relabel", 3)
    out = tmp_path / "fixed"
    copies = []

    def no_link(*a: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def full_disk(fi: object, fo: object, *a: object) -> None:
        copies.append(fo)
        if len(copies) == 2:  # the disk fills up while the second image file is copied
            raise OSError(errno.ENOSPC, "No space left on device")
        real_copy(fi, fo, *a)

    real_copy = shutil.copyfileobj
    monkeypatch.setattr(review_export.os, "link", no_link)
    monkeypatch.setattr(review_export.shutil, "copyfileobj", full_disk)
    with pytest.raises(ReviewError, match="disk is full") as ei:
        s.export_corrected(out, ds)
    assert str(out) in str(ei.value) and "staging" not in str(ei.value)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]
    monkeypatch.undo()
    s.export_corrected(out, ds)
    assert open_dataset(out).split("train").labels[s.flag(0)["index"]] == 3
    s.decide(1, "unusable")
    s.export_corrected(out, ds)  # an earlier export is replaced as a whole
    assert len((out / "unusable-train.csv").read_text().splitlines()) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fixed", "tiny"]
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(ReviewError, match="holds other files \\(mine.txt\\)"):
        s.export_corrected(out, ds)
    assert (out / "mine.txt").read_text() == "keep me"
    s.close()


def test_table_export_on_a_full_disk_leaves_nothing(tiny_dir, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    labels = open_dataset(tiny_dir).split("train").labels
    s = ReviewSession.open(tiny_dir, "train", make_flags(labels, n=5), labels=labels)

    def full(*a: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ReviewError, match="r.csv: the disk is full; nothing was written"):
        s.export_csv(tmp_path / "r.csv")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]
    s.close()
