"""Benchmark inputs: one real photo from scikit-image at several sizes, saved as JPEG."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# Sensor-like noise, in 0..255 levels. An upscaled 451x300 photo is far smoother than a
# real 24 MP one, which would flatter the PNG encoder; this puts detail back at full size.
NOISE_LEVELS = 3.0
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Photo:
    """A benchmark input file.

    Attributes:
        path: the JPEG file.
        size: (width, height) in pixels.
    """

    path: Path
    size: tuple[int, int]

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6

    @property
    def label(self) -> str:
        return f"{self.megapixels:.2g} MP {self.size[0]}x{self.size[1]}"


def source_photo() -> Image.Image:
    """scikit-image's ``chelsea`` (a cat on a background, 451x300 RGB, about 3:2)."""
    import skimage.data

    return Image.fromarray(skimage.data.chelsea())


def size_for(megapixels: float, aspect: float) -> tuple[int, int]:
    """(width, height) with about ``megapixels`` million pixels and ``width/height = aspect``."""
    height = max(1, round(math.sqrt(megapixels * 1e6 / aspect)))
    return max(1, round(height * aspect)), height


def make_photos(folder: Path, megapixels: list[float], seed: int = 0) -> list[Photo]:
    """Write the source photo resized (Lanczos) to each size, with noise, as JPEG.

    Args:
        folder: where the files go (``photo-<MP>mp.jpg``).
        megapixels: target sizes in millions of pixels.

    Returns:
        one ``Photo`` per size, in the order given.
    """
    source = source_photo()
    aspect = source.width / source.height
    rng = np.random.default_rng(seed)
    photos = []
    for mp in megapixels:
        size = size_for(mp, aspect)
        pixels = np.asarray(source.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
        pixels += rng.normal(0.0, NOISE_LEVELS, pixels.shape).astype(np.float32)
        path = folder / f"photo-{mp:g}mp.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=JPEG_QUALITY)
        photos.append(Photo(path, size))
    return photos
