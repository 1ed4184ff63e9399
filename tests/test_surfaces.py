"""The export options mean the same in every surface: API parameters, CLI flags and UI
widgets all map onto one ExportOptions, and the API's files equal the engine's."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import gradio as gr
import pytest
import skimage.data
from gradio_client import handle_file
from PIL import Image

from rmbg_app.frontends.cli import build_parser
from rmbg_app.frontends.cli_remove import options_from_args
from rmbg_app.frontends.options_ui import OPTION_NAMES, build_widgets
from rmbg_app.options import ExportOptions

# Together these set every option to a value other than its default.
CASES = [
    {"output": "color", "background_color": "#336699", "format": "jpeg", "quality": 70, "rotate": 270},
    {"output": "blur", "blur_radius": 5.0, "format": "webp", "lossless": False},
    {"output": "image", "format": "png", "crop": True, "crop_margin": 8.0, "crop_margin_unit": "px"},
    {"threshold": 0.4, "remove_specks": True, "speck_percent": 20.0, "aspect_ratio": "4:5", "crop": True},
    {"contrast": 3.0, "refine_edges": True, "format": "webp"},
    {"output": "matte", "crop": True, "crop_margin": 10.0},
]


def test_cases_cover_every_option():
    covered = {name for case in CASES for name in case} | {"background_image"}
    assert covered == set(OPTION_NAMES)


@pytest.fixture(scope="module")
def background(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bg") / "coffee.jpg"
    Image.fromarray(skimage.data.coffee()).save(path, quality=95)
    return path


def with_background(case: dict, background: Path) -> dict:
    return case | {"background_image": background} if case.get("output") == "image" else case


@pytest.mark.parametrize("case", CASES)
def test_api_result_equals_the_engines(client, engine, photos, background, tmp_path, case):
    api_case = case | (
        {"background_image": handle_file(str(background))} if case.get("output") == "image" else {}
    )
    from_api = Path(
        client.predict(handle_file(str(photos["astronaut.jpg"])), **api_case, api_name="/remove_background")
    )
    options = ExportOptions.build(**with_background(case, background))
    from_engine = engine.process(photos["astronaut.jpg"], options).save(tmp_path)
    assert from_api.name == from_engine.name
    assert from_api.read_bytes() == from_engine.read_bytes()


def cli_flags(case: dict) -> list[str]:
    flags = []
    for name, value in case.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + name.replace("_", "-"))
        else:
            flags += [flag, str(value)]
    return flags


@pytest.mark.parametrize("case", CASES)
def test_cli_flags_build_the_same_options(background, case):
    case = with_background(case, background)
    args = build_parser().parse_args(["remove", "photos", "-o", "out", *cli_flags(case)])
    assert options_from_args(args) == ExportOptions.build(**case)


def test_cli_without_flags_gives_the_defaults():
    args = build_parser().parse_args(["remove", "photos", "-o", "out"])
    assert options_from_args(args) == ExportOptions()


def test_ui_widgets_follow_the_options_with_their_defaults():
    with gr.Blocks():
        widgets = build_widgets()
    assert tuple(widgets) == OPTION_NAMES == tuple(f.name for f in fields(ExportOptions))
    defaults = ExportOptions()
    for name, widget in widgets.items():
        if name != "background_image":
            assert widget.value == getattr(defaults, name), name
