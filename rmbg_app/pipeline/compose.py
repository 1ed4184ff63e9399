"""Step 4: matte + colours -> the output image (cutout, matte, or a new background)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from ..options import ExportOptions
from .crop import Box, take


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


def hide_transparent(rgb: np.ndarray, own_alpha: np.ndarray | None) -> np.ndarray:
    """RGB 0 where the input itself was fully transparent, so content hidden under
    alpha 0 in the upload does not travel into the result file."""
    if own_alpha is None:
        return rgb
    return np.where((own_alpha == 0)[..., None], 0, rgb).astype(np.uint8)


def blend(foreground: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``round(F a + B (1 - a))`` per channel, exact in integers.

    Args:
        foreground: ``uint8`` ``(H, W, 3)``.
        alpha: ``uint8`` ``(H, W)``.
        background: ``uint8`` ``(H, W, 3)`` or ``(3,)``.

    Returns:
        ``uint8`` ``(H, W, 3)``.
    """
    a = alpha.astype(np.uint32)[..., None]
    mixed = foreground.astype(np.uint32) * a + np.asarray(background, np.uint32) * (255 - a) + 127
    return (mixed // 255).astype(np.uint8)


def _blurred_photo(photo: np.ndarray, radius_percent: float) -> np.ndarray:
    radius = radius_percent / 100 * max(photo.shape[:2])
    return np.asarray(Image.fromarray(photo).filter(ImageFilter.GaussianBlur(radius)))


def _cover(background: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Scale and centre-crop ``background`` to fill ``size`` (CSS ``cover``)."""
    return np.asarray(ImageOps.fit(background.convert("RGB"), size, Image.Resampling.LANCZOS))


def render(
    options: ExportOptions,
    *,
    foreground: np.ndarray,
    alpha: np.ndarray,
    photo: np.ndarray,
    box: Box,
    background: Image.Image | None = None,
) -> Image.Image:
    """The output image for ``options.output``, cut to ``box``.

    Args:
        options: what to make.
        foreground: ``uint8`` ``(H, W, 3)``: the colours to show (the photo, or its
            estimated foreground colour).
        alpha: ``uint8`` ``(H, W)``.
        photo: ``uint8`` ``(H, W, 3)``: the photo, for the blurred background.
        box: the crop box (``Box.full`` for none); outside the photo, cutouts and
            mattes are padded transparent/black, backgrounds continue.
        background: the decoded background image for ``output="image"``.

    Returns:
        ``RGBA`` (cutout), ``L`` (matte) or ``RGB`` (backgrounds).
    """
    cut_alpha = take(alpha, box)
    if options.output == "matte":
        return Image.fromarray(cut_alpha, "L")
    cut_foreground = take(foreground, box)
    if options.output == "cutout":
        cutout = Image.fromarray(cut_foreground, "RGB")
        # Pillow fills the alpha band in C: ~3x faster than stacking (H, W, 4) on 24 MP.
        cutout.putalpha(Image.fromarray(cut_alpha, "L"))
        return cutout
    if options.output == "color":
        behind = np.array(options.color_rgb, np.uint8)
    elif options.output == "blur":
        behind = take(_blurred_photo(photo, options.blur_radius), box, fill=None)
    else:
        if background is None:
            raise ValueError("output='image' needs the background image")
        behind = _cover(background, (box.width, box.height))
    return Image.fromarray(blend(cut_foreground, cut_alpha, behind), "RGB")
