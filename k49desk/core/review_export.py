"""Exports of the annotations of a split: a table (CSV/JSON) and a corrected K49 folder.

The functions take plain data (flags, the annotations table, label arrays), never a session.
The table has one row per review flag, then one row per other annotated image (a manual
decision, a note or a tag), with tags joined by ';'.

The corrected folder is a complete K49 data folder (it opens in k49desk and in any K49
notebook): the split's labels with every decision applied (review and manual),
`unusable-<split>.csv`, `review-<split>.csv` (the table), and the images, the class map and the
other split hard-linked from the data folder (copied when a link is impossible). It is written
in a hidden staging folder beside the target and moved into place only when complete, so a
failure (a full disk) leaves no partial folder. The original files are never written.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from k49desk.core.annotations.records import ACCEPT, RELABEL, UNUSABLE
from k49desk.core.atomic import atomic_write_text, save_npz
from k49desk.core.classes import ClassInfo
from k49desk.core.dataset import (
    CACHE_DIR_NAME,
    CLASSMAP_FILE,
    DEMO_TRUTH_FILE,
    SPLITS,
    images_file,
    labels_file,
)
from k49desk.core.errors import ReviewError
from k49desk.core.staging import staged_folder

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset

EXPORT_COLUMNS: tuple[str, ...] = ("split", "index", "issue", "given_label", "given_char",
                                   "suggested_label", "decision", "final_label", "final_char",
                                   "quality", "model", "decided_at", "source", "tags", "note",
                                   "partner_split", "partner_index")
_SAME_LABEL = ("keep", "unusable")  # the final label is the given one


def _final(dec: pd.Series, given: pd.Series, chosen: pd.Series) -> pd.Series:
    out = pd.Series(pd.NA, index=dec.index, dtype="Int64")
    same = dec.isin(_SAME_LABEL).to_numpy()
    out[same] = given[same]
    lab = dec.isin(("accept", "relabel")).to_numpy()
    out[lab] = chosen[lab]
    return out


def _text(s: pd.Series) -> np.ndarray:
    return s.astype(object).fillna("").astype(str).to_numpy()


def _chars(labels: pd.Series, classes: tuple[ClassInfo, ...]) -> list[str]:
    return ["" if pd.isna(v) or not 0 <= int(v) < len(classes) else classes[int(v)].char
            for v in labels]


def export_frame(flags: pd.DataFrame, annotations: pd.DataFrame, *, split: str, model: str,
                 classes: tuple[ClassInfo, ...]) -> pd.DataFrame:
    """EXPORT_COLUMNS: a row per flag (in flag order), then a row per other annotated image.

    annotations: AnnotationStore.annotations_frame(). final_label is what the image should be
    labelled after the decision (empty while undecided, unsure or pre-labelled)."""
    ann = annotations.set_index("image")
    a = ann.reindex(flags["index"].to_numpy())
    dec = pd.Series(_text(a["decision"]))
    given = flags["given_label"].astype("Int64").reset_index(drop=True)
    sug = flags["suggested_label"]
    final = _final(dec, given, a["final_label"].astype("Int64").reset_index(drop=True))
    pi = flags["partner_index"]
    head = pd.DataFrame({
        "split": flags["split"], "index": flags["index"], "issue": flags["issue"],
        "given_label": given, "given_char": flags["given_char"],
        "suggested_label": sug.where(sug >= 0).astype("Int64"), "decision": dec,
        "final_label": final, "final_char": _chars(final, classes),
        "quality": flags["quality"], "model": model,
        "decided_at": _text(a["decided_at"]), "source": _text(a["source"]),
        "tags": _text(a["tags"]), "note": _text(a["note"]), "partner_split": flags["partner_split"],
        "partner_index": pi.where(pi >= 0).astype("Int64")}, columns=list(EXPORT_COLUMNS))
    rest = annotations[~annotations["image"].isin(flags["index"])].reset_index(drop=True)
    g = rest["given_label"].astype("Int64")
    dec = pd.Series(_text(rest["decision"]))
    final = _final(dec, g, rest["final_label"].astype("Int64"))
    tail = pd.DataFrame({
        "split": split, "index": rest["image"].astype(np.int64), "issue": "",
        "given_label": g, "given_char": _chars(g, classes),
        "suggested_label": pd.array([pd.NA] * len(rest), dtype="Int64"), "decision": dec,
        "final_label": final, "final_char": _chars(final, classes), "quality": np.nan,
        "model": "", "decided_at": rest["decided_at"], "source": rest["source"],
        "tags": rest["tags"], "note": rest["note"], "partner_split": "",
        "partner_index": pd.array([pd.NA] * len(rest), dtype="Int64")},
        columns=list(EXPORT_COLUMNS))
    if not len(tail):
        return head.reset_index(drop=True)
    if not len(head):
        return tail
    return pd.concat([head, tail], ignore_index=True)


# ---- writing files ----------------------------------------------------------------------
def target_problem(path: Path) -> str | None:
    """Why a file cannot be written at `path`, found before trying (None: looks writable)."""
    parent = path.parent
    if path.is_dir():
        return f"{path}: is a folder; give a file name"
    anc = parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if anc != parent:
        if anc.is_dir():
            return f"{path}: the folder {parent} does not exist"
        return f"{path}: {anc} is a file, not a folder"
    if not parent.is_dir():
        return f"{path}: {parent} is a file, not a folder"
    return None


def describe_write_error(path: Path, e: OSError) -> str:
    parent = path.parent
    if e.errno == errno.ENOSPC:
        return f"{path}: the disk is full; nothing was written"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: the folder {parent} is not writable ({e.strerror}); nothing was written"
    if e.errno == errno.ENOENT and parent.is_dir():
        return f"{path}: files cannot be created in {parent} (not a writable folder)"
    return target_problem(path) or f"{path}: cannot be written ({e.strerror or e})"


def write_text(path: Path, text: str) -> Path:
    """Atomic write with a diagnosis naming the real problem (not a folder / not writable /
    missing / disk full)."""
    path = Path(path)
    problem = target_problem(path)
    if problem:
        raise ReviewError(problem)
    try:
        atomic_write_text(path, text, error=ReviewError)
    except ReviewError as e:
        if isinstance(e.__cause__, OSError):
            raise ReviewError(describe_write_error(path, e.__cause__)) from e.__cause__
        raise
    return path


def export_csv(frame: pd.DataFrame, path: Path) -> Path:
    return write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def export_json(frame: pd.DataFrame, path: Path) -> Path:
    rows = json.loads(frame.to_json(orient="records", force_ascii=False))
    return write_text(path, json.dumps(rows, ensure_ascii=False, indent=1) + "\n")


def corrected_labels(labels: np.ndarray, codes: np.ndarray, finals: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(labels with every accept/relabel applied, sorted unusable indices). codes/finals:
    AnnotationStore.decision_codes()/final_labels()."""
    n = len(labels)
    if len(codes) > n and codes[n:].any():
        i = n + int(np.flatnonzero(codes[n:])[0])
        raise ReviewError(f"image {i} has a decision but the split has {n} images; the "
                          "annotations belong to other data")
    out = np.array(labels, dtype=np.uint8, copy=True)
    c, f = codes[:n], finals[:n]
    change = (f >= 0) & np.isin(c, (ACCEPT, RELABEL))
    out[np.flatnonzero(change)] = f[change]
    return out, np.flatnonzero(c == UNUSABLE).astype(np.int64)


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link `src` to `dst`, else copy it (fsynced); ReviewError names dst."""
    try:
        try:
            os.link(src, dst)
        except OSError:
            with open(src, "rb") as fi, open(dst, "wb") as fo:
                shutil.copyfileobj(fi, fo, 1 << 20)
                fo.flush()
                os.fsync(fo.fileno())
    except OSError as e:
        raise ReviewError(describe_write_error(dst, e)) from e


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _check_target(folder: Path, names: list[str]) -> None:
    """A new folder, an empty one, or an earlier export of these files (then replaced)."""
    if folder.exists():
        if not folder.is_dir():
            raise ReviewError(f"{folder}: is a file, not a folder")
        # The cache k49desk leaves in a folder it opened is rebuilt: not worth keeping.
        other = sorted(set(os.listdir(folder)) - set(names) - {CACHE_DIR_NAME})
        if other:
            raise ReviewError(f"{folder}: holds other files ({', '.join(other[:3])}); pick a "
                              "new or empty folder (an earlier export is replaced)")
        return
    anc = folder.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise ReviewError(f"{folder}: {anc} is a file, not a folder")


def _corrected_files(ds: K49Dataset, split: str) -> tuple[list[str], list[str]]:
    """(every file name of a corrected folder, those linked from the data folder)."""
    root = Path(ds.root)
    links = [images_file(split)]
    for other in SPLITS:
        if other != split and other in ds.splits:
            links += [images_file(other), labels_file(other)]
    links += [f for f in (CLASSMAP_FILE, DEMO_TRUTH_FILE) if (root / f).exists()]
    names = [labels_file(split), f"unusable-{split}.csv", *links, f"review-{split}.csv"]
    if not (root / CLASSMAP_FILE).exists():
        names.append(CLASSMAP_FILE)
    return names, links


def corrected_folder_problem(folder: str | os.PathLike[str], ds: K49Dataset,
                             split: str) -> str | None:
    """Why `write_corrected_folder` would refuse `folder` (None: new, empty, or an earlier
    export that it replaces), found before any work."""
    folder = Path(folder)
    if _same_folder(folder, Path(ds.root)):
        return (f"{folder}: this is the data folder itself; pick another folder so the "
                "original files stay untouched")
    try:
        _check_target(folder, _corrected_files(ds, split)[0])
    except ReviewError as e:
        return str(e)
    except OSError as e:
        return describe_write_error(folder, e)
    return None


def new_folder_name(parent: str | os.PathLike[str], base: str) -> Path:
    """`parent/base`, or `parent/base-2`, `-3`... : the first that does not exist yet."""
    parent = Path(parent)
    path, i = parent / base, 1
    while path.exists():
        i += 1
        path = parent / f"{base}-{i}"
    return path


def write_corrected_folder(folder: Path, ds: K49Dataset, split: str, new_labels: np.ndarray,
                           unusable: np.ndarray, table: pd.DataFrame,
                           classes: tuple[ClassInfo, ...]) -> list[Path]:
    """Write the corrected folder (staged, then moved into place); the files written."""
    folder, root = Path(folder), Path(ds.root)
    problem = corrected_folder_problem(folder, ds, split)
    if problem:
        raise ReviewError(problem)
    names, links = _corrected_files(ds, split)
    # Staged beside the target, then renamed into place: an earlier export of these names
    # is replaced whole; anything else that appeared meanwhile is never clobbered.
    with staged_folder(folder, ReviewError, replace=names) as stage:
        save_npz(stage / labels_file(split), new_labels.astype(np.uint8), error=ReviewError)
        given = ds.split(split).labels
        rows = ["index,given_label,given_char"] + [
            f"{i},{int(given[i])},{classes[int(given[i])].char}" for i in unusable]
        write_text(stage / f"unusable-{split}.csv", "\n".join(rows) + "\n")
        for name in links:
            link_or_copy(root / name, stage / name)
        if not (root / CLASSMAP_FILE).exists():
            from k49desk.core.dataset import write_classmap

            write_classmap(stage)
        export_csv(table, stage / f"review-{split}.csv")
    return [folder / n for n in names]
