"""Bundled fonts: hiragana render even on a machine without a Japanese font."""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtGui import QFont, QFontDatabase

from k49desk.paths import FONTS_DIR


@lru_cache(maxsize=1)
def bundled_families() -> tuple[str, ...]:
    """Register every font in resources/fonts (once, after QApplication exists)."""
    families: list[str] = []
    if FONTS_DIR.is_dir():
        for f in sorted(FONTS_DIR.iterdir()):
            if f.suffix.lower() in (".ttf", ".otf"):
                fid = QFontDatabase.addApplicationFont(str(f))
                if fid >= 0:
                    families += [
                        x for x in QFontDatabase.applicationFontFamilies(fid) if x not in families
                    ]
    return tuple(families)


def ui_family() -> str | None:
    """The bundled family used for hiragana in the UI (a plain, readable one if bundled)."""
    fams = bundled_families()
    for pref in ("Noto Sans", "IPAex", "Gothic", "Sans"):
        for f in fams:
            if pref.lower() in f.lower():
                return f
    return fams[0] if fams else None


def hiragana_font(point_size: float = 12.0, bold: bool = False) -> QFont:
    """A QFont that shows the 49 K49 characters; falls back to the system font list."""
    fam = ui_family()
    font = QFont()
    if fam:
        font.setFamilies([fam, *QFont().families()])
    font.setPointSizeF(point_size)
    font.setBold(bold)
    return font
