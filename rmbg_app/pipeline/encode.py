"""Step 4: the result image -> a PNG file named after the upload."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from . import png

# zlib level 2 in png.write_png (Up filter, deflate on all cores). 24 MP photo cutout on
# 2 shared cores (python -m bench.encode, docs/performance.md): 1.0 s and 22.3 MB, where
# Pillow takes 8.1 s / 19.8 MB at its default level 6 and 3.3 s / 23.1 MB at level 3
# (2.5x faster than 6, but 17% larger, not 5%). Level 1: 1.1 s / 23.0 MB; 3: 1.5 s / 21.0 MB.
PNG_COMPRESS_LEVEL = 2
OUTPUT_SUFFIX = "-nobg"
_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|]+")


def output_name(source_name: str, suffix: str = OUTPUT_SUFFIX, extension: str = ".png") -> str:
    """``photo.jpg`` -> ``photo-nobg.png``.

    The suffix keeps a result from ever taking the name of its input (``photo.png``).
    Directory parts and characters that are unsafe in file names are dropped.
    """
    stem = Path(source_name.replace("\\", "/")).stem
    stem = _UNSAFE.sub("_", stem).strip(" .") or "image"
    return f"{stem}{suffix}{extension}"


def encode_png(image: Image.Image, path: Path, icc_profile: bytes | None = None) -> Path:
    """Write ``image`` as PNG with the source's ICC profile.

    Raises:
        FileExistsError: ``path`` exists (results never overwrite a file).
    """
    with open(path, "xb") as handle:
        if image.mode in png.MODES:
            png.write_png(handle, np.asarray(image), icc_profile=icc_profile, level=PNG_COMPRESS_LEVEL)
        else:
            image.save(handle, "PNG", compress_level=PNG_COMPRESS_LEVEL, icc_profile=icc_profile)
    return path
