"""Hostile images for `predict` and the core image loader, and the "too little ink" check."""

from __future__ import annotations

import io
import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
from hostile_helpers import GIB, run_cli
from PIL import Image, ImageDraw

from k49desk.core.errors import DataError
from k49desk.core.inference import load_image_file, preprocess, too_little_ink
from k49desk.core.limits import MAX_IMAGE_PIXELS, WORK_IMAGE_SIDE


def _huge_png(path: Path, w: int, h: int) -> Path:
    """A valid 1-bit PNG of w x h white pixels: a few kB on disk, w*h pixels decoded."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\x00" + b"\xff" * ((w + 7) // 8)
    body = zlib.compress(row * h, 9)
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body)
                     + chunk(b"IEND", b""))
    return path


def test_13000_square_png_is_refused_in_bounded_memory_without_pil_warning(
        tmp_path: Path) -> None:
    png = _huge_png(tmp_path / "big.png", 13_000, 13_000)
    assert png.stat().st_size < 100_000
    r = run_cli(["predict", str(png)], data_limit=GIB)
    assert r.rc == 2
    assert ("big.png: image is 13,000x13,000 = 169 megapixels, over the 40 MP limit"
            in r.error_line)
    assert "DecompressionBombWarning" not in r.err and "Warning" not in r.err
    assert r.maxrss_mb < 200  # refused from the header: not decoded, and no model loaded


def test_image_between_our_limit_and_pils_gets_our_message(tmp_path: Path) -> None:
    import warnings

    png = _huge_png(tmp_path / "mid.png", 8000, 8000)  # 64 MP: PIL would only warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL's DecompressionBombWarning would fail the test
        with pytest.raises(DataError, match="mid.png: image is 8,000x8,000 = 64 megapixels"):
            load_image_file(png)


def test_large_photo_under_the_limit_is_reduced_before_processing(tmp_path: Path) -> None:
    w, h = 6000, 4000  # 24 MP, a phone photo
    im = Image.new("L", (w, h), 255)
    ImageDraw.Draw(im).line((1000, 2000, 5000, 2000), fill=0, width=60)
    im.save(tmp_path / "photo.jpg", quality=80)
    gray = load_image_file(tmp_path / "photo.jpg")
    assert max(gray.shape) <= WORK_IMAGE_SIDE
    assert preprocess(gray).max() == 255
    assert MAX_IMAGE_PIXELS > w * h


@pytest.mark.parametrize(("make", "match"), [
    (lambda p: p.write_bytes(b"not an image, only text\n" * 100), "not an image file PIL can"),
    (lambda p: p.write_bytes(_png_bytes()[:60]), "damaged or unreadable image"),
    (lambda p: p.mkdir(), "is a folder"),
    (lambda p: os.mkfifo(p), r"is a named pipe \(FIFO\), not a regular image file"),
    (lambda p: p.symlink_to("/dev/zero"), "is a character device"),
])
def test_files_that_are_not_images(tmp_path: Path, make: object, match: str) -> None:
    p = tmp_path / "x.png"
    try:
        make(p)  # type: ignore[operator]
    except (AttributeError, OSError):
        pytest.skip("this kind of file cannot be made here")
    with pytest.raises(DataError, match=match):
        load_image_file(p)


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8)).save(buf,
                                                                                        "PNG")
    return buf.getvalue()


# ---- too little ink ------------------------------------------------------------------------
def _canvas(draw: object) -> np.ndarray:
    im = Image.new("L", (280, 280), 255)
    draw(ImageDraw.Draw(im))  # type: ignore[operator]
    return np.asarray(im)


@pytest.mark.parametrize(("name", "draw"), [
    ("blank", lambda d: None),
    ("dot", lambda d: d.ellipse((136, 136, 144, 144), fill=0)),
    ("big dot", lambda d: d.ellipse((100, 100, 180, 180), fill=0)),
    ("speck", lambda d: d.point((10, 10), fill=0)),
    ("faint smudge", lambda d: d.rectangle((50, 50, 90, 90), fill=250)),
])
def test_blank_and_dot_canvases_have_too_little_ink(name: str, draw: object) -> None:
    assert too_little_ink(preprocess(_canvas(draw))), name


@pytest.mark.parametrize("draw", [
    lambda d: d.line((60, 140, 220, 140), fill=0, width=8),
    lambda d: (d.line((60, 140, 220, 140), fill=0, width=8),
               d.line((140, 40, 140, 240), fill=0, width=8)),
])
def test_strokes_are_not_too_little_ink(draw: object) -> None:
    assert not too_little_ink(preprocess(_canvas(draw)))


def test_no_real_k49_image_has_too_little_ink(real10: Path, first100: Path) -> None:
    from k49desk.core.dataset import read_npz_array

    kmnist = Path(__file__).resolve().parents[3] / "shared" / "data" / "kmnist-train-part"
    for folder in (real10, first100, kmnist):  # read only
        for f in sorted(folder.glob("k49-*-imgs.npz")):
            imgs = read_npz_array(f)
            flagged = [i for i, a in enumerate(imgs) if too_little_ink(a)]
            assert flagged == [], f"{f}: {flagged[:5]}"
            assert not any(too_little_ink(preprocess(a)) for a in imgs[::100])


def test_predict_says_too_little_ink_for_a_blank_image(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from k49desk.cli import main
    from k49desk.paths import DEFAULT_MODEL

    if not DEFAULT_MODEL.exists():
        pytest.skip("no shipped model")
    Image.new("L", (200, 200), 255).save(tmp_path / "blank.png")
    Image.fromarray(_canvas(lambda d: d.ellipse((136, 136, 144, 144), fill=0))).save(
        tmp_path / "dot.png")
    assert main(["predict", str(tmp_path / "blank.png"), str(tmp_path / "dot.png")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{tmp_path / n}: too little ink (blank, or only a dot); no prediction"
                   for n in ("blank.png", "dot.png")]
    assert main(["predict", "--json", str(tmp_path / "blank.png")]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["results"] == [{"file": str(tmp_path / "blank.png"), "too_little_ink": True,
                             "top": []}]


@pytest.mark.parametrize("size", [(300, 100), (3000, 1000)])
def test_exif_rotation_is_applied_also_to_reduced_images(tmp_path: Path,
                                                         size: tuple[int, int]) -> None:
    im = Image.new("L", size, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to show upright
    im.save(tmp_path / "r.jpg", exif=exif.tobytes())
    h, w = load_image_file(tmp_path / "r.jpg").shape
    assert h > w and max(h, w) <= WORK_IMAGE_SIDE
