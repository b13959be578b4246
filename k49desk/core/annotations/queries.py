"""Read queries of the annotation store: plain SQL, never a Python loop over images."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from k49desk.core.annotations.records import (
    DECISION_CODES,
    Annotation,
    HistoryEntry,
)

if TYPE_CHECKING:  # pandas is imported when a table is asked for (it costs ~0.5 s to load)
    import pandas as pd

ANNOTATION_COLUMNS: tuple[str, ...] = ("image", "decision", "final_label", "source",
                                       "confidence", "given_label", "decided_at", "note", "tags")


def _images(cur: sqlite3.Cursor) -> np.ndarray:
    return np.fromiter((r[0] for r in cur), np.int64)


class StoreQueries:
    """Mixed into AnnotationStore (which provides _c())."""

    def _c(self) -> sqlite3.Connection:  # pragma: no cover - provided by AnnotationStore
        raise NotImplementedError

    def annotation(self, image: int) -> Annotation | None:
        """Everything recorded about `image` now (None: nothing)."""
        c = self._c()
        row = c.execute("SELECT decision, final_label, source, confidence, given_label,"
                        " decided_at, note FROM ann WHERE image = ?",
                        (int(image),)).fetchone()
        tags = tuple(r[0] for r in c.execute(
            "SELECT tag FROM tags WHERE image = ? ORDER BY tag", (int(image),)))
        if row is None and not tags:
            return None
        row = row or (None,) * 6 + ("",)
        return Annotation(int(image), row[0], row[1], row[2], row[3], row[4], row[5],
                          row[6] or "", tags)

    def history(self, image: int) -> list[HistoryEntry]:
        """Every change of `image`, oldest first (undo and redo included, as steps)."""
        cur = self._c().execute(
            "SELECT h.step, s.at, s.label, h.what, h.decision, h.final_label,"
            " CASE WHEN h.what = 'decision' THEN r.source END, h.old_decision,"
            " h.old_final_label, h.text, h.old_text, s.reverts FROM history h"
            " JOIN steps s ON s.id = h.step LEFT JOIN steps r ON r.id = h.ref"
            " WHERE h.image = ? ORDER BY h.id", (int(image),))
        return [HistoryEntry(*r) for r in cur]

    def find(self, *, decision: str | Sequence[str] | None = None, source: str | None = None,
             tag: str | None = None, given_label: int | None = None,
             final_label: int | None = None, has_note: bool | None = None) -> np.ndarray:
        """Sorted images matching every condition given (decision: one name or several)."""
        where, args = [], []
        if decision is not None:
            names = [decision] if isinstance(decision, str) else list(decision)
            bad = [d for d in names if d not in DECISION_CODES]
            if bad:
                raise ValueError(f"unknown decision {bad[0]!r}")
            where.append(f"decision IN ({', '.join('?' * len(names))})")
            args += names
        for col, v in (("source", source), ("given_label", given_label),
                       ("final_label", final_label)):
            if v is not None:
                where.append(f"{col} = ?")
                args.append(v)
        if has_note is not None:
            where.append("note != ''" if has_note else "note = ''")
        if tag is not None:
            where.append("image IN (SELECT image FROM tags WHERE tag = ?)")
            args.append(tag)
        sql = "SELECT image FROM ann" if source is not None else "SELECT image FROM annotations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return _images(self._c().execute(sql + " ORDER BY image", args))

    def images_tagged(self, tag: str) -> np.ndarray:
        return _images(self._c().execute(
            "SELECT image FROM tags WHERE tag = ? ORDER BY image", (tag,)))

    def relabelled_from(self, label: int) -> np.ndarray:
        """Images given class `label` in the data whose decision gives them another class."""
        return _images(self._c().execute(
            "SELECT image FROM annotations WHERE given_label = ? AND decision IN"
            " ('relabel', 'accept') AND final_label != given_label ORDER BY image",
            (int(label),)))

    def prelabels(self) -> tuple[np.ndarray, np.ndarray]:
        """(images, confidence) still marked pre-label (unconfirmed), least confident first."""
        rows = self._c().execute(
            "SELECT image, coalesce(confidence, 'nan') FROM annotations WHERE"
            " decision = 'prelabel' ORDER BY confidence IS NULL, confidence, image").fetchall()
        a = np.array(rows, np.float64).reshape(-1, 2)
        return a[:, 0].astype(np.int64), a[:, 1]

    def decision(self, image: int) -> tuple[str, int | None, str, str] | None:
        """(decision, final_label, decided_at, source) of `image`, None when undecided."""
        return self._c().execute(
            "SELECT decision, final_label, coalesce(decided_at, ''), coalesce(source, '')"
            " FROM ann WHERE image = ? AND decision IS NOT NULL",
            (int(image),)).fetchone()

    def decisions(self) -> dict[int, tuple[str, int | None, str, str]]:
        """image -> (decision, final_label, decided_at, source) for every image decided."""
        return {r[0]: r[1:] for r in self._c().execute(
            "SELECT image, decision, final_label, coalesce(decided_at, ''),"
            " coalesce(source, '') FROM ann WHERE decision IS NOT NULL")}

    def annotations_frame(self) -> pd.DataFrame:
        """ANNOTATION_COLUMNS for every image with a decision, a note or a tag (tags joined
        with ';', sorted), in image order."""
        return annotations_frame(self._c())


def annotations_frame(c: sqlite3.Connection) -> pd.DataFrame:
    """StoreQueries.annotations_frame on connection `c` (e.g. a snapshot, see open_snapshot)."""
    import pandas as pd

    rows = c.execute(
        "SELECT image, decision, final_label, source, confidence, given_label, decided_at,"
        " note FROM ann a WHERE decision IS NOT NULL OR note != '' OR EXISTS"
        " (SELECT 1 FROM tags t WHERE t.image = a.image) ORDER BY image").fetchall()
    df = pd.DataFrame(rows, columns=list(ANNOTATION_COLUMNS[:-1]))
    for col in ("final_label", "given_label"):
        df[col] = pd.array(df[col], dtype="Int64")
    df["confidence"] = pd.to_numeric(df["confidence"]).astype(np.float64)
    tags = pd.DataFrame(c.execute("SELECT image, tag FROM tags ORDER BY image, tag"
                                  ).fetchall(), columns=["image", "tag"])
    joined = tags.groupby("image")["tag"].agg(";".join).to_dict()
    df["tags"] = [joined.get(i, "") for i in df["image"].tolist()]
    df["note"] = df["note"].fillna("").astype(str)
    for col in ("decision", "source", "decided_at"):
        df[col] = df[col].fillna("").astype(str)
    return df
