"""The parallel PNG writer: files any decoder reads back bit-exactly."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from rmbg_app.pipeline.png import write_png


def _chunks(data: bytes) -> dict[bytes, bytes]:
    chunks, position = {}, 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        assert struct.unpack(">I", data[position + 8 + length : position + 12 + length])[0] == zlib.crc32(
            kind + body
        )
        chunks[kind] = body
        position += 12 + length
    return chunks


@pytest.mark.parametrize(
    ("shape", "mode"),
    [((37, 53), "L"), ((37, 53, 2), "LA"), ((37, 53, 3), "RGB"), ((700, 900, 4), "RGBA")],
)
@pytest.mark.parametrize("threads", [1, 3])
def test_round_trip_is_exact(shape, mode, threads):
    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    buffer = io.BytesIO()
    write_png(buffer, pixels, level=1, threads=threads)
    data = buffer.getvalue()
    # zlib.decompress checks the stitched stream's Adler-32 as well.
    raw = zlib.decompress(_chunks(data)[b"IDAT"])
    assert len(raw) == shape[0] * (1 + int(np.prod(shape[1:])))
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == mode
        np.testing.assert_array_equal(np.asarray(image), pixels)


def test_multi_strip_photo_and_icc_profile(photos):
    rgba = np.asarray(Image.open(photos["astronaut-alpha.png"]).resize((2048, 2048)))
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    write_png(buffer, rgba, icc_profile=profile, threads=2)
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        assert image.info["icc_profile"] == profile
        np.testing.assert_array_equal(np.asarray(image), rgba)


def test_refuses_what_png_cannot_hold():
    with pytest.raises(ValueError, match="uint8"):
        write_png(io.BytesIO(), np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="colour type"):
        write_png(io.BytesIO(), np.zeros((4, 4, 5), np.uint8))
