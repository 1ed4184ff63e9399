"""Step 1: an uploaded file -> upright RGB pixels, the file's own alpha, its ICC profile."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from ..errors import InputError

# HEIC/HEIF (the iPhone's default photo format): Pillow has no decoder of its own;
# pillow-heif (libheif) adds the "HEIF" format to Image.open. AVIF is Pillow's own.
pillow_heif.register_heif_opener()

# Formats opened on purpose. Others Pillow knows (EPS runs Ghostscript, PSD, ...) are
# refused so an upload cannot reach a plug-in we never meant to expose.
# JPEG covers MPO (multi-picture JPEG from cameras); AVIF needs a Pillow built with it.
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "DIB", "TIFF", "GIF", "ICO", "PPM", "TGA", "AVIF", "HEIF")
FORMAT_NAMES = "JPEG, PNG, WEBP, BMP, TIFF, GIF, AVIF, HEIC, ICO, PPM, TGA"
# Signatures of the accepted formats, to tell a damaged header ("looks like a PNG")
# from a file that is no image at all. TIFF is checked on its own (see below).
_SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
}
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")


def _open_formats() -> list[str]:
    Image.init()
    return [name for name in FORMATS if name in Image.OPEN]


# What Pillow's decoders raise on damaged data: OSError ("image file is truncated"),
# SyntaxError (bad headers), ValueError, and RuntimeError from the AVIF and HEIF
# plug-ins ("Failed to decode frame 0"), EOFError from the HEIF one.
_DECODER_ERRORS = (OSError, SyntaxError, ValueError, RuntimeError, EOFError)

_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


@dataclass(frozen=True)
class DecodedImage:
    """An upload ready for the model.

    Attributes:
        rgb: ``RGB`` image, 8 bits per channel, EXIF orientation applied.
        alpha: the file's own alpha as ``uint8`` ``(H, W)`` in 0..255, or ``None``.
        icc_profile: the RGB ICC profile to embed in the result, or ``None``.
        name: the original file name (no directories).
        format: the Pillow format name (``JPEG``, ``PNG``, ...).
    """

    rgb: Image.Image
    alpha: np.ndarray | None
    icc_profile: bytes | None
    name: str
    format: str

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.rgb.size

    def model_view(self) -> Image.Image:
        """The RGB the model sees: the image as a viewer shows it, over white.

        The colour under fully transparent pixels is arbitrary (often black, sometimes
        leftover content), so the model gets the flattened image rather than
        ``convert("RGB")``'s raw channels, which is what the model card's snippet feeds.
        """
        if self.alpha is None:
            return self.rgb
        white = Image.new("RGB", self.rgb.size, (255, 255, 255))
        return Image.composite(self.rgb, white, Image.fromarray(self.alpha, "L"))


def _scale_to_8bit(image: Image.Image) -> Image.Image:
    """Greyscale with 16-bit int or float samples -> ``L``.

    Pillow's own ``convert("L")`` clips these at 255, which turns most 16-bit photos
    white. Integer samples above 255 are taken as 16-bit (0..65535); float samples are
    taken as 0..1 when none exceeds 1, else as 0..255.
    """
    samples = np.asarray(image, dtype=np.float64)
    peak = float(samples.max(initial=0.0))
    if image.mode == "F":
        scale = 255.0 if peak <= 1.0 else 1.0
    else:
        scale = 255.0 / 65535.0 if image.mode.startswith("I;16") or peak > 255 else 1.0
    return Image.fromarray(np.clip(np.rint(samples * scale), 0, 255).astype(np.uint8), "L")


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """Convert with the file's CMYK profile when it has one (press CMYK is far from
    Pillow's naive formula), then tag the result as sRGB."""
    if icc:
        try:
            srgb = ImageCms.createProfile("sRGB")
            rgb = ImageCms.profileToProfile(
                image, ImageCms.ImageCmsProfile(io.BytesIO(icc)), srgb, outputMode="RGB"
            )
            return rgb, ImageCms.ImageCmsProfile(srgb).tobytes()
        except (ImageCms.PyCMSError, OSError):
            pass
    return image.convert("RGB"), None


def _rgb_profile(icc: bytes | None) -> bytes | None:
    """Keep an ICC profile only if it describes RGB data (a grey or CMYK profile would be
    wrong on an RGB PNG)."""
    if not icc:
        return None
    try:
        space = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space
    except (ImageCms.PyCMSError, OSError):
        return None
    return icc if space.strip() == "RGB" else None


def _unidentified_message(path: Path, name: str) -> str:
    """Why Pillow could not identify the file. A file with a known signature gets a
    message of its own: "not an image" would be wrong for a damaged PNG, or for a TIFF
    whose pixel layout Pillow cannot read (float RGB, ...)."""
    with open(path, "rb") as file:
        head = file.read(16)
    if head[:4] in _TIFF_MAGIC:
        return (
            f"{name!r} is a TIFF that cannot be read: it is damaged or truncated, or its pixel "
            "layout is not supported (for example 32-bit float RGB); save it as an 8- or 16-bit "
            "RGB TIFF, PNG or JPEG."
        )
    riff_webp = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    iso_media = head[4:8] == b"ftyp"  # AVIF and HEIC
    known = next((fmt for sig, fmt in _SIGNATURES.items() if head.startswith(sig)), None)
    if known or riff_webp or iso_media:
        kind = known or ("WEBP" if riff_webp else "AVIF/HEIC")
        return f"{name!r} looks like a {kind} file but is damaged or truncated and cannot be decoded."
    return f"{name!r} is not an image in a supported format ({FORMAT_NAMES})."


_ROTATIONS = {
    0: None,
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


def decode_image(
    path: str | Path, *, name: str | None = None, max_megapixels: float, rotate: int = 0
) -> DecodedImage:
    """Read an image file into upright RGB plus its own alpha.

    Animated GIF/WEBP give their first frame; palette, greyscale, 16-bit, float and
    CMYK images become 8-bit RGB; transparency (alpha channel, palette or tRNS
    transparency) is returned separately in ``alpha``.

    Args:
        path: the file to read.
        name: the user's file name, for messages and the output name (default: path's).
        max_megapixels: refuse images with more pixels than this, before decoding them.
        rotate: clockwise degrees (0, 90, 180, 270) applied after EXIF orientation.

    Raises:
        InputError: missing, empty, not an image, unsupported format, damaged, or too large.
    """
    path = Path(path)
    name = name or path.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        # An API call may name an upload the server has since swept from its cache.
        raise InputError(f"{name!r} is not on the server (any more); upload it again.") from None
    if size == 0:
        raise InputError(f"{name!r} is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below replaces Pillow's bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=_open_formats()) as image:
                pixels = image.width * image.height
                if pixels > max_megapixels * 1e6:
                    raise InputError(
                        f"{name!r} is {image.width}x{image.height} = {pixels / 1e6:.1f} megapixels; "
                        f"the limit (RMBG_MAX_MEGAPIXELS) is {max_megapixels:g} megapixels."
                    )
                image.seek(0)
                image.load()
                file_format = image.format or "unknown"
                icc = image.info.get("icc_profile")
                upright = ImageOps.exif_transpose(image)
                if _ROTATIONS[rotate] is not None:
                    upright = upright.transpose(_ROTATIONS[rotate])
    except UnidentifiedImageError:
        raise InputError(_unidentified_message(path, name)) from None
    except Image.DecompressionBombError:
        raise InputError(
            f"{name!r} declares more pixels than the limit of {max_megapixels:g} megapixels "
            "(RMBG_MAX_MEGAPIXELS)."
        ) from None
    except _DECODER_ERRORS as exc:
        reason = str(exc).strip()  # libheif's messages end in a newline
        raise InputError(f"{name!r} is damaged or truncated and cannot be decoded ({reason}).") from None

    alpha = None
    if upright.mode in ("I", "F") or upright.mode.startswith("I;16"):
        upright = _scale_to_8bit(upright)
    if upright.mode in _ALPHA_MODES or "transparency" in upright.info:
        rgba = upright.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"))
        rgb = rgba.convert("RGB")
    elif upright.mode == "CMYK":
        rgb, icc = _cmyk_to_rgb(upright, icc)
    else:
        # exif_transpose already returned a copy; converting RGB to RGB would copy again.
        rgb = upright if upright.mode == "RGB" else upright.convert("RGB")
    return DecodedImage(rgb, alpha, _rgb_profile(icc), Path(name).name, file_format)
