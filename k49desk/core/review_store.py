"""Where the annotation database of a split lives, and opening it: moving it between the data
folder and the user data folder, importing an old JSON review session once.

`k49desk-annotations-<split>.sqlite` sits beside the data; when the data folder is read-only
it goes to the user data folder (platformdirs, one folder per data folder). When the data
folder becomes writable again (or read-only), the database is copied over and the copy left
behind is renamed *.moved-<time>. An old `k49desk-review-<split>.json` (+ .journal.jsonl) is
imported into a new database in one transaction, then renamed *.imported-<time> and kept.
"""

from __future__ import annotations

# The code lives in the annotations package (location: where; store: opening and the legacy
# import); this module keeps the import paths callers and tests use.
from k49desk.core.annotations.location import (  # noqa: F401  (re-exported)
    LEGACY_KEY,
    back_up_corrupt,
    db_filename,
    dir_writable,
    fallback_dir,
    session_location,
)
from k49desk.core.annotations.store import open_store  # noqa: F401  (re-exported)
