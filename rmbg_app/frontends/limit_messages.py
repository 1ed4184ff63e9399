"""Gradio's refusals for our limits, reworded to name the setting and its value.

Gradio answers an upload over ``max_file_size`` with 413 "File size exceeded maximum
allowed size of 52428800 bytes." and a request that finds the queue full with 503
"Queue is full. Max size is 16 and size is 16.". Neither says which setting to change
or that trying again later works. This ASGI middleware rewrites just those two answers,
for the routes that give them; every other response passes through untouched (and
unbuffered: the event streams are never touched).

``gradio_client`` and the web page show texts of their own for these cases ("Queue is
full! Please try again.", "This application is currently busy. Please try again."), so
the reworded bodies reach curl and other plain HTTP clients.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..settings import Settings

UPLOAD_PATH_SUFFIX = "/gradio_api/upload"
# /gradio_api/queue/join (the page, gradio_client), /gradio_api/call/<api> and
# /gradio_api/call/v2/<api> (curl): all join the queue.
QUEUE_PATH_PARTS = ("/gradio_api/queue/join", "/gradio_api/call/")
RETRY_AFTER_SECONDS = 5


def upload_too_large_message(settings: Settings) -> str:
    return (
        f"The upload is larger than the limit (RMBG_MAX_FILE_SIZE_MB) of {settings.max_file_size_mb:g} MiB "
        "per file. Send a smaller file (or ask the operator to raise the limit)."
    )


def queue_full_message(settings: Settings) -> str:
    return (
        "The server is busy: the queue of requests waiting for the model is full (the limit, "
        f"RMBG_QUEUE_SIZE, is {settings.queue_size}). Try again in a moment."
    )


class LimitMessages:
    """ASGI middleware: reword Gradio's 413 (upload size) and 503 (queue full) answers."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.endswith(UPLOAD_PATH_SUFFIX):
            rewrite = {413: self._upload_too_large}
        elif any(part in path for part in QUEUE_PATH_PARTS):
            rewrite = {503: self._queue_full}
        else:
            await self.app(scope, receive, send)
            return

        held: Message | None = None
        body = b""

        async def send_reworded(message: Message) -> None:
            nonlocal held, body
            if message["type"] == "http.response.start" and message["status"] in rewrite:
                held = message
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            body += message.get("body", b"")
            if message.get("more_body"):
                return
            content_type, new_body = rewrite[held["status"]](body)
            dropped = (b"content-length", b"content-type")
            headers = [(k, v) for k, v in held["headers"] if k.lower() not in dropped]
            headers += [(b"content-type", content_type), (b"content-length", str(len(new_body)).encode())]
            if held["status"] == 503:
                headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
            await send({**held, "headers": headers})
            await send({"type": "http.response.body", "body": new_body})

        await self.app(scope, receive, send_reworded)

    def _upload_too_large(self, body: bytes) -> tuple[bytes, bytes]:
        return b"text/plain; charset=utf-8", upload_too_large_message(self.settings).encode()

    def _queue_full(self, body: bytes) -> tuple[bytes, bytes]:
        try:
            detail = str(json.loads(body).get("detail", ""))
        except (ValueError, AttributeError):
            detail = ""
        # 503 also means "Queue is stopped." while the server shuts down: keep that one.
        if detail.startswith("Queue is full"):
            detail = queue_full_message(self.settings)
        return b"application/json", json.dumps({"detail": detail}).encode()
