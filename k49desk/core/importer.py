"""Import image files (PNG/JPEG of any size and polarity) as a K49-format folder to label.

Each file goes through `inference.load_image_file` and `inference.preprocess`, exactly as
`k49desk predict` and the drawing pad do, then the model's top-1 class becomes its label and
the folder's annotation store marks it 'prelabel' (unconfirmed, with the model's confidence),
so the app lists them least confident first (`AnnotationStore.prelabels()`) for a person to
confirm or correct. With a fixed label instead of a model, every image gets that label,
recorded as the person's own ('keep', source 'manual').

The output is a growing folder (see `core.samples`): k49-train-imgs.npz, k49-train-labels.npz,
k49_classmap.csv, sources.csv (index,file,source,added) and k49desk-annotations-train.sqlite.
A new folder is staged and renamed into place. Importing into an earlier import APPENDS the
new files (indices continue; confirmations already made stay), and skips files it already
lists (same absolute path), so re-running an import over a folder of photos adds only the new
ones. Any other non-empty folder is refused.

A file that cannot be read is reported by name and the rest are imported. Images with too
little ink to be a character (`ink_check`) are imported anyway, reported, and tagged
LITTLE_INK_TAG in the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from k49desk.core import inference
from k49desk.core.classes import OFFICIAL_CLASSES, ClassInfo, load_classmap
from k49desk.core.dataset import CLASSMAP_FILE
from k49desk.core.errors import DataError
from k49desk.core.progress import Progress, ShouldStop, check_stop, report, scaled
from k49desk.core.samples import (
    MAX_APPEND,
    TRAIN,
    append_train,
    foreign_files,
    is_growing_folder,
    now_iso,
    read_sources,
    same_classes,
)
from k49desk.core.staging import check_target, folder_entries

if TYPE_CHECKING:  # torch is only needed when a model is given
    from k49desk.core.model import LoadedModel

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MAX_IMPORT_FILES = MAX_APPEND
LITTLE_INK_TAG = "too little ink"
SOURCE = "import"
_BATCH = 256


@dataclass
class ImportResult:
    """What `import_images` did. Imported image i of `files` is train index first_index + i."""

    folder: Path
    files: list[str] = field(default_factory=list)
    first_index: int = 0
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    confidences: np.ndarray | None = None  # model's top-1 probability; None with a fixed label
    n_total: int = 0  # train images in the folder afterwards
    created: bool = False
    written: bool = False  # False when no file could be imported (nothing was written)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, message)
    little_ink: list[str] = field(default_factory=list)
    already_imported: list[str] = field(default_factory=list)
    duplicates: int = 0  # files named twice (directly and through a folder, ...)
    model: str = ""
    label: int | None = None
    repaired: str = ""
    classes: tuple[ClassInfo, ...] = OFFICIAL_CLASSES

    @property
    def n_imported(self) -> int:
        return len(self.files)

    def summary(self, least: int = 10) -> dict:
        """JSON-ready summary (the CLI's --json output)."""
        cls = self.classes
        counts = np.bincount(self.labels, minlength=len(cls))
        out: dict = {
            "out": str(self.folder), "written": self.written, "created": self.created,
            "imported": self.n_imported, "first_index": self.first_index,
            "total": self.n_total, "split": TRAIN, "model": self.model or None,
            "label": None if self.label is None else {
                "index": self.label, "char": cls[self.label].char},
            "per_class": {cls[i].char: int(c) for i, c in enumerate(counts) if c},
            "failed": [{"file": f, "error": m} for f, m in self.failed],
            "too_little_ink": self.little_ink,
            "already_imported": len(self.already_imported), "duplicates": self.duplicates,
            "repaired": self.repaired or None,
        }
        if self.confidences is not None:
            order = np.argsort(self.confidences, kind="stable")[:least]
            out["least_confident"] = [{
                "index": self.first_index + int(i), "file": self.files[i],
                "label": int(self.labels[i]), "char": cls[int(self.labels[i])].char,
                "confidence": round(float(self.confidences[i]), 6)} for i in order]
        return out


def ink_check() -> Callable[[np.ndarray], bool]:
    """The "too little ink" test for `preprocess` output (framed images). Photos have
    arbitrary margins, so judging them unframed (`ink.paper28`) would flag a small character
    on a big page: framed is the right input."""
    from k49desk.core.ink import too_little_ink_framed

    return too_little_ink_framed


def display_path(p: Path) -> str:
    """A path as text that always encodes to UTF-8 (undecodable bytes shown as \\xNN)."""
    return os.fsencode(p).decode("utf-8", "backslashreplace")


def find_image_files(paths: Sequence[str | os.PathLike[str]], *, recursive: bool = False,
                     limit: int = MAX_IMPORT_FILES
                     ) -> tuple[list[Path], list[tuple[str, str]], int]:
    """Files to import: each named file as is (the loader says if it is no image), and the
    image files (IMAGE_SUFFIXES, not hidden) of each named folder sorted by name, with
    subfolders when `recursive`. Returns (files, problems [(path, message)], duplicates
    dropped). DataError when there are more than `limit` files (before reading any)."""
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen: set[Path] = set()
    dups = 0

    def add(p: Path) -> None:
        nonlocal dups
        key = p.resolve()
        if key in seen:
            dups += 1
            return
        seen.add(key)
        files.append(p)
        if len(files) > limit:
            raise DataError(f"more than {limit:,d} image files to import (at {display_path(p)}"
                            "); import them in parts")

    for arg in paths:
        p = Path(arg)
        if p.is_dir():
            found = _scan(p, recursive)
            if not found:
                problems.append((display_path(p), "no image files here ("
                                 + ", ".join(s[1:].upper() for s in IMAGE_SUFFIXES[:3])
                                 + ", ...)" + ("" if recursive else "; subfolders are not "
                                               "searched without --recursive")))
            for f in found:
                add(f)
        elif p.exists():
            add(p)
        else:
            problems.append((display_path(p), "file not found"))
    return files, problems, dups


def _scan(folder: Path, recursive: bool) -> list[Path]:
    out: list[Path] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return out
    for e in entries:
        if e.name.startswith("."):
            continue
        p = Path(e.path)
        if e.is_dir():
            if recursive:
                out += _scan(p, True)
        elif Path(e.name).suffix.lower() in IMAGE_SUFFIXES and e.is_file():
            out.append(p)
        if len(out) > MAX_IMPORT_FILES:  # enough to refuse; stop listing a huge tree
            break
    return out


def _target_classes(out: Path, model: LoadedModel | None) -> tuple[tuple[ClassInfo, ...], bool]:
    """The classes of the output, and whether `out` is an earlier import to append to.
    DataError when `out` is neither new, empty nor an earlier import."""
    check_target(out, DataError)
    if not folder_entries(out):
        return (tuple(model.classes) if model else OFFICIAL_CLASSES), False
    if not is_growing_folder(out) or foreign_files(out):
        names = ", ".join((foreign_files(out) or folder_entries(out))[:3])
        raise DataError(f"{out}: holds other files ({names}); pick a new or empty folder, or "
                        "an earlier import to add to")
    cm = out / CLASSMAP_FILE
    have = load_classmap(cm) if cm.exists() else OFFICIAL_CLASSES
    if model is not None and not same_classes(have, model.classes):  # before any work
        raise DataError(f"{cm}: the classes of this earlier import differ from the model's; "
                        "import into a new folder")
    return have, True


def import_images(paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                  model: LoadedModel | None = None, label: int | None = None,
                  invert: bool | None = None, recursive: bool = False,
                  progress: Progress | None = None, should_stop: ShouldStop | None = None
                  ) -> ImportResult:
    """Import image files and folders into the K49-format folder `out` (module docstring).

    Exactly one of `model` (top-1 pre-labels, marked unconfirmed) or `label` (a class index,
    recorded as the person's). `invert` as in `preprocess` (None: detect the polarity).
    Unreadable files are listed in `.failed`; when none can be read, nothing is written
    (`.written` False). Raises DataError for an unusable `out`, Cancelled on should_stop
    (nothing written). Reading images is most of the time: a few ms per photo.
    """
    if (model is None) == (label is None):
        raise ValueError("give a model (pre-labels) or a label, not both or neither")
    out = Path(out)
    classes, _ = _target_classes(out, model)
    if label is not None and not 0 <= int(label) < len(classes):
        raise ValueError(f"label {label} is not a class 0..{len(classes) - 1}")
    res = ImportResult(out, model=display_path(model.path) if model and model.path else "",
                       label=None if label is None else int(label), classes=classes)
    report(progress, 0.0, "Listing files")
    files, res.failed, res.duplicates = find_image_files(paths, recursive=recursive)
    known = {f for f, _, _ in read_sources(out)} if is_growing_folder(out) else set()
    todo: list[tuple[Path, str]] = []
    for f in files:
        name = display_path(f.resolve())
        (res.already_imported.append(name) if name in known else todo.append((f, name)))
    imgs, names = _read_all(todo, invert, res.failed, scaled(progress, 0.0, 0.8), should_stop)
    check = ink_check()
    little = np.array([bool(check(im)) for im in imgs], dtype=bool)
    res.little_ink = [n for n, bad in zip(names, little, strict=True) if bad]
    if not names:
        res.n_total = len(known)
        report(progress, 1.0, "Nothing to import")
        return res
    if model is not None:
        proba = _predict(model, imgs, scaled(progress, 0.8, 0.95), should_stop)
        labels = proba.argmax(axis=1).astype(np.uint8)
        res.confidences = proba.max(axis=1).astype(np.float64)
    else:
        labels = np.full(len(imgs), int(label or 0), np.uint8)
    check_stop(should_stop)
    report(progress, 0.95, f"Writing {out.name}")
    added = now_iso()
    rows = [(n, SOURCE, added) for n in names]
    done = append_train(out, imgs, labels, rows, classes=classes,
                        on_written=_annotate(res.confidences, little))
    res.files, res.labels, res.first_index = names, labels, done.first_index
    res.n_total, res.created, res.repaired, res.written = (done.n_total, done.created,
                                                           done.repaired, True)
    report(progress, 1.0, f"Imported {len(names):,d} images")
    return res


def _read_all(todo: list[tuple[Path, str]], invert: bool | None,
              failed: list[tuple[str, str]], progress: Progress | None,
              should_stop: ShouldStop | None) -> tuple[np.ndarray, list[str]]:
    imgs: list[np.ndarray] = []
    names: list[str] = []
    for i, (f, name) in enumerate(todo):
        if i % 8 == 0:
            check_stop(should_stop)
            report(progress, i / max(len(todo), 1), f"Reading images: {i:,d}/{len(todo):,d}")
        try:
            imgs.append(inference.preprocess(inference.load_image_file(f), invert=invert))
        except (DataError, ValueError) as e:  # ValueError: an array preprocess cannot use
            msg = str(e)  # the loader names the file; the report names it once, in full
            failed.append((display_path(f), msg.removeprefix(f"{f.name}: ")))
            continue
        names.append(name)
    stack = np.stack(imgs) if imgs else np.zeros((0, 28, 28), np.uint8)
    return stack, names


def _predict(model: LoadedModel, imgs: np.ndarray, progress: Progress | None,
             should_stop: ShouldStop | None) -> np.ndarray:
    out = np.empty((len(imgs), len(model.classes) or model.config.n_classes), np.float32)
    for s in range(0, len(imgs), _BATCH):
        check_stop(should_stop)
        report(progress, s / len(imgs), f"Pre-labelling: {s:,d}/{len(imgs):,d}")
        out[s:s + _BATCH] = model.predict_proba(imgs[s:s + _BATCH])
    return out


def _annotate(confidences: np.ndarray | None, little: np.ndarray
              ) -> Callable[[Path, int, np.ndarray], None]:
    """Record the new images in the folder's annotation store (one transaction)."""
    def write(where: Path, first: int, all_labels: np.ndarray) -> None:
        from k49desk.core.annotations import AnnotationStore

        idx = np.arange(first, first + len(little), dtype=np.int64)
        store = AnnotationStore.open(where, TRAIN, labels=all_labels)
        try:
            with store.batch("the import"):
                if confidences is not None:
                    store.prelabel(idx, confidences)
                else:
                    store.keep(idx, source="manual", undoable=False)
                if little.any():
                    store.add_tag(idx[little], LITTLE_INK_TAG, undoable=False)
        finally:
            store.close()
    return write
