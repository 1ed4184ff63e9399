"""The export options: one typed object shared by the UI, the API and the CLI."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal, get_args

from .errors import InputError

Output = Literal["cutout", "matte", "color", "blur", "image"]
Format = Literal["png", "webp", "jpeg"]
MarginUnit = Literal["%", "px"]

OUTPUTS: tuple[Output, ...] = get_args(Output)
FORMATS: tuple[Format, ...] = get_args(Format)
MARGIN_UNITS: tuple[MarginUnit, ...] = get_args(MarginUnit)
ROTATIONS = (0, 90, 180, 270)
OUTPUT_LABELS: dict[Output, str] = {
    "cutout": "Cutout (transparent background)",
    "matte": "Matte only (greyscale mask)",
    "color": "Subject on a solid colour",
    "blur": "Subject on a blurred copy of the photo",
    "image": "Subject on a background image",
}
_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{6})$")
_RGB_COLOR = re.compile(r"^rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*[\d.]+\s*)?\)$")
_ASPECT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:x/]\s*(\d+(?:\.\d+)?)\s*$")


def parse_color(value: str) -> tuple[int, int, int]:
    """``#rrggbb``, ``rrggbb`` or ``rgb(r, g, b)`` (what Gradio's colour picker sends)
    -> an (r, g, b) tuple of 0..255 ints.

    Raises:
        InputError: any other text.
    """
    text = value.strip()
    if match := _HEX_COLOR.match(text):
        digits = match.group(1)
        return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    if match := _RGB_COLOR.match(text):
        channels = tuple(round(float(c)) for c in match.groups())
        if all(0 <= c <= 255 for c in channels):
            return channels  # type: ignore[return-value]
    raise InputError(f"Background colour {value!r} is not a colour; use #rrggbb, e.g. #ffffff.")


def parse_aspect(value: str) -> float | None:
    """``"4:5"`` / ``"16x9"`` / ``"1/1"`` -> width/height; ``""`` or ``"free"`` -> ``None``.

    Raises:
        InputError: malformed or zero.
    """
    text = value.strip().lower()
    if text in ("", "free", "none", "original"):
        return None
    match = _ASPECT.match(text)
    if not match or float(match.group(1)) <= 0 or float(match.group(2)) <= 0:
        raise InputError(f"Aspect ratio {value!r} is not of the form W:H, e.g. 1:1 or 4:5.")
    return float(match.group(1)) / float(match.group(2))


@dataclass(frozen=True)
class ExportOptions:
    """What to make of the matte, and how to write it.

    Attributes:
        output: ``cutout`` (RGBA), ``matte`` (greyscale), or the subject over a
            background: ``color`` (solid ``background_color``), ``blur`` (the photo
            blurred by ``blur_radius`` % of its longer side) or ``image``
            (``background_image`` scaled to cover).
        format: ``png``, ``webp`` or ``jpeg``. JPEG has no alpha: it needs a background
            (or the matte).
        lossless: WEBP only: lossless (default) or lossy with ``quality``.
        quality: JPEG and lossy WEBP quality, 1..100.
        background_color: ``#rrggbb`` for ``output="color"``.
        background_image: a file for ``output="image"``.
        blur_radius: Gaussian radius in % of the photo's longer side, for ``output="blur"``.
        threshold: 0 = off; else a binary matte: alpha >= threshold (0..1) becomes opaque.
        contrast: 1 = off; > 1 steepens the matte around 0.5 (harder edges).
        refine_edges: estimate the foreground colour so hair and fur lose the old
            background's tint (see ``pipeline/foreground.py``).
        remove_specks: drop matte islands smaller than ``speck_percent`` of the largest.
        speck_percent: island size limit, % of the largest connected component.
        crop: crop to the subject (alpha above ``crop.CROP_ALPHA``).
        crop_margin: margin around the subject, in ``crop_margin_unit``.
        crop_margin_unit: ``%`` of the subject box's longer side, or ``px``.
        aspect_ratio: ``""`` (free) or ``W:H``; the crop grows to reach it.
        rotate: clockwise rotation of the input in degrees (0, 90, 180, 270),
            applied after EXIF orientation.
    """

    output: Output = "cutout"
    format: Format = "png"
    lossless: bool = True
    quality: int = 90
    background_color: str = "#ffffff"
    background_image: Path | None = None
    blur_radius: float = 2.0
    threshold: float = 0.0
    contrast: float = 1.0
    refine_edges: bool = False
    remove_specks: bool = False
    speck_percent: float = 5.0
    crop: bool = False
    crop_margin: float = 0.0
    crop_margin_unit: MarginUnit = "%"
    aspect_ratio: str = ""
    rotate: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raises InputError naming the option and its allowed values."""
        checks = [
            (self.output in OUTPUTS, f"output must be one of {', '.join(OUTPUTS)}, not {self.output!r}."),
            (self.format in FORMATS, f"format must be one of {', '.join(FORMATS)}, not {self.format!r}."),
            (1 <= self.quality <= 100, f"quality must be 1..100, not {self.quality}."),
            (0 <= self.threshold < 1, f"threshold must be 0 (off) or below 1, not {self.threshold}."),
            (1 <= self.contrast <= 100, f"contrast must be 1 (off) to 100, not {self.contrast}."),
            (0 < self.blur_radius <= 50, f"blur_radius must be in (0, 50] %, not {self.blur_radius}."),
            (0 <= self.speck_percent <= 100, f"speck_percent must be 0..100, not {self.speck_percent}."),
            (self.crop_margin >= 0, f"crop_margin must not be negative, not {self.crop_margin}."),
            (
                self.crop_margin_unit in MARGIN_UNITS,
                f"crop_margin_unit must be % or px, not {self.crop_margin_unit!r}.",
            ),
            (self.rotate in ROTATIONS, f"rotate must be one of 0, 90, 180, 270, not {self.rotate}."),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"Bad option: {message}")
        if self.format == "jpeg" and self.output == "cutout":
            raise InputError(
                "JPEG cannot store transparency: pick a background (colour, blur or image) "
                "for a JPEG, or PNG/WEBP for a transparent cutout."
            )
        if self.output == "image" and self.background_image is None:
            raise InputError("Background image output needs a background image file.")
        parse_color(self.background_color)
        parse_aspect(self.aspect_ratio)

    @property
    def color_rgb(self) -> tuple[int, int, int]:
        return parse_color(self.background_color)

    @property
    def aspect(self) -> float | None:
        return parse_aspect(self.aspect_ratio)

    @property
    def has_alpha(self) -> bool:
        """Whether the output image carries an alpha channel."""
        return self.output == "cutout"

    @property
    def extension(self) -> str:
        return {"png": ".png", "webp": ".webp", "jpeg": ".jpg"}[self.format]

    @classmethod
    def build(cls, **values: object) -> ExportOptions:
        """Build from loosely typed values (UI widgets, API payloads, CLI flags): ``None``
        means the default, numbers arrive as floats, paths as strings.

        Raises:
            InputError: unknown option or bad value.
        """
        known = {field.name: field for field in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise InputError(f"Unknown option(s): {', '.join(sorted(unknown))}.")
        clean: dict[str, object] = {}
        for name, value in values.items():
            if value is None or (value == "" and name == "background_image"):
                continue
            if name in ("quality", "rotate"):
                value = int(float(value))  # type: ignore[arg-type]
            elif name == "background_image":
                value = Path(str(value))
            clean[name] = value
        return cls(**clean)

    def but(self, **changes: object) -> ExportOptions:
        """A copy with some options changed (validated)."""
        return replace(self, **changes)
