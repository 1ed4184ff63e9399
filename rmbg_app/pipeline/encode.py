"""Step 5: the output image -> a file named after the upload (PNG, WEBP or JPEG)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from ..options import ExportOptions
from . import png

# zlib level 2 in png.write_png (Up filter, deflate on all cores). 24 MP photo cutout on
# 2 shared cores (python -m bench.encode, docs/performance.md): 1.0 s and 22.3 MB, where
# Pillow takes 8.1 s / 19.8 MB at its default level 6 and 3.3 s / 23.1 MB at level 3
# (2.5x faster than 6, but 17% larger, not 5%). Level 1: 1.1 s / 23.0 MB; 3: 1.5 s / 21.0 MB.
PNG_COMPRESS_LEVEL = 2
# libwebp effort 0..6 (Pillow's "method"): 4 is its default trade of speed for size.
WEBP_METHOD = 4
OUTPUT_SUFFIX = "-nobg"
MATTE_SUFFIX = "-matte"
_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|]+")


def output_name(source_name: str, suffix: str = OUTPUT_SUFFIX, extension: str = ".png") -> str:
    """``photo.jpg`` -> ``photo-nobg.png``.

    The suffix keeps a result from ever taking the name of its input (``photo.png``).
    Directory parts and characters that are unsafe in file names are dropped.
    """
    stem = Path(source_name.replace("\\", "/")).stem
    stem = _UNSAFE.sub("_", stem).strip(" .") or "image"
    return f"{stem}{suffix}{extension}"


def name_for(source_name: str, options: ExportOptions) -> str:
    """The result's file name for these options (``-matte`` for mattes, else ``-nobg``)."""
    suffix = MATTE_SUFFIX if options.output == "matte" else OUTPUT_SUFFIX
    return output_name(source_name, suffix, options.extension)


def encode(image: Image.Image, path: Path, options: ExportOptions, icc_profile: bytes | None = None) -> Path:
    """Write ``image`` to a new file at ``path``; see ``write``.

    Raises:
        FileExistsError: ``path`` exists (results never overwrite a file).
    """
    with open(path, "xb") as handle:
        write(image, handle, options, icc_profile)
    return path


def write(
    image: Image.Image, handle: BinaryIO, options: ExportOptions, icc_profile: bytes | None = None
) -> None:
    """Encode ``image`` in ``options.format`` into an open binary file, with the
    source's ICC profile. Mattes carry no profile (they are data, not colour)."""
    if icc_profile and image.mode == "L":
        icc_profile = None
    if options.format == "png" and image.mode in png.MODES:
        png.write_png(handle, np.asarray(image), icc_profile=icc_profile, level=PNG_COMPRESS_LEVEL)
        return
    params: dict[str, object] = {}
    if icc_profile:
        params["icc_profile"] = icc_profile
    if options.format == "png":
        params["compress_level"] = PNG_COMPRESS_LEVEL
    elif options.format == "webp":
        params |= {"lossless": options.lossless, "quality": options.quality, "method": WEBP_METHOD}
    else:
        params["quality"] = options.quality
    image.save(handle, options.format.upper(), **params)
