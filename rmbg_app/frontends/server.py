"""The HTTP server: /health and /ready beside the Gradio app, served by uvicorn."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import gradio as gr
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from gradio.utils import get_upload_folder

from ..settings import Settings
from .limit_messages import LimitMessages
from .state import ModelState
from .ui import CACHE_SECONDS, CSS, build_blocks, sweep_empty_result_dirs

log = logging.getLogger(__name__)

# mallopt's parameter number for the mmap threshold (glibc's malloc.h: M_MMAP_THRESHOLD).
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1024 * 1024


def build_app(settings: Settings, state: ModelState | None = None) -> FastAPI:
    """FastAPI app with ``/health``, ``/ready`` and the Gradio UI/API at ``/``.

    The model loads in a background thread when the app starts, so ``/health``
    answers at once and ``/ready`` turns 200 only after load and warm-up.
    """
    state = state or ModelState(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.start_loading()
        sweeper = asyncio.create_task(_sweep_result_dirs_forever(Path(get_upload_folder())))
        yield
        sweeper.cancel()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    def health() -> dict:
        """The process is up (whatever the model's state)."""
        return {"status": "ok", "model_status": state.phase}

    @app.get("/ready")
    def ready() -> JSONResponse:
        """200 once the model is loaded and warmed up; 503 with the reason until then."""
        return JSONResponse(state.report(), status_code=200 if state.phase == "ready" else 503)

    demo = build_blocks(state)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1)
    app.add_middleware(LimitMessages, settings=settings)
    # An API request names its input files by server path. Gradio accepts only paths in
    # its upload folder, but checks that only for apps started with launch(): mounted,
    # any file the server can read (any photo on its disk) would be processed and
    # returned. Marking the app launched turns the check on.
    demo.has_launched = True
    return gr.mount_gradio_app(
        app,
        demo,
        path="/",
        server_name=settings.server_name,
        server_port=settings.server_port,
        max_file_size=int(settings.max_file_size_mb * 1024 * 1024),
        css=CSS,
        show_error=True,
        enable_monitoring=False,
        footer_links=["api"],
        auth=list(settings.auth) or None,
    )


async def _sweep_result_dirs_forever(cache: Path) -> None:
    """Beside Gradio's cache sweep: remove result folders it emptied over an hour ago."""
    while True:
        await asyncio.sleep(CACHE_SECONDS)
        removed = await asyncio.to_thread(sweep_empty_result_dirs, cache, 2 * CACHE_SECONDS)
        log.debug("Removed %d empty result folders", removed)


def fix_mmap_threshold() -> bool:
    """Give every allocation of 1 MiB or more (image buffers) its own mmap, returned to
    the system when freed.

    glibc starts at 128 kB but raises its mmap threshold (up to 32 MiB) each time such a
    block is freed; image-sized buffers then come from the heap, which fragments and
    never shrinks: in a soak the server's RSS grew by a third (~400 MB) over the first
    hundred requests before levelling off. A fixed threshold keeps it flat. An operator's
    own MALLOC_MMAP_THRESHOLD_ wins; other C libraries are left alone.

    Returns:
        whether the threshold was set.
    """
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):
        return False


def serve(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn stops cleanly on both)."""
    if fix_mmap_threshold():
        log.info("malloc: allocations of %d kB and more are mmapped", MMAP_THRESHOLD_BYTES // 1024)
    app = build_app(settings)
    log.info("Serving on http://%s:%d", settings.server_name, settings.server_port)
    if settings.auth:
        log.info("Login required (%d users); /health and /ready stay open", len(settings.auth))
    uvicorn.run(app, host=settings.server_name, port=settings.server_port, log_level="warning")
