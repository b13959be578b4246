"""Exports of a review session: decisions as CSV/JSON, and a corrected K49 folder.

The corrected folder is a complete K49 data folder (it opens in k49desk and in any K49
notebook): the reviewed split's labels with the decisions applied, `unusable-<split>.csv`, and
the images, the class map and the other split hard-linked from the data folder (copied when a
link is impossible, e.g. across file systems). The original files are never written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from k49desk.core.atomic import atomic_write_text, save_npz
from k49desk.core.dataset import (
    CLASSMAP_FILE,
    DEMO_TRUTH_FILE,
    SPLITS,
    images_file,
    labels_file,
)
from k49desk.core.errors import ReviewError
from k49desk.core.review_flags import check_flags, class_char

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset
    from k49desk.core.review import ReviewSession

EXPORT_COLUMNS: tuple[str, ...] = ("split", "index", "issue", "given_label", "given_char",
                                   "suggested_label", "decision", "final_label", "final_char",
                                   "quality", "model", "decided_at")


def export_frame(s: ReviewSession) -> pd.DataFrame:
    """One row per flag; decision, final_label, final_char, decided_at empty while undecided."""
    fl = s.flags
    n = len(fl)
    finals = [s.final_label(p) for p in range(n)]
    decs = [s.decisions.get(p) for p in range(n)]
    sug = fl["suggested_label"]
    return pd.DataFrame({
        "split": fl["split"], "index": fl["index"], "issue": fl["issue"],
        "given_label": fl["given_label"], "given_char": fl["given_char"],
        "suggested_label": sug.where(sug >= 0).astype("Int64"),
        "decision": [d.decision if d else "" for d in decs],
        "final_label": pd.array(finals, dtype="Int64"),
        "final_char": [class_char(f, s.classes) for f in finals],
        "quality": fl["quality"], "model": s.model,
        "decided_at": [d.decided_at if d else "" for d in decs],
    }, columns=list(EXPORT_COLUMNS))


def export_csv(s: ReviewSession, path: Path) -> Path:
    text = export_frame(s).to_csv(index=False, lineterminator="\n")
    atomic_write_text(path, text, error=ReviewError)
    return path


def export_json(s: ReviewSession, path: Path) -> Path:
    rows = json.loads(export_frame(s).to_json(orient="records", force_ascii=False))
    atomic_write_text(path, json.dumps(rows, ensure_ascii=False, indent=1) + "\n",
                      error=ReviewError)
    return path


def corrected_labels(s: ReviewSession, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels with decided changes applied, sorted unusable indices); latest decision wins."""
    check_flags(s.flags, labels, s.path.name)
    out = np.array(labels, dtype=np.uint8, copy=True)
    unusable: set[int] = set()
    idx = s.flags["index"].to_numpy()
    for p, d in sorted(s.decisions.items(), key=lambda kv: (kv[1].decided_at, kv[0])):
        f = s.final_label(p)
        if d.decision == "unusable":
            unusable.add(int(idx[p]))
        elif f is not None:
            out[idx[p]] = f
    return out, np.array(sorted(unusable), dtype=np.int64)


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link `src` to `dst` (replacing it atomically), else copy; ReviewError names dst."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            with open(src, "rb") as fi, open(tmp, "wb") as fo:
                shutil.copyfileobj(fi, fo, 1 << 20)
                fo.flush()
                os.fsync(fo.fileno())
        os.replace(tmp, dst)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ReviewError(f"{dst}: cannot be written ({e.strerror or e}); nothing was "
                          "changed in the review session") from e


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def write_corrected_folder(s: ReviewSession, folder: Path, ds: K49Dataset) -> list[Path]:
    root = Path(ds.root)
    if _same_folder(folder, root):
        raise ReviewError(f"{folder}: this is the data folder itself; pick another folder so "
                          "the original files stay untouched")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReviewError(f"{folder}: cannot create the export folder ({e.strerror or e})") from e
    split = ds.split(s.split)
    labels, unusable = corrected_labels(s, split.labels)
    written: list[Path] = []
    out = folder / labels_file(s.split)
    save_npz(out, labels, error=ReviewError)
    written.append(out)
    given = split.labels
    rows = ["index,given_label,given_char"] + [
        f"{i},{int(given[i])},{class_char(int(given[i]), s.classes)}" for i in unusable]
    out = folder / f"unusable-{s.split}.csv"
    atomic_write_text(out, "\n".join(rows) + "\n", error=ReviewError)
    written.append(out)
    links = [images_file(s.split)]
    for other in SPLITS:
        if other != s.split and other in ds.splits:
            links += [images_file(other), labels_file(other)]
    links += [f for f in (CLASSMAP_FILE, DEMO_TRUTH_FILE) if (root / f).exists()]
    for name in links:
        link_or_copy(root / name, folder / name)
        written.append(folder / name)
    if not (root / CLASSMAP_FILE).exists():
        from k49desk.core.dataset import write_classmap

        write_classmap(folder)
        written.append(folder / CLASSMAP_FILE)
    written.append(export_csv(s, folder / f"review-{s.split}.csv"))
    return written
