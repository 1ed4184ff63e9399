"""Step 3c: the crop box around the subject (margin, optional aspect ratio)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# A pixel belongs to the subject for cropping from alpha 13 (~5 %) up: faint hair is
# inside the box, a barely visible haze around the subject is not.
CROP_ALPHA = 13


@dataclass(frozen=True)
class Box:
    """Pixel box, ``right``/``bottom`` exclusive. It may reach beyond the photo: the
    outside is padded (transparent, or background) when the image is cut out."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @classmethod
    def full(cls, shape: tuple[int, ...]) -> Box:
        return cls(0, 0, shape[1], shape[0])


def subject_box(alpha: np.ndarray) -> Box | None:
    """Tightest box holding every pixel with alpha >= ``CROP_ALPHA``, or ``None``."""
    rows = np.flatnonzero((alpha >= CROP_ALPHA).any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero((alpha[rows[0] : rows[-1] + 1] >= CROP_ALPHA).any(axis=0))
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def crop_box(alpha: np.ndarray, *, margin: float, unit: str, aspect: float | None) -> Box:
    """The box to cut: the subject, plus ``margin`` on every side, grown to ``aspect``.

    Args:
        alpha: ``uint8`` ``(H, W)``.
        margin: in px, or in % of the subject box's longer side (``unit="%"``).
        unit: ``"px"`` or ``"%"``.
        aspect: width/height to reach by growing the shorter dimension, centred on
            the subject; ``None`` keeps the box's own shape.

    Returns:
        the box (the whole photo when nothing reaches ``CROP_ALPHA``).
    """
    subject = subject_box(alpha)
    if subject is None:
        return Box.full(alpha.shape)
    pad = margin if unit == "px" else margin / 100 * max(subject.width, subject.height)
    pad = math.ceil(pad)
    box = Box(subject.left - pad, subject.top - pad, subject.right + pad, subject.bottom + pad)
    if aspect is None:
        return box
    width, height = box.width, box.height
    if width / height < aspect:
        width = math.ceil(height * aspect)
    else:
        height = math.ceil(width / aspect)
    left = box.left - (width - box.width) // 2
    top = box.top - (height - box.height) // 2
    return Box(left, top, left + width, top + height)


def take(array: np.ndarray, box: Box, *, fill: int | None = 0) -> np.ndarray:
    """Cut ``box`` out of ``array`` (``(H, W)`` or ``(H, W, C)``), padding what lies
    outside the array with ``fill``, or with the nearest edge pixel when ``fill`` is None."""
    height, width = array.shape[:2]
    if box == Box.full(array.shape):
        return array
    if fill is None:
        rows = np.clip(np.arange(box.top, box.bottom), 0, height - 1)
        cols = np.clip(np.arange(box.left, box.right), 0, width - 1)
        return array[rows[:, None], cols[None, :]]
    out = np.full((box.height, box.width, *array.shape[2:]), fill, dtype=array.dtype)
    top, left = max(box.top, 0), max(box.left, 0)
    bottom, right = min(box.bottom, height), min(box.right, width)
    if top < bottom and left < right:
        inside = (slice(top - box.top, bottom - box.top), slice(left - box.left, right - box.left))
        out[inside] = array[top:bottom, left:right]
    return out
