"""Property: whatever bytes arrive, decode_image returns a valid DecodedImage or raises
InputError (whose message the user sees), never any other exception.

Two sources of bytes: random bytes, and real images in every accepted format with
random damage (bit flips, cut, spliced, repeated chunks), which reach far deeper into
the decoders than random bytes do.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
import skimage.data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from rmbg_app.errors import InputError
from rmbg_app.pipeline.decode import DecodedImage, decode_image

MAX_MEGAPIXELS = 4.0


def _seed_images() -> dict[str, bytes]:
    """Small real images, one per format and mode family the decoder handles."""
    photo = Image.fromarray(skimage.data.astronaut()).resize((48, 40))
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    frames = [photo, photo.rotate(90)]

    def encode(image: Image.Image, fmt: str, **params) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **params)
        return buffer.getvalue()

    heif = pillow_heif.from_pillow(photo)
    heic = io.BytesIO()
    heif.save(heic, quality=50)
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "jpeg": encode(photo, "JPEG", quality=80, exif=exif),
        "cmyk.jpeg": encode(photo.convert("CMYK"), "JPEG"),
        "png": encode(rgba, "PNG"),
        "palette.png": encode(photo.quantize(16), "PNG", transparency=3),
        "grey16.png": encode(Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257), "PNG"),
        "webp": encode(rgba, "WEBP", quality=60),
        "anim.webp": encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "gif": encode(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0),
        "tiff": encode(photo, "TIFF", compression="tiff_deflate"),
        "float.tiff": encode(Image.fromarray(np.asarray(photo.convert("L"), np.float32) / 255), "TIFF"),
        "bmp": encode(photo, "BMP"),
        "avif": encode(photo, "AVIF", quality=50),
        "heic": heic.getvalue(),
        "ico": encode(photo, "ICO", sizes=[photo.size]),
        "tga": encode(photo, "TGA"),
    }


SEEDS = _seed_images()


@st.composite
def damaged(draw) -> bytes:
    """A real image with one to four kinds of damage applied in turn."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "cut", "splice", "repeat", "zero"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[at:]
        elif kind == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 256))] * draw(st.integers(1, 8))
        else:
            data[at : at + draw(st.integers(1, 64))] = bytes(64)
    return bytes(data)


def check_decodes_or_refuses(content: bytes, suffix: str = ".img") -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(content)
        try:
            decoded = decode_image(path, max_megapixels=MAX_MEGAPIXELS)
        except InputError as exc:
            assert str(exc).startswith("'upload"), exc  # names the file
            return
    assert isinstance(decoded, DecodedImage)
    assert decoded.rgb.mode == "RGB"
    width, height = decoded.size
    assert 0 < width * height <= MAX_MEGAPIXELS * 1e6
    if decoded.alpha is not None:
        assert decoded.alpha.dtype == np.uint8 and decoded.alpha.shape == (height, width)
    assert decoded.icc_profile is None or isinstance(decoded.icc_profile, bytes)


# 400 examples per property keep CI at a few seconds; FUZZ_EXAMPLES=20000 for a long hunt.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_decode_or_are_refused(content):
    check_decodes_or_refuses(content)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_image_decodes(tmp_path, name):
    """The damage starts from images that decode, in every format."""
    path = tmp_path / f"seed.{name}"
    path.write_bytes(SEEDS[name])
    assert decode_image(path, max_megapixels=MAX_MEGAPIXELS).size in ((48, 40), (40, 48))


@FUZZ
@given(damaged())
def test_damaged_real_images_decode_or_are_refused(content):
    check_decodes_or_refuses(content)
