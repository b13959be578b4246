"""Writing to the annotation store: decisions, notes, tags, undo and redo.

Mixed into AnnotationStore, which provides the connection, the transaction (_tx: memory is
changed by callbacks in _after, only once the commit succeeded) and the arrays.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np

from k49desk.core.annotations import changes
from k49desk.core.annotations.records import (
    DECISION_CODES,
    LABEL_DECISIONS,
    MAX_NOTE_CHARS,
    MAX_TAG_CHARS,
    SOURCES,
    Step,
    now_iso,
)
from k49desk.core.classes import OFFICIAL_CLASSES


class StoreEdits:
    """The writing half of AnnotationStore (see store.py for the attributes it relies on)."""

    labels: np.ndarray | None
    n_classes: int
    version: int
    path: Path
    _codes: np.ndarray
    _finals: np.ndarray
    _after: list[Callable[[], None]]
    _undo: list[tuple[int, str]]
    _redo: list[tuple[int, str]]
    _tag_masks: dict[str, np.ndarray]
    _tag_counts: dict[str, int] | None
    _json: bool  # SQLite has json_each (bulk rows go in as one JSON text)

    def _tx(self, doing: str, durable: bool = True
            ) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # pragma: no cover - AnnotationStore._tx

    def _grow(self, size: int) -> None:
        raise NotImplementedError  # pragma: no cover - AnnotationStore._grow

    # ---- writing -----------------------------------------------------------------------
    def _images(self, images: object, *per_image: object) -> tuple[np.ndarray, list]:
        """Sorted unique image indices (from indices or a bool mask over the images), and each
        per-image argument aligned with them (a scalar or None stays as it is)."""
        a = np.asarray(images)
        if a.ndim == 0:
            a = a.reshape(1)
        if a.dtype == bool:
            a = np.flatnonzero(a)
        if a.ndim != 1 or (len(a) and a.dtype.kind not in "iu"):
            raise ValueError(f"images must be a list of image indices, got {a.dtype} {a.shape}")
        imgs, first = np.unique(a.astype(np.int64), return_index=True)
        limit = len(self.labels) if self.labels is not None else None
        if len(imgs) and (imgs[0] < 0 or (limit is not None and imgs[-1] >= limit)):
            bad = int(imgs[0] if imgs[0] < 0 else imgs[-1])
            raise IndexError(f"image {bad} is outside 0..{(limit or 1) - 1}")
        out = []
        for v in per_image:
            if v is None or np.ndim(v) == 0:
                out.append(v)
                continue
            v = np.asarray(v)
            if len(v) != len(a):
                raise ValueError(f"{len(v)} values for {len(a)} images")
            out.append(v[first])
        return imgs, out

    def _given(self, imgs: np.ndarray, given: object) -> list:
        if given is not None:
            return np.broadcast_to(np.asarray(given, np.int64), imgs.shape).tolist()
        if self.labels is not None:
            return self.labels[imgs].astype(np.int64).tolist()
        return [None] * len(imgs)

    def _what(self, imgs: np.ndarray) -> str:
        return f"#{int(imgs[0])}" if len(imgs) == 1 else f"{len(imgs):,} images"

    def _pushed(self, step: int, label: str, undoable: bool) -> None:
        if undoable:
            self._undo.append((step, label))
            self._redo.clear()

    def set_decisions(self, images: object, decision: str | None, final_labels: object = None,
                      *, source: str = "manual", confidence: object = None,
                      given_labels: object = None, decided_at: str | None = None,
                      undoable: bool = True, label: str | None = None,
                      meta: dict[str, str] | None = None) -> Step:
        """Set (decision None: clear) the decision of `images` in one transaction and one
        undoable step. accept/relabel need final_labels (one class, or one per image);
        `meta` is saved in the same transaction (the review position)."""
        if decision is not None and decision not in DECISION_CODES:
            raise ValueError(f"unknown decision {decision!r} "
                             f"(one of {', '.join(DECISION_CODES)})")
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r} (one of {', '.join(SOURCES)})")
        imgs, (finals, conf, given) = self._images(images, final_labels, confidence,
                                                   given_labels)
        n = self.n_classes
        if decision in LABEL_DECISIONS:
            f = np.broadcast_to(np.asarray(-1 if finals is None else finals), imgs.shape)
            if f.dtype.kind not in "iu" or (len(f) and (f.min() < 0 or f.max() >= n)):
                raise ValueError(f"{decision} needs a class 0..{n - 1}, got {final_labels!r}")
            flist = f.astype(np.int64).tolist()
        elif finals is not None:
            raise ValueError(f"{decision or 'clearing'} takes no final label")
        else:
            flist = [None] * len(imgs)
        clist = (np.broadcast_to(np.asarray(conf, np.float64), imgs.shape).tolist()
                 if conf is not None else [None] * len(imgs))
        glist = self._given(imgs, given)
        packed = None
        if (len(imgs) > 50 and conf is None and not decided_at and self.n_classes < 255
                and self._json):
            f = np.array([-1 if v is None else v for v in flist], np.int64) + 1
            g = np.array([-1 if v is None else v for v in glist], np.int64) + 1
            packed = json.dumps(((imgs << 16) | (f << 8) | g).tolist())
        uniform = None
        if packed is not None and (np.ndim(final_labels) == 0 or len(set(flist)) == 1):
            uniform = (decision, flist[0] if flist else None)
        rows = list(zip(imgs.tolist(), flist, clist, glist, strict=True))
        if decided_at:  # a time of its own (the Review's key press), kept by undo and redo
            rows = [(*r, decision, decided_at) for r in rows]
        if label is None:
            label = f"{decision or 'clear the decision of'} {self._what(imgs)}"
            if decision in LABEL_DECISIONS and np.ndim(final_labels) == 0 and rows:
                label += f" as {class_name(int(flist[0]))}"
        code = DECISION_CODES.get(decision or "", 0)
        farr = np.array([-1 if v is None else v for v in flist], np.int16)
        with self._tx(f"the change ({label})") as c:
            step = changes.new_step(c, label, source, now_iso())
            changes.write_decisions(c, step, rows, decision, decided_at=bool(decided_at),
                                    packed=packed, uniform=uniform)
            changes.end_step(c, step)
            if meta:
                c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                              [(k, str(v)) for k, v in meta.items()])

            def done() -> None:
                self._grow(int(imgs[-1]) + 1 if len(imgs) else 0)
                self._codes[imgs] = code
                self._finals[imgs] = farr
                self.version += 1
                self._pushed(step, label, undoable)

            self._after.append(done)
        return Step(step, label, imgs)

    def import_rows(self, rows: list[tuple], label: str, *, source: str = "import") -> Step:
        """Write decisions as they are (rows: image, decision, final_label, confidence,
        given_label, decided_at), e.g. from an older file; one step, not undoable."""
        imgs = np.array([r[0] for r in rows], np.int64)
        if len(imgs) != len(np.unique(imgs)) or (len(imgs) and imgs.min() < 0):
            raise ValueError("import rows must name distinct images >= 0")
        bad = [r for r in rows if r[1] not in DECISION_CODES or
               (r[1] in LABEL_DECISIONS) != (r[2] is not None)]
        if bad:
            raise ValueError(f"bad decision row {bad[0]!r}")
        codes = np.array([DECISION_CODES[r[1]] for r in rows], np.int8)
        finals = np.array([-1 if r[2] is None else r[2] for r in rows], np.int16)
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r} (one of {', '.join(SOURCES)})")
        with self._tx(f"the {label}") as c:
            step = changes.new_step(c, label, source, now_iso())
            changes.write_decisions(c, step, [(r[0], r[2], r[3], r[4], r[1], r[5] or None)
                                              for r in rows], decided_at=True)
            changes.end_step(c, step)

            def done() -> None:
                self._grow(int(imgs.max()) + 1 if len(imgs) else 0)
                self._codes[imgs] = codes
                self._finals[imgs] = finals
                self.version += 1

            self._after.append(done)
        return Step(step, label, np.sort(imgs))

    def is_blank(self) -> bool:
        """Nothing recorded yet: no flags, no annotation, no tag."""
        return not self._c().execute(
            "SELECT EXISTS(SELECT 1 FROM flags) OR EXISTS(SELECT 1 FROM annotations)"
            " OR EXISTS(SELECT 1 FROM tags)").fetchone()[0]

    def relabel(self, images: object, label: int, *, source: str = "manual",
                undoable: bool = True) -> Step:
        """Give `images` the class `label` (one step, however many images)."""
        return self.set_decisions(images, "relabel", int(label), source=source,
                                  undoable=undoable)

    def mark_unusable(self, images: object, *, source: str = "manual",
                      undoable: bool = True) -> Step:
        return self.set_decisions(images, "unusable", source=source, undoable=undoable)

    def keep(self, images: object, *, source: str = "manual", undoable: bool = True) -> Step:
        """Confirm the given label (also: confirm a pre-label)."""
        return self.set_decisions(images, "keep", source=source, undoable=undoable)

    def clear_decision(self, images: object, *, source: str = "manual",
                       undoable: bool = True) -> Step:
        """Remove the decision (notes and tags stay)."""
        return self.set_decisions(images, None, source=source, undoable=undoable)

    def prelabel(self, images: object, confidences: object, *, undoable: bool = False) -> Step:
        """Mark `images` as imported with the model's top-1 as label, not yet confirmed by a
        person (decision 'prelabel', source 'import'); see prelabels()."""
        return self.set_decisions(images, "prelabel", source="import", confidence=confidences,
                                  undoable=undoable)

    def set_note(self, images: object, text: str, *, undoable: bool = True) -> Step:
        """Set the free-text note of `images` ("" removes it)."""
        if not isinstance(text, str) or len(text) > MAX_NOTE_CHARS:
            raise ValueError(f"a note is text of at most {MAX_NOTE_CHARS} characters")
        imgs, _ = self._images(images)
        label = f"note on {self._what(imgs)}"
        rows = list(zip(imgs.tolist(), [text] * len(imgs), self._given(imgs, None),
                        strict=True))
        with self._tx(f"the change ({label})") as c:
            step = changes.new_step(c, label, "manual", now_iso())
            changes.write_notes(c, step, rows)
            changes.end_step(c, step)
            self._after.append(lambda: self._pushed(step, label, undoable))
        return Step(step, label, imgs)

    def add_tag(self, images: object, tag: str, *, undoable: bool = True) -> Step:
        return self._tag(images, tag, True, undoable)

    def remove_tag(self, images: object, tag: str, *, undoable: bool = True) -> Step:
        return self._tag(images, tag, False, undoable)

    def _tag(self, images: object, tag: str, add: bool, undoable: bool) -> Step:
        tag = check_tag(tag)
        imgs, _ = self._images(images)
        label = f"{'tag' if add else 'untag'} {self._what(imgs)} {tag!r}"
        rows = list(zip(imgs.tolist(), self._given(imgs, None), strict=True))
        with self._tx(f"the change ({label})") as c:
            step = changes.new_step(c, label, "manual", now_iso())
            changes.write_tags(c, step, rows, tag, add)
            changes.end_step(c, step)

            def done() -> None:
                self._grow(int(imgs[-1]) + 1 if len(imgs) else 0)
                self._tags_changed({tag})
                self._pushed(step, label, undoable)

            self._after.append(done)
        return Step(step, label, imgs)

    def _tags_changed(self, tags: set[str]) -> None:
        for t in tags:
            self._tag_masks.pop(t, None)
        self._tag_counts = None
        self.version += 1

    # ---- undo / redo -------------------------------------------------------------------
    def can_undo(self) -> bool:
        return bool(self._undo)

    def last_undoable(self) -> int | None:
        """The id of the step `undo()` would revert (None: nothing to undo)."""
        return self._undo[-1][0] if self._undo else None

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo_label(self) -> str | None:
        """The label of the step undo() would revert (for "Undo <label>"), None if none."""
        return self._undo[-1][1] if self._undo else None

    def redo_label(self) -> str | None:
        return self._redo[-1][1] if self._redo else None

    def undo(self) -> Step | None:
        """Revert the last undoable step of this store (one transaction); None if none.
        The returned Step carries the original label and the images it restored."""
        if not self._undo:
            return None
        old, label = self._undo[-1]
        st = self._revert(old, f"undo: {label}")
        self._undo.pop()
        self._redo.append((st.id, label))
        return Step(st.id, label, st.images, old)

    def redo(self) -> Step | None:
        if not self._redo:
            return None
        old, label = self._redo[-1]
        st = self._revert(old, f"redo: {label}")
        self._redo.pop()
        self._undo.append((st.id, label))
        return Step(st.id, label, st.images, old)

    def _revert(self, old: int, label: str) -> Step:
        with self._tx(f"the {label}") as c:
            row = c.execute("SELECT source FROM steps WHERE id = ?", (old,)).fetchone()
            new = changes.new_step(c, label, row[0] if row else "manual", now_iso(), old)
            decided, tags = changes.revert(c, old, new)
            changes.end_step(c, new)
            imgs = np.fromiter((r[0] for r in c.execute(
                "SELECT DISTINCT image FROM history WHERE id BETWEEN ? AND ? ORDER BY image",
                changes.step_rows(c, new))), np.int64)
            arr = np.array(decided, np.int64).reshape(-1, 3)

            def done() -> None:
                self._grow(int(imgs[-1]) + 1 if len(imgs) else 0)
                self._codes[arr[:, 0]] = arr[:, 1]
                self._finals[arr[:, 0]] = arr[:, 2]
                self._tags_changed(tags)

            self._after.append(done)
        return Step(new, label, imgs, old)


def class_name(label: int) -> str:
    return OFFICIAL_CLASSES[label].char if 0 <= label < len(OFFICIAL_CLASSES) else str(label)


def check_tag(tag: object) -> str:
    """A tag is 1..64 printable characters without ';' (the separator in exports)."""
    if not isinstance(tag, str):
        raise ValueError(f"a tag is text, got {type(tag).__name__}")
    t = tag.strip()
    if not t or len(t) > MAX_TAG_CHARS or ";" in t or not t.isprintable():
        raise ValueError(f"tag {tag!r}: 1..{MAX_TAG_CHARS} printable characters, no ';'")
    return t
