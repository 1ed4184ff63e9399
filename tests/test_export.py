"""Every export option through the engine, on real photos and on scenes whose matte the
fixture model makes predictable (red = subject, blue = background)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageFilter, ImageOps

from rmbg_app.errors import EmptyResult, InputError
from rmbg_app.options import ExportOptions, parse_aspect, parse_color
from rmbg_app.pipeline import crop
from rmbg_app.pipeline.foreground import estimate_foreground

RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Blue background, a large red square (the subject) and three small red specks."""
    image = Image.new("RGB", (400, 300), BLUE)
    image.paste(RED, (100, 80, 260, 220))
    for x, y in ((20, 20), (360, 30), (30, 260)):
        image.paste(RED, (x, y, x + 6, y + 6))
    path = tmp_path_factory.mktemp("scene") / "scene.png"
    image.save(path)
    return path


def opened(tmp_path, result):
    path = result.save(tmp_path)
    return path, Image.open(path)


def test_solid_colour_is_the_exact_alpha_blend(engine, photos, tmp_path):
    options = ExportOptions(output="color", background_color="#20a040")
    result = engine.process(photos["astronaut.jpg"], options)
    assert result.image.mode == "RGB"
    photo = np.asarray(Image.open(photos["astronaut.jpg"]).convert("RGB"), np.float64)
    a = result.alpha[..., None] / 255.0
    expected = np.rint(photo * a + np.array([0x20, 0xA0, 0x40]) * (1 - a))
    assert np.abs(np.asarray(result.image, np.float64) - expected).max() <= 1
    path, saved = opened(tmp_path, result)
    assert path.name == "astronaut-nobg.png" and saved.mode == "RGB"


def test_jpeg_needs_a_background_and_says_so():
    with pytest.raises(InputError, match="JPEG cannot store transparency"):
        ExportOptions(format="jpeg")
    assert ExportOptions(format="jpeg", output="matte").extension == ".jpg"


@pytest.mark.parametrize(
    ("options", "mode", "fmt", "suffix"),
    [
        (ExportOptions(format="webp"), "RGBA", "WEBP", "-nobg.webp"),
        (ExportOptions(format="webp", lossless=False, quality=80), "RGBA", "WEBP", "-nobg.webp"),
        (ExportOptions(format="jpeg", output="color"), "RGB", "JPEG", "-nobg.jpg"),
        (ExportOptions(format="jpeg", output="blur"), "RGB", "JPEG", "-nobg.jpg"),
        (ExportOptions(format="jpeg", output="matte"), "L", "JPEG", "-matte.jpg"),
        (ExportOptions(output="matte"), "L", "PNG", "-matte.png"),
    ],
)
def test_formats_open_with_the_promised_mode(engine, photos, tmp_path, options, mode, fmt, suffix):
    result = engine.process(photos["chelsea.png"], options)
    path, saved = opened(tmp_path, result)
    assert path.name == "chelsea" + suffix
    assert (saved.format, saved.mode, saved.size) == (fmt, mode, (451, 300))


def test_lossless_webp_keeps_the_pixels_and_lossy_is_smaller(engine, photos, tmp_path):
    lossless = engine.process(photos["chelsea.png"], ExportOptions(format="webp"))
    path, saved = opened(tmp_path, lossless)
    visible = lossless.alpha > 0
    np.testing.assert_array_equal(np.asarray(saved)[visible], np.asarray(lossless.image)[visible])
    lossy = engine.process(photos["chelsea.png"], ExportOptions(format="webp", lossless=False, quality=60))
    lossy_path = lossy.save(tmp_path, "lossy.webp")
    assert lossy_path.stat().st_size < path.stat().st_size / 2


def test_blur_background_is_the_blurred_photo_where_the_subject_is_not(engine, scene):
    result = engine.process(scene, ExportOptions(output="blur", blur_radius=3))
    photo = Image.open(scene).convert("RGB")
    blurred = np.asarray(photo.filter(ImageFilter.GaussianBlur(0.03 * 400)))
    clear = result.alpha == 0
    assert clear.sum() > 50_000
    np.testing.assert_array_equal(np.asarray(result.image)[clear], blurred[clear])


def test_background_image_is_scaled_to_cover(engine, scene, tmp_path):
    background = tmp_path / "bg.jpg"
    Image.fromarray(skimage.data.coffee()).save(background, quality=95)
    result = engine.process(scene, ExportOptions(output="image", background_image=background))
    cover = np.asarray(
        ImageOps.fit(Image.open(background).convert("RGB"), (400, 300), Image.Resampling.LANCZOS)
    )
    clear = result.alpha == 0
    np.testing.assert_array_equal(np.asarray(result.image)[clear], cover[clear])
    solid = result.alpha == 255
    assert (np.asarray(result.image)[solid] == RED).all()


def test_background_image_must_be_readable(engine, scene, tmp_path):
    bad = tmp_path / "bg.png"
    bad.write_text("no")
    with pytest.raises(InputError, match=r"'bg\.png' is not an image"):
        engine.process(scene, ExportOptions(output="image", background_image=bad))


@pytest.mark.parametrize(("margin", "unit"), [(0, "px"), (12, "px"), (5, "%")])
def test_crop_box_holds_the_subject_plus_the_margin(engine, photos, margin, unit):
    options = ExportOptions(output="matte", crop=True, crop_margin=margin, crop_margin_unit=unit)
    full = engine.process(photos["coffee.webp"])
    result = engine.process(photos["coffee.webp"], options)
    visible = np.argwhere(full.alpha >= crop.CROP_ALPHA)
    (top, left), (bottom, right) = visible.min(axis=0), visible.max(axis=0) + 1
    pad = margin if unit == "px" else int(np.ceil(margin / 100 * max(bottom - top, right - left)))
    assert result.image.size == (right - left + 2 * pad, bottom - top + 2 * pad)
    box = crop.Box(left - pad, top - pad, right + pad, bottom + pad)
    np.testing.assert_array_equal(np.asarray(result.image), crop.take(full.alpha, box))
    inner = np.asarray(result.image)[pad : pad + bottom - top, pad : pad + right - left]
    assert (inner >= crop.CROP_ALPHA).sum() == len(visible), "every visible pixel is inside the box"


def test_crop_with_aspect_ratio_and_transparent_padding(engine, scene):
    result = engine.process(
        scene, ExportOptions(crop=True, crop_margin=10, crop_margin_unit="px", aspect_ratio="1:1")
    )
    width, height = result.image.size
    assert width == height
    cutout = np.asarray(result.image)
    assert (cutout[..., 3] == 255).sum() >= 160 * 140 * 0.95


def test_crop_pads_outside_the_photo(engine, scene):
    """A margin larger than the room around the subject extends the canvas."""
    result = engine.process(
        scene,
        ExportOptions(output="color", crop=True, crop_margin=150, crop_margin_unit="px", remove_specks=True),
    )
    subject = crop.subject_box(result.alpha)
    assert abs(subject.width - 160) <= 2 and abs(subject.height - 140) <= 2
    assert result.image.size == (subject.width + 300, subject.height + 300)
    assert result.image.getpixel((0, 0)) == (255, 255, 255)


def test_remove_specks_keeps_the_subject_only(engine, scene):
    plain = engine.process(scene, ExportOptions(output="matte"))
    cleaned = engine.process(scene, ExportOptions(output="matte", remove_specks=True))
    for x, y in ((22, 22), (362, 32), (32, 262)):
        assert plain.alpha[y, x] > 200 and cleaned.alpha[y, x] == 0
    np.testing.assert_array_equal(cleaned.alpha[80:220, 100:260], plain.alpha[80:220, 100:260])


def test_hardness_threshold_and_contrast(engine, photos):
    soft = engine.process(photos["astronaut.jpg"]).alpha
    hard = engine.process(photos["astronaut.jpg"], ExportOptions(threshold=0.5)).alpha
    assert set(np.unique(hard)) <= {0, 255}
    np.testing.assert_array_equal(hard == 255, soft >= 128)
    steep = engine.process(photos["astronaut.jpg"], ExportOptions(contrast=4)).alpha.astype(int)
    middle = (soft > 64) & (soft < 192)
    assert np.abs(steep[middle] - 127.5).mean() > 2 * np.abs(soft[middle] - 127.5).mean()


def test_empty_matte_is_reported_not_saved(engine, tmp_path):
    path = tmp_path / "sky.png"
    Image.new("RGB", (200, 100), BLUE).save(path)
    with pytest.raises(EmptyResult, match=r"No subject found in 'sky\.png'"):
        engine.process(path)


def test_rotation_turns_the_input_first(engine, photos):
    upright = engine.process(photos["chelsea.png"])
    turned = engine.process(photos["chelsea.png"], ExportOptions(rotate=90))
    assert turned.image.size == (300, 451)
    np.testing.assert_array_equal(
        np.asarray(turned.image)[..., :3], np.rot90(np.asarray(upright.image)[..., :3], k=-1)
    )


def test_refine_edges_changes_only_soft_pixels(engine, photos):
    plain = engine.process(photos["astronaut.jpg"])
    refined = engine.process(photos["astronaut.jpg"], ExportOptions(refine_edges=True))
    np.testing.assert_array_equal(plain.alpha, refined.alpha)
    changed = np.any(np.asarray(plain.image) != np.asarray(refined.image), axis=-1)
    assert changed.any() and not changed[plain.alpha == 255].any()


def test_edge_clean_up_removes_the_old_background_colour():
    """A synthetic composite: the astronaut's true colours over pure green with a soft
    circular edge. Estimating the foreground takes most of the green out of the band."""
    truth = skimage.data.astronaut().astype(np.float64)
    yy, xx = np.mgrid[0:512, 0:512]
    a = np.clip((180 - np.hypot(xx - 256, yy - 256)) / 30, 0, 1)
    green = np.array([0, 255, 0])
    composite = np.rint(a[..., None] * truth + (1 - a[..., None]) * green).astype(np.uint8)
    alpha = np.rint(a * 255).astype(np.uint8)
    estimate = estimate_foreground(composite, alpha).astype(np.float64)
    band = (alpha > 0) & (alpha < 255)
    weight = a[band]

    def green_excess(colours):
        return np.average(colours[band][:, 1] - truth[band][:, 1], weights=weight)

    assert green_excess(composite.astype(np.float64)) > 20
    assert green_excess(estimate) < green_excess(composite.astype(np.float64)) / 3
    np.testing.assert_array_equal(estimate[alpha == 255], composite[alpha == 255])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"output": "sticker"}, "output must be one of"),
        ({"quality": 0}, "quality must be 1..100"),
        ({"threshold": 1.5}, "threshold must be 0"),
        ({"rotate": 45}, "rotate must be one of 0, 90, 180, 270"),
        ({"background_color": "blue-ish"}, "not a colour"),
        ({"aspect_ratio": "wide"}, "not of the form W:H"),
        ({"output": "image"}, "needs a background image"),
        ({"sharpen": True}, "Unknown option"),
    ],
)
def test_bad_options_name_the_problem(values, message):
    with pytest.raises(InputError, match=message):
        ExportOptions.build(**values)


def test_option_parsers():
    assert parse_color("#FF8000") == (255, 128, 0) == parse_color("rgba(255, 128, 0, 1)")
    assert parse_aspect("16:9") == pytest.approx(16 / 9) and parse_aspect("") is None
    assert ExportOptions.build(quality=80.0, rotate="90", background_image="") == ExportOptions(
        quality=80, rotate=90
    )
