"""Reading the review sessions of k49desk before the annotation store (JSON snapshot + JSONL
journal), to import them once into the SQLite store.

The snapshot `k49desk-review-<split>.json` holds the flags and decisions by card position;
the journal `k49desk-review-<split>.journal.jsonl` holds later changes, one JSON object a line,
each tagged with the id of the snapshot it extends (other ids were already folded in).
Damage is handled line by line: a bad journal line is skipped and reported, the others are
imported; a torn last line (a write that never returned, so never acknowledged) is dropped.
A snapshot that cannot be read is LegacyDamaged; one of a newer version is SessionTooNew.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from k49desk.core.errors import ReviewError, SessionTooNew
from k49desk.core.review_flags import DECISIONS, Decision, Filters, normalize_flags

FORMAT = "k49desk-review"
VERSION = 1
FILTER_KEYS = ("issue", "given", "suggested", "undecided_only")


class LegacyDamaged(ValueError):
    """The snapshot cannot be read at all (nothing to import)."""


@dataclass
class LegacySession:
    path: Path
    digest: str  # sha256 of the snapshot bytes: marks the import as done in the store
    flags: pd.DataFrame
    top3: list | None
    exemplars: dict[int, list[int]]
    model: str
    method: str
    created: str
    decisions: dict[int, Decision]  # by card position
    position: int = 0
    filters: Filters = field(default_factory=Filters)
    warnings: list[str] = field(default_factory=list)


def legacy_filename(split: str) -> str:
    return f"k49desk-review-{split}.json"


def journal_path(session_path: Path) -> Path:
    return session_path.with_name(session_path.name.removesuffix(".json") + ".journal.jsonl")


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _decision(d: object, n_cards: int, pos: object, n_classes: int) -> tuple[int, Decision | None]:
    """(card, decision) from a [decision, final_label, decided_at] list; ValueError if bad."""
    if isinstance(pos, bool) or not isinstance(pos, int) or not 0 <= pos < n_cards:
        raise ValueError(f"card {pos!r} is not one of 0..{n_cards - 1}")
    if d is None:
        return pos, None
    if not isinstance(d, list) or len(d) != 3 or d[0] not in DECISIONS:
        raise ValueError(f"bad decision {d!r} for card {pos}")
    final = d[1]
    if d[0] == "relabel":
        if isinstance(final, bool) or not isinstance(final, int) or not 0 <= final < n_classes:
            raise ValueError(f"relabel of card {pos} to {final!r}, not a class")
    else:
        final = None
    return pos, Decision(d[0], final, str(d[2]))


def _filters(v: object) -> Filters:
    if not isinstance(v, dict) or set(v) - set(FILTER_KEYS):
        raise ValueError(f"bad filters {v!r}")
    return Filters(**v)


def read_legacy(path: Path, split: str, n_classes: int = 49) -> LegacySession:
    """Parse a legacy session; LegacyDamaged if the snapshot is unusable, SessionTooNew if it
    was written by a newer version (then nothing is changed)."""
    try:
        raw = path.read_bytes()
        d = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise LegacyDamaged(str(e)) from e
    if not isinstance(d, dict):
        raise LegacyDamaged(f"holds a JSON {type(d).__name__}, not a session object")
    if d.get("format") != FORMAT:
        raise LegacyDamaged("not a k49desk review session")
    v = d.get("version")
    if isinstance(v, int) and not isinstance(v, bool) and v > VERSION:
        raise SessionTooNew(f"{path}: written by a newer k49desk (session version {v}; this "
                            f"one reads {VERSION}); it was left untouched: update k49desk to "
                            "open it")
    if v != VERSION:
        raise LegacyDamaged(f"version {v!r}, this k49desk reads {VERSION}")
    if d.get("split") != split:
        raise LegacyDamaged(f"holds the {d.get('split')!r} split, expected {split!r}")
    try:
        if not isinstance(d.get("flags"), dict):
            raise ValueError("no flags table")
        flags = normalize_flags(pd.DataFrame(d["flags"]), split, path.name)
        top3 = d.get("top3")
        if top3 is not None and (not isinstance(top3, list) or len(top3) != len(flags)):
            raise ValueError("top3 does not match the flags")
        ex = d.get("exemplars") or {}
        if not isinstance(ex, dict):
            raise ValueError("bad exemplars")
        exemplars = {int(k): [int(i) for i in v] for k, v in ex.items()}
        s = LegacySession(path, hashlib.sha256(raw).hexdigest(), flags, top3, exemplars,
                          str(d.get("model", "")), str(d.get("method", "")),
                          str(d.get("created", "")), {})
        decs = d.get("decisions", [])
        if not isinstance(decs, list):
            raise ValueError("decisions is not a list")
        for item in decs:
            if not isinstance(item, list) or len(item) != 4:
                raise ValueError(f"bad decision {item!r}")
            pos, dec = _decision(item[1:], len(flags), item[0], n_classes)
            if dec is not None:
                s.decisions[pos] = dec
        s.filters = _filters(d.get("filters", {}))
        pos = d.get("position", 0)
        s.position = pos if isinstance(pos, int) and not isinstance(pos, bool) else 0
    except (ValueError, TypeError, KeyError, ReviewError) as e:
        raise LegacyDamaged(str(e)) from e
    snap = d.get("snapshot_id")
    if snap:
        _replay_journal(s, journal_path(path), str(snap), n_classes)
    s.position = min(max(s.position, 0), max(len(flags) - 1, 0))
    return s


def _replay_journal(s: LegacySession, jpath: Path, snap: str, n_classes: int) -> None:
    try:
        text = jpath.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return
    except OSError as e:
        s.warnings.append(f"{jpath.name} could not be read ({e.strerror or e}); its changes "
                          "were not imported")
        return
    lines = text.split("\n")
    complete = lines[:-1]  # text after the last newline is a write that never returned
    for i, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
            if not isinstance(e, dict):
                raise ValueError(f"a JSON {type(e).__name__}, not an object")
            if e.get("id") != snap:
                continue  # already in the snapshot
            if "pos" in e:
                pos, dec = _decision(e["d"], len(s.flags), e["pos"], n_classes)
                if dec is None:
                    s.decisions.pop(pos, None)
                else:
                    s.decisions[pos] = dec
            if "filters" in e:
                s.filters = _filters(e["filters"])
            p = e.get("position")
            if isinstance(p, int) and not isinstance(p, bool):
                s.position = p
        except (ValueError, TypeError, KeyError, RecursionError) as err:
            s.warnings.append(f"{jpath.name} line {i} is damaged ({err}) and was skipped")


def decisions_by_image(s: LegacySession) -> dict[int, tuple[str, int | None, str, int]]:
    """image -> (decision, final_label, decided_at, given_label); an accept carries the
    suggestion it accepted (the given label when there was none); of several cards of one
    image the latest decision wins."""
    idx = s.flags["index"].to_numpy()
    sug = s.flags["suggested_label"].to_numpy()
    given = s.flags["given_label"].to_numpy()
    out: dict[int, tuple[str, int | None, str, int]] = {}
    for pos, d in sorted(s.decisions.items(), key=lambda kv: (kv[1].decided_at, kv[0])):
        final = d.final_label
        if d.decision == "accept":
            final = int(sug[pos]) if sug[pos] >= 0 else int(given[pos])
        out[int(idx[pos])] = (d.decision, final, d.decided_at, int(given[pos]))
    return out
