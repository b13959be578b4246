"""The 49 K49 classes: official class map, romaji, official per-class support."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from k49desk.core.errors import DataError

N_CLASSES = 49

_CHARS = (
    "あいうえおかきくけこさしすせそたちつてと"
    "なにぬねのはひふへほまみむめもやゆよらりるれろわゐゑをんゝ"
)
ROMAJI: tuple[str, ...] = (
    "a",
    "i",
    "u",
    "e",
    "o",
    "ka",
    "ki",
    "ku",
    "ke",
    "ko",
    "sa",
    "shi",
    "su",
    "se",
    "so",
    "ta",
    "chi",
    "tsu",
    "te",
    "to",
    "na",
    "ni",
    "nu",
    "ne",
    "no",
    "ha",
    "hi",
    "fu",
    "he",
    "ho",
    "ma",
    "mi",
    "mu",
    "me",
    "mo",
    "ya",
    "yu",
    "yo",
    "ra",
    "ri",
    "ru",
    "re",
    "ro",
    "wa",
    "wi",
    "we",
    "wo",
    "n",
    "odoriji",
)
# Other spellings people type (Kunrei-shiki and common shortcuts).
ROMAJI_ALIASES: dict[str, int] = {
    "si": 11,
    "ti": 16,
    "tu": 17,
    "hu": 27,
    "nn": 47,
    "iter": 48,
    "dd": 48,
    "ゝ": 48,
}

# Exact support of the official release (from the official label files).
OFFICIAL_TRAIN_COUNTS: tuple[int, ...] = (
    6000,
    6000,
    6000,
    777,
    6000,
    6000,
    6000,
    6000,
    4714,
    6000,
    6000,
    6000,
    6000,
    4165,
    3867,
    6000,
    2565,
    6000,
    6000,
    6000,
    6000,
    6000,
    2063,
    2451,
    6000,
    6000,
    5132,
    6000,
    6000,
    1993,
    6000,
    3060,
    1718,
    3394,
    6000,
    6000,
    1598,
    6000,
    6000,
    6000,
    6000,
    6000,
    2139,
    2397,
    417,
    392,
    6000,
    6000,
    3523,
)
OFFICIAL_TEST_COUNTS: tuple[int, ...] = (
    1000,
    1000,
    1000,
    126,
    1000,
    1000,
    1000,
    1000,
    767,
    1000,
    1000,
    1000,
    1000,
    678,
    629,
    1000,
    418,
    1000,
    1000,
    1000,
    1000,
    1000,
    336,
    399,
    1000,
    1000,
    836,
    1000,
    1000,
    324,
    1000,
    498,
    280,
    552,
    1000,
    1000,
    260,
    1000,
    1000,
    1000,
    1000,
    1000,
    348,
    390,
    68,
    64,
    1000,
    1000,
    574,
)


@dataclass(frozen=True)
class ClassInfo:
    index: int
    codepoint: str  # "U+3042"
    char: str
    romaji: str

    @property
    def label(self) -> str:
        """ "あ (a)": how the class is shown to a person."""
        return f"{self.char} ({self.romaji})"


OFFICIAL_CLASSES: tuple[ClassInfo, ...] = tuple(
    ClassInfo(i, f"U+{ord(c):04X}", c, ROMAJI[i]) for i, c in enumerate(_CHARS)
)


def official_classmap_csv() -> str:
    """The official k49_classmap.csv, byte for byte (LF line ends)."""
    rows = ["index,codepoint,char"] + [
        f"{c.index},{c.codepoint},{c.char}" for c in OFFICIAL_CLASSES
    ]
    return "\n".join(rows) + "\n"


def check_class_entry(codepoint: str, char: str) -> str | None:
    """What is wrong with one class-map entry ("U+3042", "あ"), or None when it is fine."""
    if len(char) != 1:
        return f"char {char[:20]!r} is not one character"
    if not char.isprintable() or char.isspace():
        return f"char {char!r} is not a printable character"
    want = f"U+{ord(char):04X}"
    if codepoint.upper() != want:
        return f"codepoint {codepoint[:20]!r} does not match char {char!r} ({want})"
    return None


def load_classmap(path: Path) -> tuple[ClassInfo, ...]:
    """Read and validate a k49_classmap.csv; romaji come from the official table.

    Bounded: a regular file of at most MAX_CLASSMAP_BYTES (the official one is 697 bytes).
    """
    from k49desk.core.limits import MAX_CLASSMAP_BYTES, open_regular

    name = path.name
    with open_regular(path, DataError, what="class map", max_bytes=MAX_CLASSMAP_BYTES) as f:
        try:
            raw = f.read(MAX_CLASSMAP_BYTES + 1)
        except OSError as e:
            raise DataError(f"{name}: cannot be read ({e.strerror or e})") from e
    if len(raw) > MAX_CLASSMAP_BYTES:  # grew after the size check
        raise DataError(f"{name}: over the {MAX_CLASSMAP_BYTES // 1024} KiB limit for a class map")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{name}: not UTF-8 text ({e.reason})") from e
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        return _parse_classmap(name, reader)
    except csv.Error as e:
        raise DataError(f"{name}: line {reader.line_num}: not valid CSV ({e})") from None


def _parse_classmap(name: str, reader: Iterator[list[str]]) -> tuple[ClassInfo, ...]:
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError(f"{name}: the file is empty") from None
    if header[:3] != ["index", "codepoint", "char"]:
        raise DataError(
            f"{name}: header must be 'index,codepoint,char', found {','.join(header)[:80]!r}"
        )
    classes: list[ClassInfo] = []
    for lineno, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < 3:
            raise DataError(f"{name}: line {lineno} has {len(row)} fields, expected 3")
        idx_s, cp, ch = (row[0].strip(), row[1].strip(), row[2].strip())
        try:
            idx = int(idx_s)
        except ValueError:
            raise DataError(f"{name}: line {lineno}: index {idx_s[:20]!r} is not a "
                            "number") from None
        if idx != len(classes):
            raise DataError(f"{name}: line {lineno}: expected index {len(classes)}, found {idx}")
        if len(classes) >= N_CLASSES:
            raise DataError(f"{name}: more than {N_CLASSES} classes")
        problem = check_class_entry(cp, ch)
        if problem:
            raise DataError(f"{name}: line {lineno}: {problem}")
        classes.append(ClassInfo(idx, cp.upper(), ch, ROMAJI[idx]))
    if len(classes) != N_CLASSES:
        raise DataError(f"{name}: {len(classes)} classes, expected {N_CLASSES}")
    return tuple(classes)


def class_for_text(text: str, classes: tuple[ClassInfo, ...] = OFFICIAL_CLASSES) -> int | None:
    """Class index for a typed romaji ("ka", "shi", "si") or a character ("か"); else None."""
    t = text.strip().lower()
    if not t:
        return None
    for c in classes:
        if t == c.char or t == c.romaji:
            return c.index
    return ROMAJI_ALIASES.get(t)


def romaji_prefix_matches(
    prefix: str, classes: tuple[ClassInfo, ...] = OFFICIAL_CLASSES
) -> list[int]:
    """Classes whose romaji (or alias) starts with `prefix`, for type-ahead."""
    p = prefix.strip().lower()
    hits = [c.index for c in classes if c.romaji.startswith(p) or c.char == p]
    hits += [i for a, i in ROMAJI_ALIASES.items() if a.startswith(p) and i not in hits]
    return hits
