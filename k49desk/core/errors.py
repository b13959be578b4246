"""Errors raised by the core. Messages name the file and the broken expectation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class K49Error(Exception):
    """Base class for every error k49desk reports to a person."""


class DataError(K49Error):
    """A data folder or file is missing, unreadable or not in the K49 format."""


class DownloadError(K49Error):
    """A download failed (network, HTTP status, checksum)."""


class CheckpointError(K49Error):
    """A model checkpoint is missing, corrupt, untrusted or incompatible."""


class ReviewError(K49Error):
    """A review session or an export could not be read or written."""


class SessionCorrupt(ReviewError):
    """A session/annotation file could not be read; it was renamed to `backup` (None: it could
    not be renamed) and is reported. Opening again starts a new one."""

    def __init__(self, message: str, backup: Path | None) -> None:
        super().__init__(message)
        self.backup = backup


class SessionTooNew(ReviewError):
    """The file was written by a newer k49desk; it was left untouched."""


class Cancelled(K49Error):
    """Work was stopped on request (should_stop returned True)."""
