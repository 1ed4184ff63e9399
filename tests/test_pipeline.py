"""The pipeline on real photos with the fixture model: decode -> matte -> compose -> encode."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image, ImageCms
from torchvision import transforms

import fixture_model
from rmbg_app.options import ExportOptions
from rmbg_app.pipeline import encode, matte


def upright(path) -> Image.Image:
    from PIL import ImageOps

    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


@pytest.mark.parametrize(
    "name", ["astronaut.jpg", "chelsea.png", "coffee.webp", "rocket.bmp", "motorcycle.tiff"]
)
def test_cutout_keeps_pixels_and_puts_the_matte_on_them(engine, photos, name):
    result = engine.process(photos[name])
    original = upright(photos[name])
    assert result.image.mode == "RGBA"
    assert result.image.size == original.size
    cutout = np.asarray(result.image)
    np.testing.assert_array_equal(cutout[..., :3], np.asarray(original))
    expected = fixture_model.expected_alpha(original)
    difference = np.abs(cutout[..., 3].astype(int) - expected)
    assert difference.max() <= 1, f"alpha off by up to {difference.max()}"
    # The fixture's matte varies across these photos: a constant would not test placement.
    assert expected.std() > 10


def test_exif_orientation_is_applied_before_the_matte(engine, photos):
    result = engine.process(photos["chelsea-exif.jpg"])
    chelsea = upright(photos["chelsea-exif.jpg"])
    assert result.image.size == (451, 300) == chelsea.size
    stored = Image.open(photos["chelsea-exif.jpg"])
    assert stored.size == (300, 451), "the file itself is stored rotated"
    expected = fixture_model.expected_alpha(chelsea)
    assert np.abs(np.asarray(result.alpha, int) - expected).max() <= 1


def test_own_alpha_stays_transparent_and_hidden_pixels_do_not_leak(engine, photos):
    source = Image.open(photos["astronaut-alpha.png"])
    own_alpha = np.asarray(source)[..., 3]
    result = engine.process(photos["astronaut-alpha.png"])
    cutout = np.asarray(result.image)
    assert (cutout[:, :128, 3] == 0).all()
    assert (cutout[:, :128, :3] == 0).all(), "RGB under the input's alpha 0 must not travel"
    assert (cutout[..., 3] <= own_alpha).all()
    expected = fixture_model.expected_alpha(source.convert("RGB"), own_alpha)
    assert np.abs(cutout[..., 3].astype(int) - expected).max() <= 1
    np.testing.assert_array_equal(cutout[:, 128:, :3], np.asarray(source)[:, 128:, :3])


def test_logo_with_alpha_and_palette_gif(engine, photos):
    logo = engine.process(photos["logo.png"])
    own = np.asarray(Image.open(photos["logo.png"]))[..., 3]
    assert (np.asarray(logo.image)[..., 3][own == 0] == 0).all()
    gif = engine.process(photos["chelsea-palette.gif"])
    assert gif.image.size == (451, 300)
    expected = fixture_model.expected_alpha(Image.open(photos["chelsea-palette.gif"]).convert("RGB"))
    assert np.abs(np.asarray(gif.alpha, int) - expected).max() <= 1


def test_preprocess_is_the_model_cards_transform():
    image = Image.fromarray(skimage.data.coffee())
    card = transforms.Compose(
        [
            transforms.Resize((1024, 1024)),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    torch.testing.assert_close(matte.preprocess(image), card(image).unsqueeze(0), rtol=0, atol=0)


def test_matte_matches_the_model_cards_8bit_path_within_2_levels(engine, photos):
    """The card: 8-bit (truncated) matte, PIL resize, putalpha. We resize the float matte
    and round once; the two differ by at most 2/255 and ours is not biased darker."""
    image = upright(photos["rocket.bmp"])
    x = matte.preprocess(image)
    prediction = matte.forward(engine.model, x)
    card_matte = transforms.ToPILImage()(prediction[0]).resize(image.size)
    card = image.copy()
    card.putalpha(card_matte)
    ours = engine.process(photos["rocket.bmp"])
    difference = np.asarray(ours.alpha, int) - np.asarray(card)[..., 3]
    assert np.abs(difference).max() <= 2
    assert 0 <= difference.mean() <= 1, "truncation makes the card's matte darker by ~0.5 level"


def test_png_output_is_named_after_the_input_and_keeps_the_icc_profile(engine, tmp_path):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = tmp_path / "Holiday photo.jpg"
    Image.fromarray(skimage.data.astronaut()).save(source, icc_profile=profile)
    result = engine.process(source)
    out = tmp_path / "out"
    out.mkdir()
    path = result.save(out)
    assert path.name == "Holiday photo-nobg.png"
    with Image.open(path) as saved:
        assert saved.format == "PNG" and saved.mode == "RGBA"
        assert saved.info.get("icc_profile") == profile
    with pytest.raises(FileExistsError):
        result.save(out)
    matte_path = engine.process(source, ExportOptions(output="matte")).save(out)
    assert matte_path.name == "Holiday photo-matte.png"
    with Image.open(matte_path) as saved:
        assert saved.mode == "L"
        np.testing.assert_array_equal(np.asarray(saved), result.alpha)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("photo.jpg", "photo-nobg.png"),
        ("photo.png", "photo-nobg.png"),
        ("archive.tar.gz", "archive.tar-nobg.png"),
        ("../../etc/passwd", "passwd-nobg.png"),
        ("C:\\Users\\me\\shot.JPG", "shot-nobg.png"),
        ('we:ird*na"me?.png', "we_ird_na_me_-nobg.png"),
        ("ünïcødé 照片.webp", "ünïcødé 照片-nobg.png"),
        (".png", "png-nobg.png"),  # no hidden dot-files
        ("...", "image-nobg.png"),
    ],
)
def test_output_name(source, expected):
    assert encode.output_name(source) == expected
