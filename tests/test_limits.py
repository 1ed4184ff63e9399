"""Limits through the real server (conftest.LIMITS): upload size, files per batch and
queue length; each refusal is fast, names the setting and its value, and leaves the
server serving. (The megapixel limit is in the bad-input catalogue.)"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import skimage.data
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError, Status
from PIL import Image

from catalogue import PNG_BYTES


@pytest.fixture(scope="module")
def api(limited):
    return limited.client()


def noise_png(path: Path, megabytes: float) -> Path:
    """A PNG of random pixels (incompressible) of about ``megabytes`` MiB."""
    side = int((megabytes * 1024 * 1024 / 3) ** 0.5) + 1
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), np.uint8)
    Image.fromarray(pixels).save(path, compress_level=0)
    return path


def test_oversize_upload_is_refused_with_the_limit_named(limited, api, tmp_path):
    big = noise_png(tmp_path / "big.png", 3)
    assert big.stat().st_size > 2 * 1024 * 1024
    before = limited.snapshot()
    # gradio_client checks the server's max_file_size itself, before sending a byte.
    with pytest.raises(ValueError, match=r"exceeds the maximum file size of 2097152 bytes"):
        api.predict(handle_file(str(big)), api_name="/remove_background")
    # Plain HTTP (curl, the web page) gets the server's answer, naming the setting.
    with big.open("rb") as file:
        response = httpx.post(limited.url + "/gradio_api/upload", files={"files": ("big.png", file)})
    assert response.status_code == 413
    assert "limit (RMBG_MAX_FILE_SIZE_MB) of 2 MiB" in response.text
    assert limited.snapshot() == before, "a refused upload left a file behind"
    small = tmp_path / "small.png"
    small.write_bytes(PNG_BYTES)
    assert Path(api.predict(handle_file(str(small)), api_name="/remove_background")).is_file()


def small_jpegs(folder: Path, count: int) -> list[Path]:
    paths = []
    for index in range(count):
        paths.append(folder / f"photo{index}.jpg")
        Image.fromarray(skimage.data.astronaut()).resize((64, 64)).save(paths[-1], quality=90)
    return paths


def test_files_per_batch(limited, api, tmp_path):
    seven = small_jpegs(tmp_path, 7)
    before = limited.snapshot()
    with pytest.raises(AppError, match=r"7 images in one batch; the limit \(RMBG_MAX_BATCH_FILES\) is 6\."):
        api.predict([handle_file(str(p)) for p in seven], api_name="/remove_background_batch")
    archive = tmp_path / "seven.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in seven:
            zf.write(path, path.name)
    with pytest.raises(
        AppError, match=r"holds more than 6 images; the limit per batch \(RMBG_MAX_BATCH_FILES\) is 6"
    ):
        api.predict([handle_file(str(archive))], api_name="/remove_background_batch")
    assert limited.unexpected_since(before) == set()
    assert not limited.results_since(before)
    result = api.predict([handle_file(str(p)) for p in seven[:6]], api_name="/remove_background_batch")
    with zipfile.ZipFile(result) as zf:
        assert len(zf.namelist()) == 7  # six results and report.json


def wait_for(job, codes: set[Status], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while job.status().code not in codes:
        assert not job.done(), f"the job ended early: {job.exception()}"
        assert time.monotonic() < deadline, f"job still {job.status().code}"
        time.sleep(0.05)


def slow_batch(folder: Path) -> Path:
    """Six large photos with edge clean-up: a few seconds of work for the server."""
    archive = folder / "slow.zip"
    photo = Image.fromarray(skimage.data.astronaut()).resize((1400, 1400))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=70)
    with zipfile.ZipFile(archive, "w") as zf:
        for index in range(6):
            zf.writestr(f"big{index}.jpg", buffer.getvalue())
    return archive


def test_full_queue_answers_busy_at_once(limited, tmp_path):
    """RMBG_QUEUE_SIZE=1: one request runs, one waits, the next is told to come back."""
    small = tmp_path / "cat.png"
    small.write_bytes(PNG_BYTES)
    running = limited.client().submit(
        [handle_file(str(slow_batch(tmp_path)))], refine_edges=True, api_name="/remove_background_batch"
    )
    wait_for(running, {Status.PROCESSING, Status.PROGRESS})
    waiting = limited.client().submit(handle_file(str(small)), api_name="/remove_background")
    wait_for(waiting, {Status.IN_QUEUE})

    started = time.perf_counter()
    with pytest.raises(QueueError, match="Queue is full! Please try again"):
        limited.client().predict(handle_file(str(small)), api_name="/remove_background")
    assert time.perf_counter() - started < 5.0
    upload = httpx.post(limited.url + "/gradio_api/upload", files={"files": ("cat.png", PNG_BYTES)})
    file_data = {"path": upload.json()[0], "meta": {"_type": "gradio.FileData"}}
    busy = httpx.post(limited.url + "/gradio_api/call/v2/remove_background", json={"image": file_data})
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert busy.json()["detail"] == (
        "The server is busy: the queue of requests waiting for the model is full (the limit, "
        "RMBG_QUEUE_SIZE, is 1). Try again in a moment."
    )
    assert httpx.get(limited.url + "/health").status_code == 200

    assert zipfile.ZipFile(running.result(timeout=120)).testzip() is None
    assert Path(waiting.result(timeout=60)).name == "cat-nobg.png"
    again = limited.client().predict(handle_file(str(small)), api_name="/remove_background")
    assert Path(again).name == "cat-nobg.png"
