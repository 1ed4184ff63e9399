"""Shared by load.py and soak.py: a server to hammer, photos to send, result checks.

By default the scripts start ``python rmbg.py serve`` themselves on a free port, with
the tests' fixture model (tests/fixture_model.py) in a fresh Hugging Face cache and
private Gradio cache and temp folders, so they can read the server's memory and see
every file it leaves behind. ``--url`` points them at a running server instead (then
``--pid`` lets soak.py read its memory).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import skimage.data
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fixture_model  # noqa: E402 - lives in tests/

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "cat", "immunohistochemistry")
UPLOAD_ENTRY = re.compile(r"^[0-9a-f]{64}(/[^/]+)?$")
RESULT_ENTRY = re.compile(r"^rmbg-[0-9a-f]{32}(/[^/]+)?$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A server the scripts talk to; ``process`` is None for one given by ``--url``."""

    url: str
    pid: int | None = None
    process: subprocess.Popen | None = None
    folder: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def cache(self) -> Path | None:
        return self.folder / "gradio" if self.folder else None

    @property
    def tmp(self) -> Path | None:
        return self.folder / "tmp" if self.folder else None

    def status_kb(self, name: str) -> int:
        """A ``/proc/<pid>/status`` field in kB (``VmRSS``, ``VmHWM``)."""
        text = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(rf"^{name}:\s+(\d+) kB", text, re.MULTILINE).group(1))

    def stop(self) -> None:
        """Stop a server the scripts started and remove its folder (cache, model, log)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
            shutil.rmtree(self.folder, ignore_errors=True)


def start_fixture_server(settings: dict[str, str] | None = None) -> Server:
    """``rmbg.py serve`` on the fixture model, with private cache and temp folders."""
    folder = Path(tempfile.mkdtemp(prefix="rmbg-load-"))
    fixture_model.build_hf_cache(folder / "hf")
    for name in ("gradio", "tmp"):
        (folder / name).mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RMBG_")}
    env |= {
        "HF_HOME": str(folder / "hf"),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_TEMP_DIR": str(folder / "gradio"),
        "TMPDIR": str(folder / "tmp"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        **(settings or {}),
    }
    port = free_port()
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - the server's for its lifetime
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "rmbg.py"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", process.pid, process, folder, env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{(folder / 'server.log').read_text()}")
        try:
            if httpx.get(server.url + "/ready", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError("server not ready in 180 s")


def make_photos(folder: Path, count: int) -> list[Path]:
    """``count`` real photos, JPEG and PNG, 200-900 px: a mix like users send."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        array = getattr(skimage.data, PHOTOS[index % len(PHOTOS)])()
        side = 200 + (index * 137) % 700
        image = Image.fromarray(array).convert("RGB")
        image = image.resize((side, max(1, side * image.height // image.width)))
        path = folder / f"photo{index:03d}.{'jpg' if index % 2 else 'png'}"
        image.save(path, **({"quality": 90} if path.suffix == ".jpg" else {}))
        paths.append(path)
    return paths


def check_cutout(source: Path, result: Path) -> None:
    """Whatever the model: an RGBA PNG of the photo's size, named after it, whose colours
    are the photo's wherever it is not fully transparent.

    Raises:
        AssertionError: with what is wrong.
    """
    assert result.name == source.stem + "-nobg.png", result.name
    with Image.open(source) as image:
        photo = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    with Image.open(result) as image:
        assert (image.format, image.mode) == ("PNG", "RGBA"), (image.format, image.mode)
        cutout = np.asarray(image)
    assert cutout.shape[:2] == photo.shape[:2], (cutout.shape, photo.shape)
    visible = cutout[..., 3] > 0
    assert visible.any(), "fully transparent"
    assert np.array_equal(cutout[..., :3][visible], photo[visible]), "colours differ from the photo"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def zip_of(paths: list[Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in paths:
            archive.write(path, f"set/{path.name}")
    return buffer.getvalue()


def tree(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")}
