"""The annotations of a split frozen at one moment, for exports.

Taking a snapshot costs the GUI thread almost nothing: it opens a second connection holding a
read transaction (write-ahead logging keeps that view of the file while the person goes on
deciding); the annotations table is read from it when first needed, typically by the export
on a worker thread (at full scale that read takes about a second), and the connection is then
closed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from k49desk.core import review_export
from k49desk.core.annotations.queries import annotations_frame
from k49desk.core.annotations.records import DECISION_CODES
from k49desk.core.classes import ClassInfo
from k49desk.core.review_flags import Decision, check_flags

if TYPE_CHECKING:
    from k49desk.core.dataset import K49Dataset


@dataclass
class ReviewSnapshot:
    split: str
    path: Path  # the database it was read from (named in messages)
    model: str
    method: str
    classes: tuple[ClassInfo, ...]
    flags: pd.DataFrame  # FLAG_COLUMNS
    reader: sqlite3.Connection | None = field(default=None, repr=False)  # store.snapshot()
    table: pd.DataFrame | None = field(default=None, repr=False)  # or the table itself

    def __len__(self) -> int:
        return len(self.flags)

    @property
    def annotations(self) -> pd.DataFrame:
        """AnnotationStore.annotations_frame() of the moment the snapshot was taken."""
        if self.table is None:
            if self.reader is None:
                raise ValueError("a snapshot needs a reader or a table")
            try:
                self.table = annotations_frame(self.reader)
            finally:
                self.close()
        return self.table

    def close(self) -> None:
        """Let go of the read transaction (done by itself once the table was read)."""
        if self.reader is not None:
            with contextlib.suppress(sqlite3.Error):
                self.reader.close()
            self.reader = None

    def arrays(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(decision codes, final labels) per image for a split of `n` images (longer when an
        annotation names a higher image: corrected_labels refuses that)."""
        a = self.annotations
        img = a["image"].to_numpy(np.int64)
        size = max(n, int(img.max()) + 1 if len(img) else 0)
        codes = np.zeros(size, np.int8)
        finals = np.full(size, -1, np.int16)
        codes[img] = [DECISION_CODES.get(d, 0) for d in a["decision"]]
        has = a["final_label"].notna().to_numpy()
        finals[img[has]] = a["final_label"].to_numpy()[has].astype(np.int16)
        return codes, finals

    @property
    def decisions(self) -> dict[int, Decision]:
        """Card position -> its image's decision (cards with one only)."""
        a = self.annotations[self.annotations["decision"] != ""].set_index("image")
        out = {}
        for pos, img in enumerate(self.flags["index"].to_numpy()):
            if img in a.index:
                r = a.loc[img]
                f = r["final_label"]
                out[pos] = Decision(r["decision"], None if pd.isna(f) else int(f),
                                    r["decided_at"], r["source"])
        return out

    def export_frame(self) -> pd.DataFrame:
        """review_export.EXPORT_COLUMNS: one row per flag, then one per other annotated image."""
        return review_export.export_frame(self.flags, self.annotations, split=self.split,
                                          model=self.model, classes=self.classes)

    def export_csv(self, path: str | os.PathLike[str]) -> Path:
        return review_export.export_csv(self.export_frame(), Path(path))

    def export_json(self, path: str | os.PathLike[str]) -> Path:
        return review_export.export_json(self.export_frame(), Path(path))

    def corrected_labels(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels with every accept/relabel applied, sorted unusable indices)."""
        check_flags(self.flags, labels, self.path.name)
        codes, finals = self.arrays(len(labels))
        return review_export.corrected_labels(labels, codes, finals)

    def export_corrected(self, folder: str | os.PathLike[str], ds: K49Dataset) -> list[Path]:
        """A K49 folder with corrected labels of this split (see review_export)."""
        new, unusable = self.corrected_labels(ds.split(self.split).labels)
        return review_export.write_corrected_folder(Path(folder), ds, self.split, new,
                                                    unusable, self.export_frame(), self.classes)
