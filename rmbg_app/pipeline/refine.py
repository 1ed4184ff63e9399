"""Step 3a: shape the matte: hardness (threshold or contrast) and speck removal."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# Alpha above which a pixel counts as part of an island for speck removal (~10 %):
# low enough that a wisp of hair stays attached to its subject.
ISLAND_ALPHA = 26
# Below this share of visible pixels the matte is "empty" (0.05 % of the image).
EMPTY_FRACTION = 5e-4
EMPTY_ALPHA = 128


def harden(alpha: np.ndarray, *, threshold: float = 0.0, contrast: float = 1.0) -> np.ndarray:
    """Harder edges on request; soft edges are the model's value, so both are off by default.

    Args:
        alpha: ``uint8`` ``(H, W)``.
        threshold: 0 = off; else ``alpha >= threshold * 255`` -> 255, the rest -> 0.
        contrast: 1 = off; else ``(alpha - 0.5) * contrast + 0.5``, clipped to 0..1.

    Returns:
        ``uint8`` ``(H, W)``.
    """
    if threshold > 0:
        return np.where(alpha >= round(threshold * 255), 255, 0).astype(np.uint8)
    if contrast != 1:
        stretched = (alpha.astype(np.float32) - 127.5) * contrast + 127.5
        return np.rint(np.clip(stretched, 0, 255)).astype(np.uint8)
    return alpha


def remove_specks(alpha: np.ndarray, *, keep_percent: float) -> np.ndarray:
    """Zero the matte's islands smaller than ``keep_percent`` % of the largest one.

    Islands are 8-connected regions of alpha >= ``ISLAND_ALPHA``; the largest always
    stays. Faint alpha below that level is kept only where it touches a kept island.

    Args:
        alpha: ``uint8`` ``(H, W)``.
        keep_percent: 0..100.

    Returns:
        ``uint8`` ``(H, W)``.
    """
    labels, count = ndimage.label(alpha >= ISLAND_ALPHA, structure=np.ones((3, 3), bool))
    if count <= 1:
        return alpha
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.zeros(count + 1, bool)
    keep[1:] = sizes >= sizes.max() * keep_percent / 100
    kept = keep[labels]
    # Faint edges belong to the island they surround: grow the kept mask a little.
    kept = ndimage.binary_dilation(kept, iterations=2) & (alpha > 0)
    return np.where(kept, alpha, 0).astype(np.uint8)


def is_empty(alpha: np.ndarray) -> bool:
    """True when almost nothing is foreground: fewer than ``EMPTY_FRACTION`` of the
    pixels reach alpha ``EMPTY_ALPHA``."""
    return np.count_nonzero(alpha >= EMPTY_ALPHA) < EMPTY_FRACTION * alpha.size
