"""The bad-input catalogue: files users send that are odd, damaged, hostile or huge.

Each case builds its file's bytes and says what must happen: processed (with the size
and colours the result must have) or refused (with a pattern the message must match).
tests/test_bad_input.py sends every case through the real API; docs/hardening.md
tabulates the outcomes.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pillow_heif
import skimage.data
import tifffile
from PIL import Image

ASTRONAUT = skimage.data.astronaut()  # 512x512 RGB
CHELSEA = skimage.data.chelsea()  # 451x300 RGB
RED, BLUE = (230, 20, 20), (20, 20, 230)  # the fixture model's subject and background


@dataclass(frozen=True)
class Case:
    """One input of the catalogue.

    Attributes:
        id: short name, the test id.
        file_name: the name it is uploaded under.
        build: returns the file's bytes.
        refused: a regex the error message must match; ``None`` when it is processed.
        reference: the upright RGB the result must carry (``uint8`` ``(H, W, 3)``).
        rgb_tolerance: largest mean absolute difference from ``reference`` (lossy codecs);
            ``None``: colours not compared (damaged pixel data decodes to blotches).
        own_alpha: the file's own alpha, which limits the result's alpha.
    """

    id: str
    file_name: str
    build: Callable[[], bytes]
    refused: str | None = None
    reference: np.ndarray | None = None
    rgb_tolerance: float | None = 0.0
    own_alpha: np.ndarray | None = None


def encode(image: Image.Image | np.ndarray, fmt: str, **params) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of zeros: a few kB on disk, ``width*height`` pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def damaged_middle(data: bytes, count: int = 200) -> bytes:
    """``count`` bytes flipped a third of the way in: inside the compressed pixel data."""
    out = bytearray(data)
    start = len(out) // 3
    for index in range(start, start + count):
        out[index] ^= 0x55
    return bytes(out)


def tiff(array: np.ndarray, **params) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **params)
    return buffer.getvalue()


def animated(fmt: str, **params) -> bytes:
    frames = [Image.new("RGB", (64, 48), colour) for colour in (RED, BLUE)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **params)


def heic(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(image)).save(buffer, quality=90)
    return buffer.getvalue()


def alpha_png() -> tuple[bytes, np.ndarray]:
    rgba = np.dstack([ASTRONAUT, np.full((512, 512), 255, np.uint8)])
    rgba[:, :128, 3] = 0
    rgba[:, 128:192, 3] = 128
    return encode(Image.fromarray(rgba, "RGBA"), "PNG"), rgba[..., 3].copy()


def palette_png() -> tuple[bytes, np.ndarray, np.ndarray]:
    """Red left half opaque, green right half transparent by the palette's tRNS."""
    image = Image.new("P", (40, 20), 0)
    image.putpalette([*RED, 0, 255, 0] + [0] * 762)
    image.paste(1, (20, 0, 40, 20))
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :20], rgb[:, 20:] = RED, (0, 255, 0)
    alpha = np.zeros((20, 40), np.uint8)
    alpha[:, :20] = 255
    return encode(image, "PNG", transparency=1), rgb, alpha


def exif_with(orientation: int, **tags: object) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    for tag, value in tags.items():
        exif[int(tag.removeprefix("tag_"), 16)] = value
    return exif


_ALPHA_PNG, _OWN_ALPHA = alpha_png()
_PALETTE_PNG, _PALETTE_RGB, _PALETTE_ALPHA = palette_png()
JPEG_BYTES = encode(ASTRONAUT, "JPEG", quality=92)
PNG_BYTES = encode(CHELSEA, "PNG")
WEBP_BYTES = encode(ASTRONAUT, "WEBP", quality=80)
TIFF_BYTES = encode(CHELSEA, "TIFF")

CASES: list[Case] = [
    # --- damaged files ----------------------------------------------------------------
    *(
        Case(
            f"truncated-{kind}",
            f"cut.{suffix}",
            lambda data=data: data[: len(data) // 2],
            rf"'cut\.{suffix}' is damaged or truncated",
        )
        for kind, suffix, data in (
            ("jpeg", "jpg", JPEG_BYTES),
            ("png", "png", PNG_BYTES),
            ("webp", "webp", WEBP_BYTES),
            ("tiff", "tiff", TIFF_BYTES),
        )
    ),
    Case(
        "header-only-png",
        "head.png",
        lambda: PNG_BYTES[:40],
        r"'head\.png' looks like a PNG file but is damaged",
    ),
    Case(
        "corrupt-png",
        "bad-crc.png",
        lambda: damaged_middle(PNG_BYTES),
        r"'bad-crc\.png' is damaged or truncated",
    ),
    Case(
        "corrupt-jpeg",
        "broken.jpg",
        lambda: damaged_middle(JPEG_BYTES),
        r"'broken\.jpg' is damaged or truncated and cannot be decoded \(broken data stream",
    ),
    # JPEG, WEBP and TIFF decoders carry on through some damage in the pixel data: a
    # blotchy but complete picture, processed like any other.
    Case(
        "glitched-jpeg",
        "blotchy.jpg",
        lambda: damaged_middle(JPEG_BYTES, 16),
        reference=ASTRONAUT,
        rgb_tolerance=None,
    ),
    Case(
        "corrupt-webp",
        "blotchy.webp",
        lambda: damaged_middle(WEBP_BYTES),
        reference=ASTRONAUT,
        rgb_tolerance=None,
    ),
    Case(
        "corrupt-tiff", "blotchy.tiff", lambda: damaged_middle(TIFF_BYTES), reference=CHELSEA, rgb_tolerance=5
    ),
    # --- not images, empty ------------------------------------------------------------
    Case(
        "text-as-png",
        "notes.png",
        lambda: b"Meeting notes: bring the photos.\n" * 20,
        "not an image in a supported",
    ),
    Case(
        "pdf-as-jpg",
        "scan.jpg",
        lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        "not an image",
    ),
    Case("html-as-webp", "page.webp", lambda: b"<!doctype html><script>alert(1)</script>", "not an image"),
    Case("empty", "empty.jpg", lambda: b"", r"'empty\.jpg' is empty \(0 bytes\)"),
    # --- extreme sizes ----------------------------------------------------------------
    Case(
        "1x1",
        "dot.png",
        lambda: encode(Image.new("RGB", (1, 1), RED), "PNG"),
        reference=np.full((1, 1, 3), RED, np.uint8),
    ),
    Case(
        "1x20000",
        "line.png",
        lambda: encode(Image.new("RGB", (1, 20000), RED), "PNG"),
        reference=np.full((20000, 1, 3), RED, np.uint8),
    ),
    Case(
        "bomb-64mp",
        "bomb.png",
        lambda: png_bomb(8000, 8000),
        r"'bomb\.png' is 8000x8000 = 64\.0 megapixels; the limit \(RMBG_MAX_MEGAPIXELS\) is 40 megapixels",
    ),
    # Past Pillow's own guard (2 x 89.5 MP): refused by Pillow while it reads the header.
    Case(
        "bomb-225mp",
        "bigger-bomb.png",
        lambda: png_bomb(15000, 15000),
        r"'bigger-bomb\.png' declares more pixels than the limit of 40 megapixels \(RMBG_MAX_MEGAPIXELS\)",
    ),
    # --- formats and modes ------------------------------------------------------------
    Case("animated-gif", "anim.gif", lambda: animated("GIF"), reference=np.full((48, 64, 3), RED, np.uint8)),
    Case(
        "animated-webp",
        "anim.webp",
        lambda: animated("WEBP", lossless=True),
        reference=np.full((48, 64, 3), RED, np.uint8),
    ),
    Case("tiff-16bit-rgb", "deep.tiff", lambda: tiff(ASTRONAUT.astype(np.uint16) * 257), reference=ASTRONAUT),
    # Grey images decode (tones kept: tests/test_decode.py), but the fixture model's matte
    # depends on colour and finds no subject in grey: the answer is the empty-matte one.
    Case(
        "tiff-16bit-grey",
        "deep-grey.tif",
        lambda: tiff(skimage.data.camera().astype(np.uint16) * 257),
        r"No subject found in 'deep-grey\.tif'",
    ),
    Case(
        "tiff-float-grey",
        "float-grey.tiff",
        lambda: encode(Image.fromarray(skimage.data.camera().astype(np.float32) / 255, "F"), "TIFF"),
        r"No subject found in 'float-grey\.tiff'",
    ),
    Case(
        "tiff-float-rgb",
        "float-rgb.tiff",
        lambda: tiff(ASTRONAUT[::2, ::2].astype(np.float32) / 255),
        r"'float-rgb\.tiff' is a TIFF that cannot be read.*32-bit float RGB",
    ),
    Case(
        "cmyk-jpeg",
        "print.jpg",
        lambda: encode(Image.fromarray(ASTRONAUT).convert("CMYK"), "JPEG", quality=95),
        reference=ASTRONAUT,
        rgb_tolerance=4,
    ),
    Case("rgba-png", "alpha.png", lambda: _ALPHA_PNG, reference=ASTRONAUT, own_alpha=_OWN_ALPHA),
    Case(
        "palette-trns-png",
        "palette.png",
        lambda: _PALETTE_PNG,
        reference=_PALETTE_RGB,
        own_alpha=_PALETTE_ALPHA,
    ),
    Case(
        "huge-exif-jpeg",
        "exif.jpg",
        # 60 kB UserComment: nearly the whole 64 kB APP1 segment.
        lambda: encode(
            np.rot90(CHELSEA, 1).copy(),
            "JPEG",
            quality=95,
            exif=exif_with(6, tag_9286=b"ASCII\0\0\0" + b"x" * 60000),
        ),
        reference=CHELSEA,
        rgb_tolerance=3,
    ),
    Case(
        "huge-exif-png",
        "exif.png",
        # 1.5 MB ImageDescription in a PNG eXIf chunk (PNG has no 64 kB cap).
        # Stored turned left with orientation 6 ("turn right to view"): upright it is CHELSEA.
        lambda: encode(np.rot90(CHELSEA, 1).copy(), "PNG", exif=exif_with(6, tag_010e="y" * 1_500_000)),
        reference=CHELSEA,
    ),
    Case(
        "avif",
        "photo.avif",
        lambda: encode(ASTRONAUT, "AVIF", quality=90),
        reference=ASTRONAUT,
        rgb_tolerance=4,
    ),
    Case("heic", "IMG_0001.HEIC", lambda: heic(ASTRONAUT), reference=ASTRONAUT, rgb_tolerance=4),
    Case(
        "heic-damaged",
        "IMG_0002.heic",
        lambda: heic(ASTRONAUT)[:600],
        r"'IMG_0002\.heic' (is damaged or truncated|looks like a AVIF/HEIC file but is damaged)",
    ),
    # --- names --------------------------------------------------------------------------
    Case("unicode-name", "фото кота 🐱.png", lambda: PNG_BYTES, reference=CHELSEA),
    Case("cjk-name", "日本語の写真.jpg", lambda: JPEG_BYTES, reference=ASTRONAUT, rgb_tolerance=3),
    Case("odd-characters", "a b#%&=+;'[x].png", lambda: PNG_BYTES, reference=CHELSEA),
    Case("leading-dash", "-rf.png", lambda: PNG_BYTES, reference=CHELSEA),
    Case("long-name", "n" * 200 + ".png", lambda: PNG_BYTES, reference=CHELSEA),
    Case("already-a-result", "cat-nobg.png", lambda: PNG_BYTES, reference=CHELSEA),
    Case("wrong-extension", "really-a-png.jpg", lambda: PNG_BYTES, reference=CHELSEA),
    Case("no-extension", "photo", lambda: JPEG_BYTES, reference=ASTRONAUT, rgb_tolerance=3),
]
