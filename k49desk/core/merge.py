"""Merge K49-format folders into one, with each folder's annotation decisions applied.

For every split (train and test) the images of the sources are concatenated in the order the
folders are given, after applying each source's annotation store (`k49desk-annotations-
<split>.sqlite`, beside the data or in the user data folder):

- relabel / accept with a class -> that class is the label;
- unusable -> the image is left out;
- prelabel (an import nobody confirmed yet) -> kept with its label and counted; in the
  output's store it is still a pre-label (same confidence), so the app asks about it again
  (or left out with drop_unconfirmed);
- keep, unsure, no decision -> kept as labelled.

A source without a store is taken as it is; no store is created in a source folder. All
sources must have the same class map. The output must be a new or empty folder; it is built in
a staging folder and renamed into place (nothing is left behind on failure or cancel). Beside
the arrays, `provenance.csv` (split,index,source,source_split,source_index,given_label,label,
decision) says where every merged image came from. Demo sources carry their demo-truth rows
(remapped; still wrong labels only), so a merge with demo data is still shown as demo data.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from k49desk.core.annotations import DECISION_CODES, AnnotationStore
from k49desk.core.atomic import atomic_write_text
from k49desk.core.classes import ClassInfo
from k49desk.core.dataset import (
    CLASSMAP_FILE,
    DEMO_TRUTH_FILE,
    SPLITS,
    check_images,
    images_file,
    open_dataset,
    read_npz_array,
    write_split,
)
from k49desk.core.errors import DataError
from k49desk.core.progress import Progress, ShouldStop, check_stop, report
from k49desk.core.samples import MAX_FOLDER_IMAGES, classmap_csv, same_classes
from k49desk.core.staging import check_target, folder_entries, staged_folder

PROVENANCE_FILE = "provenance.csv"
PROVENANCE_COLUMNS = ("split", "index", "source", "source_split", "source_index",
                      "given_label", "label", "decision")
_RELABEL = (DECISION_CODES["relabel"], DECISION_CODES["accept"])
_UNUSABLE = DECISION_CODES["unusable"]
_PRELABEL = DECISION_CODES["prelabel"]
_UNSURE = DECISION_CODES["unsure"]


@dataclass
class SourceCounts:
    """What one split of one source contributed."""

    source: str
    split: str
    images: int  # in the source
    merged: int  # in the output
    relabelled: int  # label changed by a relabel/accept decision
    dropped_unusable: int
    unconfirmed: int  # pre-labels nobody confirmed (kept, or dropped with drop_unconfirmed)
    unsure: int
    annotated: bool  # the source had an annotation store for this split


@dataclass
class MergeResult:
    folder: Path
    counts: list[SourceCounts] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)  # images per output split
    drop_unconfirmed: bool = False
    is_demo: bool = False

    @property
    def unconfirmed(self) -> int:
        return sum(c.unconfirmed for c in self.counts)

    def summary(self) -> dict:
        return {"out": str(self.folder), "splits": self.totals, "demo": self.is_demo,
                "unconfirmed": self.unconfirmed, "drop_unconfirmed": self.drop_unconfirmed,
                "sources": [asdict(c) for c in self.counts]}


@dataclass
class _Source:
    """A source folder, validated; only its labels are kept in memory (images are read again
    one split at a time while writing, so a merge of full K49 needs ~2 copies of a split, not
    every split of every source at once)."""

    root: Path
    classes: tuple[ClassInfo, ...]
    is_demo: bool
    labels: dict[str, np.ndarray]

    def read_images(self, split: str) -> np.ndarray:
        path = self.root / images_file(split)
        arr = read_npz_array(path)
        check_images(path.name, arr)
        if len(arr) != len(self.labels[split]):  # changed since it was opened
            raise DataError(f"{path}: changed during the merge ({len(arr)} images, was "
                            f"{len(self.labels[split])}); nothing was written")
        return arr


@dataclass
class _Part:
    """One split of one source after its decisions: the rows that go into the output."""

    src: int
    rows: np.ndarray  # source indices kept, in order
    given: np.ndarray
    label: np.ndarray
    codes: np.ndarray
    prelabel_conf: np.ndarray  # per kept row; NaN where not an unconfirmed pre-label


def _store_exists(root: Path, split: str) -> bool:
    from k49desk.core.review_legacy import legacy_filename
    from k49desk.core.review_store import db_filename, fallback_dir

    names = (db_filename(split), legacy_filename(split))
    return any((d / n).exists() for d in (root, fallback_dir(root)) for n in names)


def _decisions(ds: _Source, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(codes, final labels, pre-label confidence) per image; None without a store."""
    if not _store_exists(ds.root, split):
        return None
    labels = ds.labels[split]
    n = len(labels)
    with AnnotationStore.open(ds.root, split, labels=labels) as store:
        codes = np.array(store.decision_codes()[:n], np.int8)
        finals = np.array(store.final_labels()[:n], np.int16)
        conf = np.full(n, np.nan)
        imgs, c = store.prelabels()
        conf[imgs[imgs < n]] = c[imgs < n]
    return codes, finals, conf


def _check_out(out: Path, sources: list[Path]) -> None:
    check_target(out, DataError)
    for s in sources:
        if out.resolve() == s.resolve():
            raise DataError(f"{out}: is one of the folders to merge; pick a new folder")
    if folder_entries(out):
        names = ", ".join(folder_entries(out)[:3])
        raise DataError(f"{out}: not empty ({names}); pick a new or empty folder")


def merge_folders(sources: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                  drop_unconfirmed: bool = False, progress: Progress | None = None,
                  should_stop: ShouldStop | None = None) -> MergeResult:
    """Merge `sources` (K49-format folders, in this order) into the new folder `out` (see the
    module docstring). DataError: a source is unreadable, the class maps differ, `out` is
    not new/empty, or a split would pass MAX_FOLDER_IMAGES; ReviewError (SessionTooNew,
    SessionCorrupt) when a source's annotation store cannot be used; Cancelled on stop."""
    srcs = [Path(s) for s in sources]
    out = Path(out)
    if not srcs:
        raise DataError("merge: no folders given")
    if len({s.resolve() for s in srcs}) < len(srcs):
        raise DataError("merge: the same folder is given twice")
    _check_out(out, srcs)
    res = MergeResult(out, drop_unconfirmed=drop_unconfirmed)
    datasets: list[_Source] = []
    for i, s in enumerate(srcs):
        report(progress, 0.3 * i / len(srcs), f"Opening {s.name}")
        ds = open_dataset(s, use_cache=False)  # leave the sources as they are (no cache)
        if datasets and not same_classes(ds.classes, datasets[0].classes):
            raise DataError(f"{s}: its class map ({CLASSMAP_FILE}) differs from the one of "
                            f"{srcs[0]}; folders with different classes cannot be merged")
        datasets.append(_Source(s, ds.classes, ds.is_demo, {
            name: np.array(sp.labels) for name, sp in ds.splits.items()}))
        del ds
        check_stop(should_stop)
    parts: dict[str, list[_Part]] = {}
    for split in SPLITS:
        for i, ds in enumerate(datasets):
            if split in ds.labels:
                report(progress, 0.3, f"Applying the decisions of {srcs[i].name} ({split})")
                parts.setdefault(split, []).append(
                    _apply(i, ds, split, drop_unconfirmed, res))
                check_stop(should_stop)
        total = sum(len(p.rows) for p in parts.get(split, []))
        if total > MAX_FOLDER_IMAGES:
            raise DataError(f"{out}: the merged {split} split would hold {total:,d} images, "
                            f"more than the limit of {MAX_FOLDER_IMAGES:,d}")
    res.is_demo = any(ds.is_demo for ds in datasets)
    _write(out, srcs, datasets, parts, res, progress, should_stop)
    report(progress, 1.0, f"Merged into {out.name}")
    return res


def _apply(i: int, ds: _Source, split: str, drop_unconfirmed: bool,
           res: MergeResult) -> _Part:
    labels = ds.labels[split]
    n = len(labels)
    dec = _decisions(ds, split)
    if dec is None:
        codes, finals, conf = np.zeros(n, np.int8), np.full(n, -1, np.int16), np.full(n, np.nan)
    else:
        codes, finals, conf = dec
    keep = codes != _UNUSABLE
    if drop_unconfirmed:
        keep &= codes != _PRELABEL
    new = labels.astype(np.int64)
    change = np.isin(codes, _RELABEL) & (finals >= 0)
    new[change] = finals[change]
    rows = np.flatnonzero(keep)
    res.counts.append(SourceCounts(
        source=str(ds.root), split=split, images=n, merged=len(rows),
        relabelled=int((change & (new != labels)).sum()),
        dropped_unusable=int((codes == _UNUSABLE).sum()),
        unconfirmed=int((codes == _PRELABEL).sum()), unsure=int((codes == _UNSURE).sum()),
        annotated=dec is not None))
    pconf = np.where(codes == _PRELABEL, conf, np.nan)
    return _Part(i, rows, labels[rows].astype(np.int64), new[rows], codes[rows], pconf[rows])


def _write(out: Path, srcs: list[Path], datasets: list[_Source],
           parts: dict[str, list[_Part]], res: MergeResult, progress: Progress | None,
           should_stop: ShouldStop | None) -> None:
    first = datasets[0]
    with staged_folder(out, DataError) as stage:
        cm = first.root / CLASSMAP_FILE
        text = cm.read_text(encoding="utf-8") if cm.is_file() else classmap_csv(first.classes)
        atomic_write_text(stage / CLASSMAP_FILE, text, error=DataError)
        prov = io.StringIO()
        w = csv.writer(prov, lineterminator="\n")
        w.writerow(PROVENANCE_COLUMNS)
        truth: list[tuple] = []
        for k, (split, plist) in enumerate(parts.items()):
            report(progress, 0.4 + 0.5 * k / len(parts), f"Writing the {split} split")
            images = _gather(datasets, split, plist, should_stop)
            labels = np.concatenate([p.label for p in plist]).astype(np.uint8)
            write_split(stage, split, images, labels)
            del images
            check_stop(should_stop)
            start = 0
            for p in plist:
                src = str(srcs[p.src].resolve())
                names = _decision_names(p.codes)
                w.writerows(zip([split] * len(p.rows), range(start, start + len(p.rows)),
                                [src] * len(p.rows), [split] * len(p.rows), p.rows.tolist(),
                                p.given.tolist(), p.label.tolist(), names, strict=True))
                if datasets[p.src].is_demo:
                    truth += _remap_truth(datasets[p.src].root, split, p, start)
                start += len(p.rows)
            res.totals[split] = start
            _carry_prelabels(stage, split, plist, labels)
        atomic_write_text(stage / PROVENANCE_FILE, prov.getvalue(), error=DataError)
        if res.is_demo:
            buf = io.StringIO()
            tw = csv.writer(buf, lineterminator="\n")
            tw.writerow(["split", "index", "given_label", "true_label"])
            tw.writerows(truth)
            atomic_write_text(stage / DEMO_TRUTH_FILE, buf.getvalue(), error=DataError)


def _gather(datasets: list[_Source], split: str, plist: list[_Part],
            should_stop: ShouldStop | None) -> np.ndarray:
    """The merged images of `split`, read one source at a time into one array."""
    out = np.empty((sum(len(p.rows) for p in plist), 28, 28), np.uint8)
    start = 0
    for p in plist:
        check_stop(should_stop)
        src = datasets[p.src].read_images(split)
        # mode="clip": the rows are valid, and the default mode="raise" buffers a whole copy
        np.take(src, p.rows, axis=0, out=out[start:start + len(p.rows)], mode="clip")
        start += len(p.rows)
        del src
    return out


def _decision_names(codes: np.ndarray) -> list[str]:
    from k49desk.core.annotations import DECISION_NAMES

    return np.asarray(DECISION_NAMES, dtype=object)[codes.astype(np.int64)].tolist()


def _carry_prelabels(stage: Path, split: str, plist: list[_Part], labels: np.ndarray) -> None:
    """Unconfirmed pre-labels stay unconfirmed in the output (same confidence)."""
    conf = np.concatenate([p.prelabel_conf for p in plist])
    is_pre = np.concatenate([p.codes == _PRELABEL for p in plist])
    if not is_pre.any():
        return
    with AnnotationStore.open(stage, split, labels=labels) as store:
        store.prelabel(np.flatnonzero(is_pre), conf[is_pre])


def _remap_truth(root: Path, split: str, part: _Part, start: int) -> list[tuple]:
    """The demo-truth rows of one source split, at their merged indices; an image whose merged
    label is now its true label (a relabel fixed it) is no longer listed."""
    where = {int(r): start + j for j, r in enumerate(part.rows)}
    out = []
    try:
        text = (root / DEMO_TRUTH_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{root / DEMO_TRUTH_FILE}: cannot be read ({e})") from e
    for row in csv.DictReader(io.StringIO(text)):
        try:
            if row.get("split") != split or int(row["index"]) not in where:
                continue
            j, true = where[int(row["index"])], int(row["true_label"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{root / DEMO_TRUTH_FILE}: damaged row {row}") from None
        label = int(part.label[j - start])
        if label != true:
            out.append((split, j, label, true))
    return out
