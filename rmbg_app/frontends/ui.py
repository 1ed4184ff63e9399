"""The Gradio Blocks app: the page users see and the named API endpoints."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import torch
from gradio.utils import get_upload_folder
from PIL import Image, UnidentifiedImageError

from ..engine import Result
from ..errors import RmbgError
from .state import ModelState

log = logging.getLogger(__name__)

PREVIEW_MAX_SIDE = 1600
# A checkerboard behind every image that may carry transparency.
CSS = """
.checker img, .checker canvas {
  background-color: #fff;
  background-image: conic-gradient(#d0d0d0 25%, transparent 0 50%, #d0d0d0 0 75%, transparent 0);
  background-size: 24px 24px;
}
"""


def _photo_input() -> gr.Image:
    """The upload widget: drop, paste or pick, passing the file path through untouched.

    ``gr.Image`` opens the file in its preprocessing, and a non-image upload would end
    as a bare exception text with a server path in it; the instance's preprocess is
    wrapped to give a readable message instead (a subclass would make Gradio write a
    ``.pyi`` stub next to this module at import).
    """
    photo = gr.Image(
        label="Photo (drop, paste or pick a file)", sources=["upload", "clipboard"], type="filepath"
    )
    preprocess = photo.preprocess

    def readable_preprocess(payload):
        try:
            return preprocess(payload)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            name = getattr(payload, "orig_name", None) or "The upload"
            raise gr.Error(f"{name!r} is not an image that can be read.") from None

    photo.preprocess = readable_preprocess
    return photo


def _result_dir() -> Path:
    """A fresh folder in Gradio's cache: files there are served without another copy,
    keep the user's file name, and are removed by ``delete_cache``."""
    return Path(tempfile.mkdtemp(prefix="rmbg-", dir=get_upload_folder()))


def _preview(image: Image.Image) -> Image.Image:
    preview = image.copy()
    preview.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE), Image.Resampling.LANCZOS)
    return preview


def _guarded(fn: Callable) -> Callable:
    """Turn every failure into a gr.Error with a readable message; the server keeps
    serving and the client sees the reason, not Gradio's generic error."""

    def wrapper(*args):
        try:
            return fn(*args)
        except gr.Error:
            raise
        except RmbgError as exc:
            raise gr.Error(str(exc)) from None
        except torch.OutOfMemoryError:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise gr.Error("Out of memory while processing this image; try a smaller one.") from None
        except Exception as exc:  # reported to the user, logged in full
            log.exception("Processing failed")
            raise gr.Error(f"Processing failed: {type(exc).__name__}: {exc}") from None

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def build_blocks(state: ModelState) -> gr.Blocks:
    """The UI and the API over one model state."""

    def process(path: str | None) -> Result:
        if not path:
            raise RmbgError("Upload an image first.")
        return state.require_engine().process(path)

    def describe(result: Result, output: Path) -> str:
        engine = state.require_engine()
        width, height = result.cutout.size
        return (
            f"**{output.name}** · {width}×{height} · {output.stat().st_size / 1024:.0f} KiB  \n"
            f"{engine.describe()}  \n"
            f"Time: {result.timer.summary()}"
        )

    @_guarded
    def remove_in_ui(path: str | None):
        result = process(path)
        output = result.save_cutout(_result_dir())
        slider = (_preview(result.source.rgb), _preview(result.cutout))
        return slider, _preview(result.matte_image()), output, describe(result, output)

    @_guarded
    def remove_background(image: str) -> str:
        """Remove the background of one image. Returns an RGBA PNG named <stem>-nobg.png:
        the original pixels with the predicted matte as alpha."""
        return str(process(image).save_cutout(_result_dir()))

    @_guarded
    def matte(image: str) -> str:
        """Predict the matte of one image. Returns an 8-bit greyscale PNG named
        <stem>-matte.png (255 = subject, 0 = background)."""
        return str(process(image).save_matte(_result_dir()))

    def status() -> str:
        if state.engine is not None:
            return f"Model: {state.engine.describe()}"
        if state.phase == "failed":
            return f"**The model is not available.** {state.error}"
        return "The model is loading… reload the page in a moment."

    with gr.Blocks(title="rmbg · background removal", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# Remove the background of a photo")
        status_line = gr.Markdown()
        with gr.Row():
            photo = _photo_input()
            slider = gr.ImageSlider(label="Before / after", type="pil", elem_classes="checker")
        with gr.Row():
            matte_view = gr.Image(label="Matte", type="pil", image_mode="L", format="png")
            with gr.Column():
                download = gr.DownloadButton("Download PNG", variant="primary")
                info = gr.Markdown()
        button = gr.Button("Remove background")
        ui_outputs = [slider, matte_view, download, info]
        gr.on(
            [photo.upload, button.click],
            remove_in_ui,
            inputs=photo,
            outputs=ui_outputs,
            api_visibility="private",
            concurrency_id="model",
        )
        # Named endpoints for gradio_client and curl, with file in / file out.
        api_input = gr.File(label="image", visible=False, type="filepath")
        api_output = gr.File(label="result", visible=False)
        api_trigger = gr.Button(visible=False)
        api_trigger.click(
            remove_background, api_input, api_output, api_name="remove_background", concurrency_id="model"
        )
        api_trigger.click(matte, api_input, api_output, api_name="matte", concurrency_id="model")
        demo.load(status, None, status_line, api_visibility="private", queue=False)
    return demo
