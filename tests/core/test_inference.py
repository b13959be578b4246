"""Drawn or photographed characters -> K49-like 28x28 images; file loading; top-k."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from k49desk.core.dataset import read_npz_array
from k49desk.core.errors import DataError
from k49desk.core.inference import (
    K49_STROKE_WIDTH,
    image_stats,
    is_dark_on_light,
    load_image_file,
    preprocess,
    topk,
)


def drawn(size: tuple[int, int] = (280, 280), pen: int = 14, offset: tuple[int, int] = (0, 0),
          scale: float = 1.0) -> np.ndarray:
    """A character-like drawing (a cross and an arc), white on black, like the canvas gives."""
    im = Image.new("L", size, 0)
    d = ImageDraw.Draw(im)
    ox, oy = offset

    def pt(x: float, y: float) -> tuple[float, float]:
        return ox + x * scale, oy + y * scale

    d.line([pt(100, 40), pt(110, 240)], fill=255, width=pen, joint="curve")
    d.line([pt(60, 120), pt(220, 110)], fill=255, width=pen)
    d.arc([*pt(80, 130), *pt(200, 250)], 200, 340, fill=255, width=pen)
    return np.asarray(im)


def test_vertical_stroke_in_a_corner_lands_centred_and_spans_the_full_height() -> None:
    img = np.zeros((300, 200), np.uint8)
    img[20:120, 150:160] = 255  # a 100 px tall, 10 px wide bar near the top right
    out = preprocess(img)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    s = image_stats(out)
    assert s["bbox_h"] == 28  # the longer side fills the frame, as in K49
    assert 1 <= s["bbox_w"] <= 4
    assert s["centre_y"] == pytest.approx(13.5, abs=0.5)
    assert s["centre_x"] == pytest.approx(13.5, abs=1.0)
    assert out.max() == 255


def test_wide_drawing_keeps_its_aspect_ratio() -> None:
    img = np.zeros((200, 400), np.uint8)
    img[50:150, 40:360] = 0
    img[95:105, 40:360] = 255  # horizontal bar, 320 wide
    img[50:150, 195:205] = 255  # vertical bar, 100 tall -> box 320 x 100
    s = image_stats(preprocess(img))
    assert s["bbox_w"] == 28
    assert s["bbox_h"] == pytest.approx(28 * 100 / 320, abs=2)
    assert s["centre_y"] == pytest.approx(13.5, abs=1.0)


def test_position_and_canvas_size_do_not_change_the_result() -> None:
    a = preprocess(drawn())
    b = preprocess(drawn(size=(600, 500), offset=(250, 180), scale=1.0))
    c = preprocess(drawn(size=(560, 560), pen=28, scale=2.0))
    assert np.abs(a.astype(int) - b).mean() < 2
    assert np.corrcoef(a.ravel(), c.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("pen", [3, 8, 14, 24, 36])
def test_stroke_width_is_brought_into_the_k49_range(pen: int) -> None:
    width = image_stats(preprocess(drawn(pen=pen)))["stroke_width"]
    lo, hi = K49_STROKE_WIDTH
    assert lo - 0.25 <= width <= hi + 0.25


def test_a_stray_speck_far_from_the_character_does_not_change_the_framing() -> None:
    img = drawn(size=(400, 400))
    ref = preprocess(img)
    dusty = img.copy()
    dusty[380:383, 390:393] = 255  # a 3x3 speck in the corner
    dusty[5, 5] = 200
    assert np.abs(preprocess(dusty).astype(int) - ref).max() <= 2
    # A separate but substantial part (like the top stroke of う) still counts.
    two_part = img.copy()
    two_part[330:345, 100:220] = 255
    assert image_stats(preprocess(two_part))["bbox_h"] == 28
    assert image_stats(preprocess(two_part))["bbox_w"] < image_stats(ref)["bbox_w"]


def test_dark_ink_on_light_paper_is_detected_and_inverted() -> None:
    light = drawn()
    dark_on_light = 255 - light
    assert is_dark_on_light(dark_on_light.astype(np.float32) / 255)
    assert not is_dark_on_light(light.astype(np.float32) / 255)
    assert np.array_equal(preprocess(dark_on_light), preprocess(light))
    # Forcing the wrong polarity frames the paper, not the ink: a different image.
    assert not np.array_equal(preprocess(dark_on_light, invert=False), preprocess(light))


def test_grey_paper_and_rgb_photo_like_input_give_the_same_character() -> None:
    ref = preprocess(drawn())
    ink = drawn().astype(np.float32) / 255
    paper = 0.85 - 0.6 * ink  # dark grey ink on light grey paper
    rgb = np.stack([paper, paper * 0.97, paper * 0.9], axis=2)
    out = preprocess((rgb * 255).astype(np.uint8))
    assert np.corrcoef(ref.ravel(), out.ravel())[0, 1] > 0.95


def test_black_ink_on_transparent_background_is_read_as_ink() -> None:
    ink = drawn()
    rgba = np.zeros((*ink.shape, 4), np.uint8)
    rgba[..., 3] = ink  # black colour everywhere, ink only where opaque
    out = preprocess(rgba)
    assert np.corrcoef(preprocess(ink).ravel(), out.ravel())[0, 1] > 0.95


def test_blank_or_uniform_images_give_an_all_black_image() -> None:
    for img in (np.zeros((50, 50), np.uint8), np.full((40, 60), 255, np.uint8),
                np.full((30, 30), 0.5, np.float32)):
        out = preprocess(img)
        assert out.shape == (28, 28) and not out.any()


def test_float_and_uint8_inputs_agree() -> None:
    img = drawn()
    assert np.abs(preprocess(img).astype(int) - preprocess(img / 255.0)).max() <= 1


def test_real_k49_images_are_nearly_unchanged(first100: Path) -> None:
    imgs = read_npz_array(first100 / "k49-test-imgs.npz")
    corr = [np.corrcoef(im.ravel(), preprocess(im).ravel())[0, 1]
            for im in imgs if (im > 127).sum() > 20]
    # Already framed like K49: only stroke-width outliers are touched.
    assert np.median(corr) > 0.95
    assert np.mean(corr) > 0.9


def test_load_image_file_reads_png_and_jpeg_of_any_polarity(tmp_path: Path) -> None:
    ink = drawn()
    Image.fromarray(255 - ink).convert("RGB").save(tmp_path / "paper.jpg", quality=85)
    Image.fromarray(ink).save(tmp_path / "screen.png")
    Image.fromarray((255 - ink).astype(np.uint16) * 257).save(tmp_path / "deep.png")
    ref = preprocess(ink)
    for name in ("paper.jpg", "screen.png", "deep.png"):
        g = load_image_file(tmp_path / name)
        assert g.dtype == np.uint8 and g.shape == ink.shape
        assert np.corrcoef(ref.ravel(), preprocess(g).ravel())[0, 1] > 0.95, name


def test_load_image_file_with_alpha_composites_the_ink(tmp_path: Path) -> None:
    ink = drawn()
    rgba = np.zeros((*ink.shape, 4), np.uint8)
    rgba[..., 3] = ink
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    g = load_image_file(tmp_path / "t.png")
    assert is_dark_on_light(g.astype(np.float32) / 255)  # composited onto white paper
    assert np.corrcoef(preprocess(ink).ravel(), preprocess(g).ravel())[0, 1] > 0.95


def test_load_image_file_names_the_file_when_it_is_not_an_image(tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(DataError, match="notes.png"):
        load_image_file(bad)
    trunc = tmp_path / "cut.png"
    Image.fromarray(drawn()).save(trunc)
    trunc.write_bytes(trunc.read_bytes()[:200])
    with pytest.raises(DataError, match="cut.png"):
        load_image_file(trunc)
    with pytest.raises(DataError, match="missing.jpg"):
        load_image_file(tmp_path / "missing.jpg")
    with pytest.raises(DataError, match="folder"):
        load_image_file(tmp_path)


class _FixedModel:
    """Stands in for LoadedModel: probabilities that depend on the image's mean."""

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        n = images.shape[0]
        p = np.linspace(1.0, 2.0, 49, dtype=np.float32)[None].repeat(n, 0)
        p[:, 7] += images.reshape(n, -1).mean(1) / 10.0
        return p / p.sum(1, keepdims=True)


def test_topk_returns_classes_in_descending_probability() -> None:
    img = preprocess(drawn())
    top = topk(_FixedModel(), img, 5)  # type: ignore[arg-type]
    assert [c for c, _ in top][0] == 7  # boosted by the ink
    assert [c for c, _ in top][1:] == [48, 47, 46, 45]
    probs = [p for _, p in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    assert len(topk(_FixedModel(), img, 100)) == 49  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="28, 28"):
        topk(_FixedModel(), drawn(), 5)  # type: ignore[arg-type]


def test_topk_with_a_real_loaded_model_sums_to_one_over_all_classes() -> None:
    torch = pytest.importorskip("torch")
    from k49desk.core.model import LoadedModel, ModelConfig, build_model

    torch.manual_seed(0)
    cfg = ModelConfig(channels=(4, 8))
    loaded = LoadedModel(build_model(cfg).eval(), cfg)
    top = topk(loaded, preprocess(drawn()), 49)
    assert sum(p for _, p in top) == pytest.approx(1.0, abs=1e-4)
    assert sorted(c for c, _ in top) == list(range(49))


def font_glyphs_on_canvas(font_index: int, rng: np.random.Generator) -> np.ndarray:
    """Every class's character in one bundled font, drawn at 55-80% of a 280 px canvas."""
    from k49desk.core.classes import OFFICIAL_CLASSES
    from k49desk.core.demo import render_char

    out = []
    for c in OFFICIAL_CLASSES:
        side = int(280 * rng.uniform(0.55, 0.8))
        # Rendered at 100 px (5 ms instead of 25 ms at full size) and scaled up like a canvas.
        g = Image.fromarray(render_char(c.char, 100, font_index))
        g = g.resize((side, side), Image.Resampling.BICUBIC)
        canvas = Image.new("L", (280, 280), 0)
        canvas.paste(g, tuple(int(v) for v in rng.integers(0, 280 - side + 1, size=2)))
        out.append(np.asarray(canvas))
    return np.stack(out)


# models/k49desk-default.pt scores 392/392 here (top-1 392/392 too), while framing by a plain
# resize of the canvas scores 364/392 (0.93) with the same model: 0.95 separates a working
# preprocess from a broken one and leaves a little room for a retrained default.
MIN_TOP5_FRACTION = 0.95


def test_font_characters_drawn_on_the_canvas_are_in_the_default_models_top5() -> None:
    from k49desk.core.demo import font_files
    from k49desk.core.model import load_checkpoint
    from k49desk.paths import DEFAULT_MODEL

    if not DEFAULT_MODEL.exists():
        pytest.skip(f"{DEFAULT_MODEL} is not there yet")
    loaded = load_checkpoint(DEFAULT_MODEL)
    rng = np.random.default_rng(0)
    hits = []
    for f in range(len(font_files())):
        imgs = np.stack([preprocess(im) for im in font_glyphs_on_canvas(f, rng)])
        proba = loaded.predict_proba(imgs)
        top5 = np.argsort(-proba, axis=1)[:, :5]
        hits.append((top5 == np.arange(49)[:, None]).any(1))
    per_font = [int(h.sum()) for h in hits]
    fraction = float(np.mean(hits))
    print(f"default model top-5 hits per font (of 49): {per_font}, overall {fraction:.1%}")
    assert fraction >= MIN_TOP5_FRACTION, per_font
