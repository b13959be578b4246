"""The bundled subset fonts load into Qt and cover the 49 classes; the UI picks the sans."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics, QImage, QPainter, QRawFont
from PySide6.QtWidgets import QApplication

from k49desk.core.classes import OFFICIAL_CLASSES
from k49desk.paths import FONTS_DIR


def test_qt_loads_every_bundled_font_and_ui_family_is_the_noto_sans_subset(
        qapp: QApplication) -> None:
    from k49desk.gui.common.fonts import bundled_families, hiragana_font, ui_family

    files = sorted(p for p in FONTS_DIR.iterdir() if p.suffix in (".ttf", ".otf"))
    fams = bundled_families()
    assert len(fams) == len(files) >= 4
    assert all(f.endswith("K49 Subset") for f in fams)
    assert ui_family() == "Noto Sans CJK JP K49 Subset"
    assert ui_family() in hiragana_font(14).families()


def test_each_bundled_font_file_has_a_glyph_for_every_class_and_ascii(
        qapp: QApplication) -> None:
    for path in sorted(p for p in FONTS_DIR.iterdir() if p.suffix in (".ttf", ".otf")):
        raw = QRawFont(str(path), 24)
        assert raw.isValid(), path.name
        for ch in [c.char for c in OFFICIAL_CLASSES] + list("Aa09%"):
            assert raw.supportsCharacter(ord(ch)), (path.name, ch)  # the str overload is Latin-1
        assert not raw.supportsCharacter(0x4E00)  # a subset: no kanji


def test_hiragana_font_draws_ink_for_the_rare_classes(qapp: QApplication) -> None:
    from k49desk.gui.common.fonts import hiragana_font

    font = hiragana_font(28)
    fm = QFontMetrics(font)
    for ch in "ゐゑゝ":
        assert fm.inFontUcs4(ord(ch)), ch  # inFont(str) goes through Latin-1 in PySide6 6.11.3
        img = QImage(48, 48, QImage.Format.Format_Grayscale8)
        img.fill(0)
        p = QPainter(img)
        p.setPen(Qt.GlobalColor.white)
        p.setFont(font)
        p.drawText(4, 38, ch)
        p.end()
        ink = sum(1 for y in range(48) for x in range(48) if img.pixelColor(x, y).value() > 128)
        assert ink > 20, ch
