"""The export options as Gradio widgets and as named API parameters.

One list, ``OPTION_NAMES``, follows ``ExportOptions``' fields: the widgets are built in
that order, the API functions get a signature with those names and defaults (so
``gradio_client`` callers pass ``output="color"`` by name), and values come back into
``ExportOptions.build``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import fields

import gradio as gr

from ..options import MARGIN_UNITS, OUTPUT_LABELS, ROTATIONS, ExportOptions

DEFAULTS = ExportOptions()
OPTION_NAMES = tuple(field.name for field in fields(ExportOptions))
ASPECTS = ["", "1:1", "4:5", "3:4", "2:3", "4:3", "3:2", "16:9", "9:16"]


def build_widgets() -> dict[str, gr.components.Component]:
    """The option widgets, stacked for a sidebar in the current Blocks context, keyed by
    option name in ``OPTION_NAMES`` order."""
    w: dict[str, gr.components.Component] = {}
    w["output"] = gr.Radio(
        [(label, value) for value, label in OUTPUT_LABELS.items()], value=DEFAULTS.output, label="Output"
    )
    w["format"] = gr.Radio(["png", "webp", "jpeg"], value=DEFAULTS.format, label="Format")
    w["lossless"] = gr.Checkbox(value=DEFAULTS.lossless, label="WEBP lossless")
    w["quality"] = gr.Slider(1, 100, value=DEFAULTS.quality, step=1, label="Quality (JPEG, lossy WEBP)")
    with gr.Accordion("Background", open=False):
        w["background_color"] = gr.ColorPicker(value=DEFAULTS.background_color, label="Colour")
        # image_mode=None: the file as uploaded (see ui._photo_input).
        w["background_image"] = gr.Image(
            label="Image", type="filepath", image_mode=None, sources=["upload", "clipboard"], height=140
        )
        w["blur_radius"] = gr.Slider(
            0.5, 20, value=DEFAULTS.blur_radius, step=0.5, label="Blur (% of the photo)"
        )
    with gr.Accordion("Edges", open=False):
        w["threshold"] = gr.Slider(
            0, 0.99, value=DEFAULTS.threshold, step=0.01, label="Hard threshold (0 = soft)"
        )
        w["contrast"] = gr.Slider(1, 20, value=DEFAULTS.contrast, step=0.5, label="Edge contrast (1 = off)")
        w["refine_edges"] = gr.Checkbox(value=DEFAULTS.refine_edges, label="Clean edge colours (no halo)")
        w["remove_specks"] = gr.Checkbox(value=DEFAULTS.remove_specks, label="Remove small specks")
        w["speck_percent"] = gr.Slider(
            0, 50, value=DEFAULTS.speck_percent, step=1, label="Speck size (% of largest)"
        )
    with gr.Accordion("Crop and rotate", open=False):
        w["crop"] = gr.Checkbox(value=DEFAULTS.crop, label="Crop to the subject")
        with gr.Row():
            w["crop_margin"] = gr.Number(value=DEFAULTS.crop_margin, minimum=0, label="Margin", min_width=80)
            w["crop_margin_unit"] = gr.Radio(list(MARGIN_UNITS), value=DEFAULTS.crop_margin_unit, label="in")
        w["aspect_ratio"] = gr.Dropdown(
            [("free", ""), *[(a, a) for a in ASPECTS[1:]]],
            value=DEFAULTS.aspect_ratio,
            allow_custom_value=True,
            label="Aspect ratio (W:H)",
        )
        w["rotate"] = gr.Radio(
            [(f"{r}°", r) for r in ROTATIONS], value=DEFAULTS.rotate, label="Rotate clockwise first"
        )
    return w


def options_from(values: tuple) -> ExportOptions:
    """Positional widget/API values (in ``OPTION_NAMES`` order) -> ExportOptions.

    Raises:
        InputError: a value is out of range or the combination is impossible.
    """
    return ExportOptions.build(**dict(zip(OPTION_NAMES, values, strict=True)))


def with_option_parameters(fn: Callable, first: list[inspect.Parameter]) -> Callable:
    """Give ``fn(*values)`` a signature ``(first..., output="cutout", format="png", ...)``
    so Gradio documents named parameters with their defaults."""
    params = first + [
        inspect.Parameter(
            name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=None if name == "background_image" else getattr(DEFAULTS, name),
        )
        for name in OPTION_NAMES
    ]
    fn.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return fn
