"""The Gradio Blocks app: the page users see and the named API endpoints."""

from __future__ import annotations

import functools
import gc
import inspect
import logging
import secrets
import shutil
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import gradio as gr
import torch
from gradio.data_classes import FileData
from gradio.utils import NamedString, get_upload_folder
from gradio_client.utils import is_valid_file
from PIL import Image, UnidentifiedImageError

from .. import batch
from ..engine import Result
from ..errors import InputError, RmbgError
from ..options import ExportOptions
from .options_ui import build_widgets, options_from, with_option_parameters
from .state import ModelState

log = logging.getLogger(__name__)

PREVIEW_MAX_SIDE = 1600
# Gradio's delete_cache removes uploads and results older than this, this often.
CACHE_SECONDS = 3600
THUMBNAIL_SIDE = 256
# A checkerboard behind every image that may carry transparency.
# !important: the slider's overlay image carries Gradio's own background.
CSS = """
.checker img, .checker canvas {
  background-color: #fff !important;
  background-image: conic-gradient(#d0d0d0 25%, transparent 0 50%, #d0d0d0 0 75%, transparent 0) !important;
  background-size: 24px 24px !important;
}
"""


def _photo_input() -> gr.Image:
    """The upload widget: drop, paste or pick, passing the file path through untouched.

    ``image_mode=None``: with its default ("RGB") Gradio converts every other mode to RGB
    and saves a copy, so transparency, 16-bit tones and CMYK profiles were lost before
    decode saw the file, and Pillow's plug-ins outside decode's list (EPS, which runs
    Ghostscript) would load it. With None the upload passes through untouched.

    ``gr.Image`` opens the file in its preprocessing, and a non-image upload would end
    as a bare exception text with a server path in it; the instance's preprocess is
    wrapped to give a readable message instead (a subclass would make Gradio write a
    ``.pyi`` stub next to this module at import).
    """
    photo = gr.Image(
        label="Photo (drop, paste or pick a file)",
        sources=["upload", "clipboard"],
        type="filepath",
        image_mode=None,
        elem_id="photo",
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
    keep the user's file name, and are removed by ``delete_cache``.

    The folder's name is the only secret in a result's URL (``/gradio_api/file=<cache>/
    rmbg-<name>/photo-nobg.png``; Gradio serves any file in its cache to anyone who has
    the path), so it carries 128 random bits rather than ``mkdtemp``'s 8 characters.
    """
    folder = Path(get_upload_folder()) / f"rmbg-{secrets.token_hex(16)}"
    folder.mkdir(mode=0o700, parents=True)
    return folder


def sweep_empty_result_dirs(cache: Path, older_than: float) -> int:
    """Remove the empty ``rmbg-*`` result folders not changed for ``older_than`` seconds.

    Gradio's cache sweep deletes a result file but not its folder, so without this one
    empty folder per request would stay for good. Age protects a folder just made for a
    result that is still being written.

    Returns:
        how many folders were removed.
    """
    removed = 0
    cutoff = time.time() - older_than
    for folder in cache.glob("rmbg-*"):
        try:
            if folder.stat().st_mtime < cutoff:
                folder.rmdir()  # refuses a folder that still holds a result
                removed += 1
        except OSError:
            continue
    return removed


def _file_input(**kwargs) -> gr.File:
    """``gr.File(type="filepath")`` that leaves no empty file behind per upload.

    Gradio 6.31's ``File`` preprocess opens a ``NamedTemporaryFile(delete=False)`` in its
    cache for every file and never uses it: each request leaves an empty ``tmpXXXXXXXX``
    that no ``delete_cache`` sweep knows about. The upload is already in the cache, so its
    path is all the handlers need; the instance's per-file step is replaced (a subclass
    would make Gradio write a ``.pyi`` stub next to this module at import).
    """
    component = gr.File(type="filepath", **kwargs)

    def process_single_file(payload: FileData) -> NamedString:
        if component.file_types and not is_valid_file(payload.path, component.file_types):
            raise gr.Error(f"{payload.orig_name or 'The upload'!r} is not one of {component.file_types}.")
        return NamedString(payload.path)

    component._process_single_file = process_single_file
    return component


def _shrink(image: Image.Image, side: int) -> Image.Image:
    small = image.copy()
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    return small


def _is_out_of_memory(exc: BaseException) -> bool:
    """MemoryError (NumPy, Pillow), torch.OutOfMemoryError (CUDA), and the RuntimeError
    torch's CPU allocator raises instead ("DefaultCPUAllocator: can't allocate memory")."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)


def _release_memory(exc: BaseException) -> None:
    """Free what the failed request held: its frames' locals (the decoded image, the
    matte...) stay reachable from the traceback until they are cleared."""
    traceback.clear_frames(exc.__traceback__)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _guarded(max_megapixels: float) -> Callable[[Callable], Callable]:
    """Turn every failure into a gr.Error with a readable message; the server keeps
    serving and the client sees the reason, not Gradio's generic error."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except gr.Error:
                raise
            except RmbgError as exc:
                raise gr.Error(str(exc)) from None
            except Exception as exc:  # reported to the user, logged in full
                if not _is_out_of_memory(exc):
                    log.exception("Processing failed")
                    raise gr.Error(f"Processing failed: {type(exc).__name__}: {exc}") from None
                log.error("Out of memory in %s: %s %s", fn.__name__, type(exc).__name__, str(exc)[:200])
                _release_memory(exc)
            # Raised outside the except block so the error keeps no reference to the frames.
            raise gr.Error(
                "Out of memory while processing this image: the server does not have enough free "
                "memory for it right now. Try again later or with a smaller image (the largest "
                f"accepted, RMBG_MAX_MEGAPIXELS, is {max_megapixels:g} megapixels)."
            )

        return wrapper

    return decorate


def _size_text(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1024:.0f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MiB"


def build_blocks(state: ModelState) -> gr.Blocks:
    """The UI and the API over one model state."""
    settings = state.settings
    guarded = _guarded(settings.max_megapixels)

    def process(path: str | None, options: ExportOptions) -> Result:
        if not path:
            raise InputError("Upload an image first.")
        return state.require_engine().process(path, options)

    def collect(files: list[str], unzip_dir: Path) -> tuple[list[batch.Item], list[batch.Outcome]]:
        """Uploads -> batch items: images as they are, ZIPs unpacked into ``unzip_dir``
        (entries that escape, are not images or are over the size limit are skipped).

        Raises:
            InputError: more images than RMBG_MAX_BATCH_FILES, or a ZIP that is not one.
        """
        items, skipped = [], []
        for path in map(Path, files):
            if path.suffix.lower() == ".zip":
                found, rejected = batch.extract_zip(
                    path,
                    unzip_dir / path.stem,
                    max_files=settings.max_batch_files,
                    max_entry_mb=settings.max_file_size_mb,
                )
                items += [batch.Item(i.path, PurePosixPath(path.stem) / i.relative) for i in found]
                skipped += rejected
            else:
                items.append(batch.Item(path, PurePosixPath(path.name)))
        if len(items) > settings.max_batch_files:
            raise InputError(
                f"{len(items)} images in one batch; the limit (RMBG_MAX_BATCH_FILES) is "
                f"{settings.max_batch_files}."
            )
        return items, skipped

    def run_batch(files: list[str] | None, options: ExportOptions, progress: Callable | None = None):
        """Process uploads (images and ZIPs of images) into one ZIP of results.

        Returns:
            (zip path, outcomes, gallery entries)
        """
        if not files:
            raise InputError("Upload one or more images (or a ZIP of images) first.")
        engine = state.require_engine()
        out_dir = _result_dir()
        zip_path = out_dir / "rmbg-results.zip"
        gallery: list[tuple[str, str]] = []
        try:
            with tempfile.TemporaryDirectory(prefix="rmbg-unzip-") as unzip_dir:
                items, outcomes = collect(files, Path(unzip_dir))
                with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as archive:

                    def sink(result: Result, name: str) -> None:
                        archive.writestr(name, batch.encode_to_bytes(result))
                        thumb = out_dir / f"thumb-{len(gallery)}.webp"
                        _shrink(result.image, THUMBNAIL_SIDE).save(thumb, "WEBP", quality=80)
                        gallery.append((str(thumb), f"✓ {name}"))

                    def tick(index: int, total: int, item: batch.Item) -> None:
                        if progress is not None:
                            progress((index, total), desc=f"{item.relative.name}", unit="images")

                    planned = batch.plan(items, options)
                    outcomes += batch.process_items(engine, planned, options, sink, tick)
                    archive.writestr(batch.REPORT_NAME, batch.report_json(outcomes))
            if not any(o.ok for o in outcomes):
                reasons = "; ".join(o.error or "" for o in outcomes[:5]) or "the upload holds no files."
                raise InputError(f"No file could be processed: {reasons}")
        except BaseException:
            # A failed batch has nothing to download: no half-written ZIP or thumbnails stay.
            shutil.rmtree(out_dir, ignore_errors=True)
            raise
        return zip_path, outcomes, gallery

    # --- UI handlers -----------------------------------------------------------------
    @guarded
    def remove_in_ui(path: str | None, *values):
        result = process(path, options_from(values))
        output = result.save(_result_dir())
        slider = (_shrink(result.source.rgb, PREVIEW_MAX_SIDE), _shrink(result.image, PREVIEW_MAX_SIDE))
        matte_preview = _shrink(Image.fromarray(result.alpha, "L"), PREVIEW_MAX_SIDE)
        width, height = result.image.size
        info = (
            f"**{output.name}** · {width}×{height} · {_size_text(output)}  \n"
            f"{state.require_engine().describe()}  \n"
            f"Time: {result.timer.summary()}"
        )
        return slider, matte_preview, output, info

    @guarded
    def batch_in_ui(files: list[str] | None, *values, progress=gr.Progress()):  # noqa: B008 - Gradio's API
        zip_path, outcomes, gallery = run_batch(files, options_from(values), progress)
        failed = [o for o in outcomes if not o.ok]
        lines = [f"**{len(outcomes) - len(failed)} done, {len(failed)} failed** · ZIP {_size_text(zip_path)}"]
        lines += [f"- ✗ `{o.item.relative.as_posix()}`: {o.error}" for o in failed]
        return gallery, zip_path, "\n".join(lines)

    # --- API endpoints: named parameters with the options' defaults ------------------
    image_param = [inspect.Parameter("image", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    files_param = [inspect.Parameter("files", inspect.Parameter.POSITIONAL_OR_KEYWORD)]

    @guarded
    def remove_background(image, *values):
        """Remove the background of one image. Returns the result file: by default an
        RGBA PNG named <stem>-nobg.png (the original pixels, the matte as alpha); the
        options choose a background, the format, hardness, edge clean-up and crop."""
        return str(process(image, options_from(values)).save(_result_dir()))

    @guarded
    def matte(image, *values):
        """Predict the matte of one image: an 8-bit greyscale file named <stem>-matte.png
        (255 = subject). The options' output is ignored; hardness, specks, crop,
        rotation and format apply."""
        options = options_from(values).but(output="matte")
        return str(process(image, options).save(_result_dir()))

    @guarded
    def remove_background_batch(files, *values):
        """Process many images (or ZIPs of images) with the same options. Returns one ZIP
        with a result per input under its original name (folders kept, no collisions)
        and report.json listing every input with its output or its error."""
        zip_path, _, _ = run_batch(files, options_from(values))
        return str(zip_path)

    with gr.Blocks(title="rmbg · background removal", delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as demo:
        gr.Markdown("# Remove the background of a photo")
        status_line = gr.Markdown()
        with gr.Sidebar(label="Export options", width=360):
            gr.Markdown("### Export options")
            widgets = build_widgets()
        option_inputs = list(widgets.values())
        with gr.Tab("Single photo"):
            with gr.Row():
                photo = _photo_input()
                slider = gr.ImageSlider(
                    label="Before / after", type="pil", elem_classes="checker", elem_id="before-after"
                )
            with gr.Row():
                matte_view = gr.Image(label="Matte", type="pil", image_mode="L", format="png")
                with gr.Column():
                    download = gr.DownloadButton("Download", variant="primary", elem_id="download")
                    info = gr.Markdown(elem_id="info")
            button = gr.Button("Remove background")
            gr.on(
                [photo.upload, button.click],
                remove_in_ui,
                inputs=[photo, *option_inputs],
                outputs=[slider, matte_view, download, info],
                api_visibility="private",
                concurrency_id="model",
            )
        with gr.Tab("Batch"):
            uploads = _file_input(
                label="Photos or ZIP archives",
                file_count="multiple",
                file_types=["image", ".zip"],
                elem_id="batch-files",
            )
            batch_button = gr.Button("Process all", variant="primary")
            gallery = gr.Gallery(
                label="Results", columns=6, height="auto", elem_classes="checker", elem_id="gallery"
            )
            zip_download = gr.DownloadButton("Download ZIP", elem_id="download-zip")
            report = gr.Markdown(elem_id="report")
            batch_button.click(
                batch_in_ui,
                inputs=[uploads, *option_inputs],
                outputs=[gallery, zip_download, report],
                api_visibility="private",
                concurrency_id="model",
            )
        api_image = _file_input(label="image", visible=False)
        api_files = _file_input(label="files", visible=False, file_count="multiple")
        api_output = gr.File(label="result", visible=False)
        api_trigger = gr.Button(visible=False)
        for fn, first, source in (
            (remove_background, image_param, api_image),
            (matte, image_param, api_image),
            (remove_background_batch, files_param, api_files),
        ):
            api_trigger.click(
                with_option_parameters(fn, first),
                [source, *option_inputs],
                api_output,
                api_name=fn.__name__,
                concurrency_id="model",
            )

        def status() -> str:
            if state.engine is not None:
                return f"Model: {state.engine.describe()}"
            if state.phase == "failed":
                return f"**The model is not available.** {state.error}"
            return "The model is loading… reload the page in a moment."

        demo.load(status, None, status_line, api_visibility="private", queue=False)
    return demo
