"""Faults: a read-only model cache, a refused licence, running out of memory in one
request, a client that disappears mid-request. Real servers on real ports; the fault
itself is real too (a read-only mount or permission bits, an HTTP server answering as
the Hub does for a gated repo, an address-space limit on the server process, a killed
client process)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from catalogue import PNG_BYTES, RED
from conftest import HF_HOME, RunningServer, private_server_env, start_private_server
from rmbg_app.frontends.ui import _is_out_of_memory


def _set_writable(folder: Path, writable: bool) -> None:
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[tuple[str, ...]]:
    """Make ``folder`` read-only for a server; yields the server's command prefix.

    Root ignores permission bits, so as root the folder is bind-mounted read-only in
    the server's own mount namespace (what a Docker ``:ro`` volume is); otherwise its
    write bits are cleared (what a cache owned by another user is).
    """
    if os.geteuid() != 0:
        _set_writable(folder, False)
        try:
            yield ()
        finally:
            _set_writable(folder, True)
        return
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(
            f"root without a mount namespace (unshare -m: {probe.stderr.strip()}): no read-only mount"
        )
    yield ("unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(folder))


def copy_cache(target: Path, *, with_code: bool) -> Path:
    """A copy of the session's HF cache: the snapshot, and the model's code in
    ``modules/`` (written there when the session's server loaded it) if ``with_code``."""
    shutil.copytree(HF_HOME / "hub", target / "hub", symlinks=True)
    if with_code:
        shutil.copytree(HF_HOME / "modules", target / "modules")
    return target


def wait_settled(server: RunningServer) -> dict:
    """The /ready report once loading has ended (ready or failed)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            report = httpx.get(server.url + "/ready", timeout=5).json()
            if report["status"] != "loading":
                return report
        time.sleep(0.2)
    raise AssertionError(f"still loading:\n{server.log()}")


def test_read_only_cache(server, tmp_path, photos):
    """A read-only cache without the model's code cannot load it (transformers copies
    the code into $HF_HOME/modules): a clear reason on /ready, in the log and in the API.
    The documented fix (HF_MODULES_CACHE elsewhere) works, and so does a read-only cache
    that already holds the code."""
    bare = copy_cache(tmp_path / "bare", with_code=False)
    filled = copy_cache(tmp_path / "filled", with_code=True)
    writable_modules = tmp_path / "modules"
    with read_only(bare) as bare_prefix, read_only(filled) as filled_prefix:
        servers = {
            "bare": RunningServer(
                private_server_env(tmp_path / "s1", HF_HOME=str(bare)),
                tmp_path / "bare.log",
                prefix=bare_prefix,
            ),
            "fixed": RunningServer(
                private_server_env(
                    tmp_path / "s2", HF_HOME=str(bare), HF_MODULES_CACHE=str(writable_modules)
                ),
                tmp_path / "fixed.log",
                prefix=bare_prefix,
            ),
            "filled": RunningServer(
                private_server_env(tmp_path / "s3", HF_HOME=str(filled)),
                tmp_path / "filled.log",
                prefix=filled_prefix,
            ),
        }
        try:
            reports = {name: wait_settled(running) for name, running in servers.items()}
            failed = reports["bare"]
            assert failed["status"] == "failed", failed
            reason = re.escape(str(bare / "modules")) + r": (Read-only file system|Permission denied)\)"
            assert re.search(
                r"Cannot write the model's code to transformers' module cache \(" + reason, failed["error"]
            )
            assert "point HF_MODULES_CACHE at a writable folder" in failed["error"]
            assert f"Model not loaded: {failed['error']}" in servers["bare"].log()
            assert httpx.get(servers["bare"].url + "/health").json()["model_status"] == "failed"
            with pytest.raises(AppError, match="The model is not available: Cannot write the model's code"):
                Client(servers["bare"].url, verbose=False).predict(
                    handle_file(str(photos["chelsea.png"])), api_name="/remove_background"
                )
            assert (
                reports["fixed"]["status"] == "ready" and (writable_modules / "transformers_modules").is_dir()
            )
            assert reports["filled"]["status"] == "ready"
            result = Client(servers["filled"].url, verbose=False).predict(
                handle_file(str(photos["chelsea.png"])), api_name="/remove_background"
            )
            assert Image.open(result).size == (451, 300)
        finally:
            for running in servers.values():
                running.stop()


class GatedHub(BaseHTTPRequestHandler):
    """Answers every request as the Hub answers for a gated repo whose licence the
    token's owner has not accepted."""

    def do_GET(self) -> None:
        body = json.dumps({"error": "Access to model briaai/RMBG-2.0 is restricted."}).encode()
        self.send_response(403)
        self.send_header("X-Error-Code", "GatedRepo")
        self.send_header("X-Error-Message", "Access to model briaai/RMBG-2.0 is restricted.")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args) -> None:
        pass


def test_licence_not_accepted_explains_what_to_do(fixture_snapshot, tmp_path):
    hub = ThreadingHTTPServer(("127.0.0.1", 0), GatedHub)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    env = private_server_env(
        tmp_path, HF_HOME=str(tmp_path / "empty"), HF_ENDPOINT=f"http://127.0.0.1:{hub.server_port}"
    )
    for name in ("HF_HUB_OFFLINE", "HF_TOKEN"):
        env.pop(name, None)
    running = RunningServer(env, tmp_path / "server.log")
    try:
        report = wait_settled(running)
        assert report["status"] == "failed"
        for hint in (
            "briaai/RMBG-2.0 is gated and this token has no access (or no HF_TOKEN is set)",
            "accept its licence at https://huggingface.co/briaai/RMBG-2.0",
            "create a read token",
            "RMBG_MODEL=ZhengPeng7/BiRefNet",
        ):
            assert hint in report["error"]
        assert "Model not loaded: briaai/RMBG-2.0 is gated" in running.log()
        assert "Traceback" not in running.log()
    finally:
        running.stop()
        hub.shutdown()


def test_out_of_memory_errors_are_recognised():
    """The three shapes out-of-memory takes, raised for real."""
    errors = []
    for allocate in (lambda: np.empty(2**62, np.uint8), lambda: torch.empty(2**62, dtype=torch.uint8)):
        try:
            allocate()
        except (MemoryError, RuntimeError, ValueError) as exc:
            errors.append(exc)
    assert isinstance(errors[0], MemoryError)  # NumPy
    assert isinstance(errors[1], RuntimeError) and "can't allocate memory" in str(errors[1])  # torch on CPU
    assert all(_is_out_of_memory(e) for e in errors)
    assert _is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert not _is_out_of_memory(RuntimeError("shapes do not match"))


def vm_size_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmSize:\s+(\d+) kB", status).group(1)) // 1024


def test_out_of_memory_fails_one_request_and_frees_it(fixture_snapshot, tmp_path):
    """The server process gets an address-space limit 300 MB above its size; a 35 MP
    photo (allowed: the limit is 100 MP) needs more and fails with a clear message, the
    memory comes back, and a small photo works under the same limit, three times over.

    MALLOC_ARENA_MAX=2 keeps glibc from reserving a 64 MB arena per worker thread, so
    the address-space limit measures memory in use rather than reservations.
    """
    server = start_private_server(tmp_path / "server", MALLOC_ARENA_MAX="2")
    try:
        big, small = tmp_path / "big.jpg", tmp_path / "small.png"
        Image.new("RGB", (7000, 5000), RED).save(big, quality=80)
        small.write_bytes(PNG_BYTES)
        api = server.client()
        api.predict(handle_file(str(small)), api_name="/remove_background")  # threads started
        pid = server.running.process.pid
        baseline = vm_size_mb(pid)
        limit = (baseline + 300) * 1024 * 1024
        resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
        for _ in range(3):
            with pytest.raises(
                AppError, match=r"Out of memory while processing this image.*RMBG_MAX_MEGAPIXELS, is 100"
            ):
                api.predict(handle_file(str(big)), api_name="/remove_background")
            assert vm_size_mb(pid) < baseline + 100
            result = api.predict(handle_file(str(small)), api_name="/remove_background")
            assert Image.open(result).size == (451, 300)
        assert httpx.get(server.url + "/ready").status_code == 200
        assert server.running.log().count("Out of memory in remove_background: MemoryError") == 3
    finally:
        server.running.stop()


CLIENT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from gradio_client import Client, handle_file
    from gradio_client.utils import Status

    job = Client(sys.argv[1], verbose=False).submit(
        [handle_file(sys.argv[2])], refine_edges=True, api_name="/remove_background_batch"
    )
    while job.status().code not in (Status.PROCESSING, Status.PROGRESS, Status.IN_QUEUE):
        time.sleep(0.05)
    print(job.status().code.name, flush=True)
    time.sleep(600)
    """
)


def test_client_that_disconnects_does_not_wedge_the_queue(server, tmp_path):
    """Two clients start slow batches (one runs, one waits) and are killed; a new
    request is answered as soon as the server has finished the running one."""
    archive = tmp_path / "slow.zip"
    photo = Image.fromarray(np.dstack([np.full((1400, 1400), c, np.uint8) for c in RED]))
    with zipfile.ZipFile(archive, "w") as zf:
        for index in range(4):
            photo.save(tmp_path / "p.jpg", quality=80)
            zf.write(tmp_path / "p.jpg", f"p{index}.jpg")
    clients = []
    for _ in range(2):
        clients.append(
            subprocess.Popen(
                [sys.executable, "-c", CLIENT_SCRIPT, server.url, str(archive)],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        assert clients[-1].stdout.readline().strip() in ("PROCESSING", "PROGRESS", "IN_QUEUE")
    for client in clients:
        client.kill()
        client.wait()
    started = time.perf_counter()
    small = tmp_path / "cat.png"
    small.write_bytes(PNG_BYTES)
    result = Client(server.url, verbose=False).predict(handle_file(str(small)), api_name="/remove_background")
    assert Image.open(result).size == (451, 300)
    assert time.perf_counter() - started < 60
    assert httpx.get(server.url + "/ready").status_code == 200
