"""Step 3: matte + original pixels -> the cutout."""

from __future__ import annotations

import numpy as np
from PIL import Image


def combine_alpha(matte: np.ndarray, own_alpha: np.ndarray | None) -> np.ndarray:
    """The cutout's alpha: the matte, limited by the file's own alpha.

    Multiplying keeps whatever the input made transparent transparent, whatever the
    model thinks of it.

    Args:
        matte: ``uint8`` ``(H, W)`` in 0..255.
        own_alpha: ``uint8`` ``(H, W)`` in 0..255, or ``None``.

    Returns:
        ``uint8`` ``(H, W)``: ``round(matte * own_alpha / 255)``.
    """
    if own_alpha is None:
        return matte
    product = matte.astype(np.uint16) * own_alpha + 127
    return (product // 255).astype(np.uint8)


def cutout(rgb: Image.Image, alpha: np.ndarray, own_alpha: np.ndarray | None = None) -> Image.Image:
    """RGBA image whose RGB are the original pixels and whose alpha is ``alpha``.

    Pixels the input itself had fully transparent get RGB 0, so content hidden under
    alpha 0 in the upload does not travel into the result file.

    Args:
        rgb: ``RGB`` image, (W, H).
        alpha: ``uint8`` ``(H, W)``.
        own_alpha: the input's alpha, ``uint8`` ``(H, W)`` or ``None``.

    Returns:
        ``RGBA`` image of the same size.
    """
    if own_alpha is None:
        image = rgb.copy()  # putalpha converts in place; the caller's image stays RGB
    else:
        pixels = np.where((own_alpha == 0)[..., None], 0, np.asarray(rgb)).astype(np.uint8)
        image = Image.fromarray(pixels, "RGB")
    # Pillow fills the alpha band in C: ~2x faster than stacking a (H, W, 4) array on 24 MP.
    image.putalpha(Image.fromarray(alpha, "L"))
    return image
