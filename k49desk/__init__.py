"""k49desk: a desktop workbench for the Kuzushiji-49 dataset."""

from __future__ import annotations

__version__ = "0.1.0"
