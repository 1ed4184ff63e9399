"""Decoding what users send: formats, modes, orientation, profiles, and bad files."""

from __future__ import annotations

import io

import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageCms

from rmbg_app.errors import InputError
from rmbg_app.pipeline.decode import decode_image

ASTRONAUT = skimage.data.astronaut()


def decode(path, limit=100.0):
    return decode_image(path, max_megapixels=limit)


@pytest.mark.parametrize(
    ("suffix", "params"),
    [
        (".jpg", {"quality": 95}),
        (".png", {}),
        (".webp", {"lossless": True}),
        (".bmp", {}),
        (".tiff", {}),
        (".gif", {}),
    ],
)
def test_formats_give_rgb_of_the_right_size(tmp_path, suffix, params):
    path = tmp_path / f"astronaut{suffix}"
    Image.fromarray(ASTRONAUT).save(path, **params)
    decoded = decode(path)
    assert decoded.rgb.mode == "RGB" and decoded.size == (512, 512)
    assert decoded.alpha is None
    assert decoded.name == path.name
    if suffix in (".png", ".webp", ".bmp", ".tiff"):
        np.testing.assert_array_equal(np.asarray(decoded.rgb), ASTRONAUT)


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode(path)
    assert decoded.rgb.getpixel((5, 5)) == (255, 0, 0)


def test_greyscale_and_16_bit_greyscale_keep_their_tones(tmp_path):
    camera = skimage.data.camera()
    Image.fromarray(camera).save(tmp_path / "grey.png")
    Image.fromarray(camera.astype(np.uint16) * 257).save(tmp_path / "grey16.png")
    grey = np.asarray(decode(tmp_path / "grey.png").rgb)
    grey16 = np.asarray(decode(tmp_path / "grey16.png").rgb)
    np.testing.assert_array_equal(grey[..., 0], camera)
    # 16-bit is scaled to 8 bits, not clipped to white.
    np.testing.assert_array_equal(grey16, grey)


def test_float_tiff_is_scaled(tmp_path):
    camera = skimage.data.camera()
    Image.fromarray(camera.astype(np.float32) / 255, "F").save(tmp_path / "float.tiff")
    decoded = np.asarray(decode(tmp_path / "float.tiff").rgb)[..., 0]
    assert np.abs(decoded.astype(int) - camera).max() <= 1


def test_palette_with_transparency_gives_alpha(tmp_path):
    image = Image.new("P", (20, 10), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (10, 0, 20, 10))
    image.info["transparency"] = 1
    path = tmp_path / "palette.png"
    image.save(path, transparency=1)
    decoded = decode(path)
    assert decoded.alpha is not None
    assert (decoded.alpha[:, :10] == 255).all() and (decoded.alpha[:, 10:] == 0).all()


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(ASTRONAUT).convert("CMYK").save(path, quality=95)
    decoded = decode(path)
    assert decoded.rgb.mode == "RGB"
    assert np.abs(np.asarray(decoded.rgb, int) - ASTRONAUT).mean() < 4


def test_rgb_icc_profile_is_kept_and_a_non_rgb_profile_is_dropped(tmp_path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(ASTRONAUT).save(tmp_path / "srgb.jpg", icc_profile=srgb)
    assert decode(tmp_path / "srgb.jpg").icc_profile == srgb
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    Image.fromarray(skimage.data.camera()).save(tmp_path / "grey.png", icc_profile=lab)
    assert decode(tmp_path / "grey.png").icc_profile is None


def test_exif_orientation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 270 CW to view
    path = tmp_path / "rotated.jpg"
    Image.fromarray(ASTRONAUT[:, :300]).transpose(Image.Transpose.ROTATE_270).save(path, exif=exif)
    assert decode(path).size == (300, 512)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.png", b"", "is empty"),
        ("notes.png", b"hello, this is text", "not an image in a supported format"),
        ("script.jpg", b"%!PS-Adobe-3.0 EPSF-3.0\n", "not an image in a supported format"),
    ],
)
def test_bad_files_are_refused_with_a_reason(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        decode(path)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_files_are_refused(tmp_path, fmt):
    buffer = io.BytesIO()
    Image.fromarray(ASTRONAUT).save(buffer, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InputError, match=r"damaged or truncated|not an image"):
        decode(path)


def test_megapixel_limit_is_checked_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (4000, 3000)).save(path)
    with pytest.raises(
        InputError, match=r"4000x3000 = 12.0 megapixels; the limit \(RMBG_MAX_MEGAPIXELS\) is 10"
    ):
        decode(path, limit=10)
    assert decode(path, limit=12).size == (4000, 3000)
