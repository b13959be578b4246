"""Annotation store: review decisions, manual annotations, tags and notes in one SQLite file
per data folder and split (see store.AnnotationStore; review_store places the file)."""

from __future__ import annotations

from k49desk.core.annotations.db import (
    SCHEMA_VERSION,
    SessionCorrupt,
    SessionTooNew,
    back_up_files,
    open_db,
)
from k49desk.core.annotations.edits import check_tag
from k49desk.core.annotations.queries import ANNOTATION_COLUMNS
from k49desk.core.annotations.records import (
    DECISION_CODES,
    DECISION_NAMES,
    LABEL_DECISIONS,
    SOURCES,
    Annotation,
    HistoryEntry,
    Step,
    now_iso,
)
from k49desk.core.annotations.store import AnnotationStore

__all__ = [
    "ANNOTATION_COLUMNS", "DECISION_CODES", "DECISION_NAMES", "LABEL_DECISIONS",
    "SCHEMA_VERSION", "SOURCES", "Annotation", "AnnotationStore", "HistoryEntry",
    "SessionCorrupt", "SessionTooNew", "Step", "back_up_files", "check_tag", "now_iso",
    "open_db",
]
