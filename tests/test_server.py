"""The real server on a real port, called through gradio_client, curl and plain HTTP."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image, ImageOps

import fixture_model
from conftest import HF_HOME, ROOT, RunningServer, run_rmbg, server_env


def upright(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def test_health_and_ready_describe_the_model(server):
    health = httpx.get(server.url + "/health").json()
    assert health == {"status": "ok", "model_status": "ready"}
    ready = httpx.get(server.url + "/ready")
    assert ready.status_code == 200
    report = ready.json()
    assert report["model"] == "briaai/RMBG-2.0"
    assert report["revision"] == fixture_model.COMMIT
    assert (report["device"], report["backend"], report["dtype"]) == ("cpu", "onnxruntime", "float32")


def test_start_log_names_model_revision_device_dtype_and_time(server):
    log = server.log()
    assert f"Loaded briaai/RMBG-2.0 (revision {fixture_model.COMMIT}" in log
    assert "on cpu (" in log and "float32, in " in log
    assert "Warm-up inference took" in log and "Ready after" in log
    assert log.index("Warm-up inference took") < log.index("Ready after")


def test_page_is_served(server):
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "<html" in page.text


@pytest.mark.parametrize("name", ["astronaut.jpg", "chelsea-exif.jpg", "coffee.webp", "astronaut-alpha.png"])
def test_remove_background_through_gradio_client(client, photos, name):
    result = Path(client.predict(handle_file(str(photos[name])), api_name="/remove_background"))
    assert result.name == Path(name).stem + "-nobg.png"
    source = upright(photos[name])
    with Image.open(result) as cutout:
        assert (cutout.format, cutout.mode, cutout.size) == ("PNG", "RGBA", source.size)
        pixels = np.asarray(cutout)
    own_alpha = None
    with Image.open(photos[name]) as original:
        if original.mode == "RGBA":
            own_alpha = np.asarray(original)[..., 3]
    visible = own_alpha != 0 if own_alpha is not None else np.ones(source.size[::-1], bool)
    np.testing.assert_array_equal(pixels[..., :3][visible], np.asarray(source)[visible])
    expected = fixture_model.expected_alpha(source, own_alpha)
    assert np.abs(pixels[..., 3].astype(int) - expected).max() <= 1


def test_matte_endpoint(client, photos):
    result = Path(client.predict(handle_file(str(photos["chelsea.png"])), api_name="/matte"))
    assert result.name == "chelsea-matte.png"
    with Image.open(result) as matte:
        assert matte.mode == "L" and matte.size == (451, 300)
        expected = fixture_model.expected_alpha(upright(photos["chelsea.png"]))
        assert np.abs(np.asarray(matte, int) - expected).max() <= 1


def test_api_lists_the_named_endpoints(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/remove_background", "/matte"} <= set(endpoints)


def bad_files(folder: Path, photos) -> list[tuple[Path, str]]:
    jpeg = photos["astronaut.jpg"].read_bytes()
    cases = {
        "truncated.jpg": (jpeg[: len(jpeg) // 3], "damaged or truncated"),
        "text.png": (b"just some text, not a picture", "not an image in a supported format"),
        "empty.png": (b"", "is empty"),
    }
    files = []
    for name, (content, message) in cases.items():
        (folder / name).write_bytes(content)
        files.append((folder / name, message))
    return files


def test_bad_inputs_give_clear_errors_and_the_server_keeps_serving(client, photos, tmp_path):
    for path, message in bad_files(tmp_path, photos):
        with pytest.raises(Exception, match=message) as info:
            client.predict(handle_file(str(path)), api_name="/remove_background")
        assert path.name in str(info.value)
        good = Path(client.predict(handle_file(str(photos["chelsea.png"])), api_name="/remove_background"))
        assert Image.open(good).size == (451, 300)


def test_curl_example_from_the_readme(server, photos, tmp_path):
    script = ROOT / "examples" / "remove_background.sh"
    done = subprocess.run(
        ["bash", str(script), str(photos["coffee.webp"]), server.url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "coffee-nobg.png"
    assert Image.open(tmp_path / "coffee-nobg.png").mode == "RGBA"
    (tmp_path / "text.png").write_text("not an image")
    failed = subprocess.run(
        ["bash", str(script), str(tmp_path / "text.png"), server.url, "matte"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode != 0
    assert "'text.png' is not an image in a supported format" in failed.stderr


def test_missing_model_keeps_serving_and_explains(tmp_path, photos):
    running = RunningServer(server_env(HF_HOME=str(tmp_path / "empty")), tmp_path / "server.log")
    try:
        assert running.wait("/health", 200).json()["model_status"] in ("loading", "failed")
        report = running.wait("/ready", 503).json()
        while report["status"] == "loading":
            report = httpx.get(running.url + "/ready").json()
        assert report["status"] == "failed"
        assert "accept its licence" in report["error"] and "HF_TOKEN" in report["error"]
        with pytest.raises(Exception, match="The model is not available"):
            Client(running.url, verbose=False).predict(
                handle_file(str(photos["chelsea.png"])), api_name="/remove_background"
            )
        assert running.log().count("Model not loaded") == 1
    finally:
        running.stop()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_stops_at_start(fixture_snapshot):
    done = run_rmbg("serve", "--device", "cuda", "--port", "1")
    assert done.returncode == 1
    assert "RMBG_DEVICE=cuda but torch sees no CUDA device" in done.stderr


def test_settings_errors_exit_2_with_the_variable_named():
    done = run_rmbg("serve", RMBG_QUEUE_SIZE="many", HF_HOME=str(HF_HOME))
    assert done.returncode == 2
    assert "RMBG_QUEUE_SIZE='many' is not a int" in done.stderr
