#!/usr/bin/env python3
"""Rebuild resources/fonts/: small subsets of free Japanese fonts, plus their licence texts.

The GUI registers these files so hiragana show on machines without a Japanese font, and the
demo-data generator renders its glyph templates from them (Pillow, no Qt).

Source fonts come from Debian packages (all free for redistribution of modified subsets):

    apt-get install fonts-noto-cjk fonts-kouzan-mouhitsu fonts-aoyagi-kouzan-t \
        fonts-aoyagi-soseki fonts-seto fonts-kiloji

Licences, checked in /usr/share/doc/<package>/copyright:
- fonts-noto-cjk: SIL OFL 1.1. Upstream's only Reserved Font Name is "Source" (Adobe), which
  our family name does not use; we still rename the family ("... K49 Subset") because a
  subset is a Modified Version and must not pass for the full font.
- fonts-seto: SIL OFL 1.1, no Reserved Font Name; renamed the same way.
- fonts-kouzan-mouhitsu, fonts-aoyagi-kouzan-t, fonts-aoyagi-soseki: public domain
  ("著作権放棄", modification and redistribution explicitly allowed).
- fonts-kiloji: BSD-3-Clause (keep the copyright notice and licence text with the binary).
Not bundled: IPAex (the IPA licence forbids reusing the name and asks for more paperwork),
YOzFont (OFL with a broad RFN), Hanazono (Mincho, adds no brush style).

Usage: python scripts/make_fonts.py [--out resources/fonts]   (needs fontTools)
The output is deterministic: same source fonts -> same bytes (head.modified is pinned).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "resources" / "fonts"
KOUZAN = "/usr/share/fonts/truetype/kouzan-mouhitsu/"

K49_CHARS = ("あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほ"
             "まみむめもやゆよらりるれろわゐゑをんゝ")
# What the UI writes besides the 49 classes: ASCII, a little Japanese punctuation, arrows, marks.
UI_EXTRA = ("".join(chr(c) for c in range(0x20, 0x7F))
            + "、。・「」『』（）ー…‥〜→←↑↓×✓✗·–—“”‘’°±％：？！ゞ")
# 2020-01-01T00:00:00Z in seconds since 1904-01-01 (the 'head' epoch): pins the output bytes.
PINNED_HEAD_TIME = 3660681600


@dataclass(frozen=True)
class FontSpec:
    slug: str            # output file stem, before "-k49subset"
    source: str          # installed file
    family_match: str    # for .ttc collections: exact family name of the member to take
    package: str         # Debian package providing it (its copyright file is the licence)
    family: str          # family name of the subset
    style: str           # what it looks like, for resources/fonts/README.md
    licence: str


FONTS: tuple[FontSpec, ...] = (
    FontSpec("NotoSansCJKjp", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             "Noto Sans CJK JP", "fonts-noto-cjk", "Noto Sans CJK JP K49 Subset",
             "plain sans (UI labels)", "SIL OFL 1.1"),
    FontSpec("KouzanBrushSousyo", KOUZAN + "KouzanBrushFontSousyo.ttf",
             "", "fonts-kouzan-mouhitsu", "Kouzan Brush Sousyo K49 Subset",
             "cursive brush (sōsho)", "public domain"),
    FontSpec("KouzanBrushGyousyo", KOUZAN + "kouzan-mouhitsu-gyosho.ttf",
             "", "fonts-kouzan-mouhitsu", "Kouzan Brush Gyousyo K49 Subset",
             "semi-cursive brush (gyōsho)", "public domain"),
    FontSpec("KouzanBrush", KOUZAN + "kouzan-mouhitsu.ttf",
             "", "fonts-kouzan-mouhitsu", "Kouzan Brush K49 Subset",
             "regular brush (kaisho)", "public domain"),
    FontSpec("AoyagiKouzanT", "/usr/share/fonts/truetype/aoyagi-kouzan-t/AoyagiKouzanT.ttf",
             "", "fonts-aoyagi-kouzan-t", "Aoyagi Kouzan T K49 Subset",
             "thin brush", "public domain"),
    FontSpec("AoyagiSoseki", "/usr/share/fonts/truetype/aoyagi-soseki/aoyagi-soseki.ttf",
             "", "fonts-aoyagi-soseki", "Aoyagi Soseki K49 Subset",
             "brush, calligrapher's hand", "public domain"),
    FontSpec("Seto", "/usr/share/fonts/truetype/seto/setofont.ttf",
             "", "fonts-seto", "Seto K49 Subset", "rounded handwriting (pen)", "SIL OFL 1.1"),
    FontSpec("Kiloji", "/usr/share/fonts/truetype/kiloji/kiloji.ttf",
             "", "fonts-kiloji", "Kiloji K49 Subset", "quick handwriting (pen)", "BSD-3-Clause"),
)


def _load(spec: FontSpec):  # noqa: ANN202  (fontTools has no type stubs)
    from fontTools.ttLib import TTCollection, TTFont

    if spec.source.endswith((".ttc", ".otc")):
        coll = TTCollection(spec.source)
        for f in coll.fonts:
            if f["name"].getDebugName(1) == spec.family_match:
                return f
        raise SystemExit(f"{spec.source}: no member named {spec.family_match!r}")
    return TTFont(spec.source)


def _rename(font, spec: FontSpec) -> None:  # noqa: ANN001
    """One English family name everywhere (old localized names would pass for the full font)."""
    name = font["name"]
    ps = spec.family.replace(" ", "")
    values = {1: spec.family, 2: "Regular", 3: f"k49desk:{ps}-Regular", 4: spec.family,
              6: f"{ps}-Regular", 16: spec.family, 17: "Regular"}
    name.names = [n for n in name.names if n.nameID not in values]
    for nid, text in values.items():
        if nid in (16, 17):
            continue  # typographic names equal the legacy ones: leave them out
        name.setName(text, nid, 3, 1, 0x409)
        name.setName(text, nid, 1, 0, 0)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [f"{ps}-Regular"]
        top = cff.topDictIndex[0]
        top.FullName = spec.family
        top.FamilyName = spec.family


def build_one(spec: FontSpec, out_dir: Path) -> Path:
    from fontTools import subset

    font = _load(spec)
    cmap = font.getBestCmap()
    missing = [c for c in K49_CHARS if ord(c) not in cmap]
    if missing:
        raise SystemExit(f"{spec.source}: lacks {''.join(missing)}; cannot render all 49 classes")
    codepoints = sorted({ord(c) for c in K49_CHARS + UI_EXTRA if ord(c) in cmap})
    opts = subset.Options()
    opts.hinting = False            # unhinted outlines: much smaller, fine on modern rasterizers
    opts.desubroutinize = True      # CFF subsets compress better without global subroutines
    opts.name_IDs = ["*"]
    opts.name_languages = ["*"]
    opts.notdef_outline = True
    # gasp only tunes hinted rendering (dropped anyway); some brush fonts have a damaged one
    opts.drop_tables += ["gasp"]
    opts.layout_features = ["kern", "palt", "vert", "vrt2", "liga"]
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=codepoints)
    sub.subset(font)
    _rename(font, spec)
    font.recalcTimestamp = False
    font["head"].modified = PINNED_HEAD_TIME
    ext = ".otf" if "CFF " in font else ".ttf"
    path = out_dir / f"{spec.slug}-k49subset{ext}"
    tmp = path.with_suffix(path.suffix + ".tmp")
    font.save(tmp)
    tmp.replace(path)
    return path


def licence_text(spec: FontSpec, font_file: str) -> str:
    src = Path("/usr/share/doc") / spec.package / "copyright"
    body = src.read_text(encoding="utf-8")
    return (f"{font_file} is a subset (the 49 Kuzushiji-49 hiragana plus ASCII and a few marks)\n"
            f"of {Path(spec.source).name} from the Debian package {spec.package}, renamed\n"
            f"\"{spec.family}\". Licence: {spec.licence}. The package's copyright file follows,\n"
            f"verbatim.\n\n{'=' * 72}\n{body}")


def readme(rows: list[tuple[FontSpec, Path]]) -> str:
    lines = [
        "# Bundled fonts (subsets)",
        "",
        "Made by `scripts/make_fonts.py` from Debian font packages; rerun it to rebuild",
        "(same sources -> same bytes). Each font keeps only the 49 K49 characters, ASCII and a",
        "few marks. The GUI registers them (`k49desk/gui/common/fonts.py`) so hiragana show "
        "without a",
        "system Japanese font; `k49desk/core/demo_render.py` draws the demo data from them.",
        "",
        "| file | family | style | licence | licence text |",
        "|---|---|---|---|---|",
    ]
    for spec, p in rows:
        lines.append(f"| {p.name} | {spec.family} | {spec.style} | {spec.licence} | "
                     f"LICENSE-{spec.slug}.txt |")
    lines += [
        "",
        "Sources: `apt-get install " + " ".join(sorted({s.package for s, _ in rows})) + "`.",
        "Licences were checked in `/usr/share/doc/<package>/copyright` (copied verbatim into",
        "each LICENSE file). The OFL fonts (Noto Sans CJK: only Reserved Font Name is Adobe's",
        "\"Source\"; Seto: none) are renamed \"... K49 Subset\" because a subset is a Modified",
        "Version. Not bundled: IPAex (IPA licence: derived fonts must not reuse the name and",
        "carry extra terms), YOzFont (OFL with a broad Reserved Font Name), Hanazono (Mincho).",
        "",
        "sha256 of each file:",
        "",
    ]
    lines += [f"    {hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for _, p in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    # fontTools warns about the old fonts' odd timestamps and dropped AAT tables: noise here
    import logging

    logging.getLogger("fontTools").setLevel(logging.ERROR)
    try:
        import fontTools  # noqa: F401
    except ImportError:
        print("make_fonts.py needs fontTools: pip install 'fonttools>=4.40'", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[FontSpec, Path]] = []
    for spec in FONTS:
        if not Path(spec.source).exists():
            print(f"missing {spec.source}: apt-get install {spec.package}", file=sys.stderr)
            return 1
        p = build_one(spec, args.out)
        (args.out / f"LICENSE-{spec.slug}.txt").write_text(licence_text(spec, p.name),
                                                           encoding="utf-8")
        rows.append((spec, p))
        print(f"{p.name:36s} {p.stat().st_size:>8,d} bytes  ({spec.style})")
    (args.out / "README.md").write_text(readme(rows), encoding="utf-8")
    total = sum(p.stat().st_size for _, p in rows)
    print(f"total {total:,d} bytes in {len(rows)} fonts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
