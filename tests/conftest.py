"""Shared fixtures: a fixture model in a real HF cache, real photos, a real server.

The environment is set before anything imports huggingface_hub, transformers or
gradio: they read HF_HOME, HF_HUB_OFFLINE and GRADIO_TEMP_DIR at import time.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="rmbg-tests-"))
os.environ["HF_HOME"] = str(_SESSION_DIR / "hf")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_TEMP_DIR"] = str(_SESSION_DIR / "gradio")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
for _name in [name for name in os.environ if name.startswith("RMBG_")]:
    del os.environ[_name]

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import skimage.data  # noqa: E402
from PIL import Image  # noqa: E402

import fixture_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HF_HOME = Path(os.environ["HF_HOME"])


@pytest.fixture(scope="session")
def fixture_snapshot() -> Path:
    """The fixture model as ``briaai/RMBG-2.0`` in the session's HF cache."""
    return fixture_model.build_hf_cache(HF_HOME)


@pytest.fixture(scope="session")
def settings(fixture_snapshot):
    from rmbg_app.settings import Settings

    return Settings.from_env()


@pytest.fixture(scope="session")
def engine(settings):
    from rmbg_app.engine import Engine

    return Engine.load(settings)


@pytest.fixture(scope="session")
def torch_engine(settings):
    """The fixture model on the torch backend (the default engine runs ONNX Runtime on CPU)."""
    from rmbg_app.engine import Engine

    return Engine.load(settings.with_overrides(backend="torch"))


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> dict[str, Path]:
    """Real photos from scikit-image in the formats users send, plus prepared variants:
    an EXIF-rotated JPEG, an RGBA PNG with a transparent region, a palette GIF."""
    folder = tmp_path_factory.mktemp("photos")
    files = {}

    def save(name: str, image: Image.Image, **params) -> None:
        files[name] = folder / name
        image.save(files[name], **params)

    save("astronaut.jpg", Image.fromarray(skimage.data.astronaut()), quality=95)
    save("chelsea.png", Image.fromarray(skimage.data.chelsea()))
    save("coffee.webp", Image.fromarray(skimage.data.coffee()), lossless=True)
    save("rocket.bmp", Image.fromarray(skimage.data.rocket()))
    save("motorcycle.tiff", Image.fromarray(skimage.data.stereo_motorcycle()[0]))
    save("logo.png", Image.fromarray(skimage.data.logo()))
    chelsea = Image.fromarray(skimage.data.chelsea())
    save("chelsea-palette.gif", chelsea.quantize(64))
    # Stored rotated with EXIF orientation 6 ("rotate 90 CW to view"): upright it is chelsea.
    exif = Image.Exif()
    exif[0x0112] = 6
    save("chelsea-exif.jpg", chelsea.transpose(Image.Transpose.ROTATE_90), exif=exif, quality=95)
    rgba = np.dstack([skimage.data.astronaut(), np.full((512, 512), 255, np.uint8)])
    rgba[:, :128, 3] = 0  # left quarter fully transparent
    rgba[:, 128:192, 3] = 128  # then a half-transparent band
    save("astronaut-alpha.png", Image.fromarray(rgba, "RGBA"))
    return files


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningServer:
    """``python rmbg.py serve`` in a subprocess on a free loopback port."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        extra_args: tuple[str, ...] = (),
        prefix: tuple[str, ...] = (),
    ) -> None:
        """``prefix``: a command the server runs under (``unshare ...``), which must
        ``exec`` it so that ``process`` is the server itself."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        command = [*prefix, sys.executable, str(ROOT / "rmbg.py"), "serve", "--host", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port), *extra_args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self, path: str, status: int, timeout: float = 120.0) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                response = httpx.get(self.url + path, timeout=5)
                if response.status_code == status:
                    return response
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{path} never answered {status} within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


def server_env(**overrides: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("RMBG_")}
    env.update(overrides)
    return env


def run_rmbg(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """``python rmbg.py ARGS`` with the test environment plus ``env``; output captured."""
    return subprocess.run(
        [sys.executable, str(ROOT / "rmbg.py"), *args],
        env=server_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def private_server_env(folder: Path, **overrides: str) -> dict[str, str]:
    """``server_env`` with the server's own Gradio cache (``folder/gradio``) and temp
    directory (``folder/tmp``), so a test sees every file the server leaves behind."""
    for name in ("gradio", "tmp"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    return server_env(GRADIO_TEMP_DIR=str(folder / "gradio"), TMPDIR=str(folder / "tmp"), **overrides)


def tree(folder: Path) -> set[str]:
    """Every file and folder under ``folder``, as relative POSIX paths."""
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")}


# The files a request may leave in the Gradio cache, by design (swept after an hour by
# delete_cache): its upload under the content's sha256, and its result in a folder
# named with 128 random bits.
UPLOAD_ENTRY = re.compile(r"^[0-9a-f]{64}(/[^/]+)?$")
RESULT_ENTRY = re.compile(r"^rmbg-[0-9a-f]{32}(/[^/]+)?$")


@dataclass
class PrivateServer:
    """A RunningServer with its own cache and temp folders, and a client that downloads
    elsewhere (gradio_client would otherwise download into the server's cache)."""

    running: RunningServer
    folder: Path
    downloads: Path

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def cache(self) -> Path:
        return self.folder / "gradio"

    @property
    def tmp(self) -> Path:
        return self.folder / "tmp"

    def client(self, **kwargs):
        from gradio_client import Client

        return Client(self.url, verbose=False, download_files=str(self.downloads), **kwargs)

    def snapshot(self) -> set[str]:
        return {f"cache/{p}" for p in tree(self.cache)} | {f"tmp/{p}" for p in tree(self.tmp)}

    def unexpected_since(self, before: set[str]) -> set[str]:
        """New entries that are neither an upload nor a result folder."""
        new = self.snapshot() - before
        return {
            entry
            for entry in new
            if not (
                entry.startswith("cache/")
                and (UPLOAD_ENTRY.match(entry[6:]) or RESULT_ENTRY.match(entry[6:]))
            )
        }

    def results_since(self, before: set[str]) -> set[str]:
        return {e for e in self.snapshot() - before if e.startswith("cache/rmbg-")}


def start_private_server(folder: Path, **env: str) -> PrivateServer:
    """Start a server with its own folders and ``RMBG_*`` settings; waits for /ready."""
    running = RunningServer(private_server_env(folder, **env), folder / "server.log")
    try:
        running.wait("/ready", 200)
    except AssertionError:
        running.stop()
        raise
    downloads = folder / "downloads"
    downloads.mkdir()
    return PrivateServer(running, folder, downloads)


# The limits the bad-input catalogue and the limit tests run under.
LIMITS = {
    "RMBG_MAX_FILE_SIZE_MB": "2",
    "RMBG_MAX_MEGAPIXELS": "40",
    "RMBG_MAX_BATCH_FILES": "6",
    "RMBG_QUEUE_SIZE": "1",
}


@pytest.fixture(scope="session")
def limited(fixture_snapshot, tmp_path_factory):
    """A server under small, known limits (LIMITS) with private temp folders."""
    server = start_private_server(tmp_path_factory.mktemp("limited"), **LIMITS)
    try:
        yield server
    finally:
        server.running.stop()


@pytest.fixture(scope="session")
def server(fixture_snapshot, tmp_path_factory):
    """The real app, serving the fixture model."""
    running = RunningServer(server_env(), tmp_path_factory.mktemp("server") / "server.log")
    try:
        running.wait("/ready", 200)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)
