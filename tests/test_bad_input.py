"""The bad-input catalogue through the real API: gradio_client -> server on a real port.

Every input is processed correctly or refused with a specific message; after each one
the server still answers, it left nothing in its temp folders but the upload and (for
a success) the result folder, the user's file is unchanged, and so is the server's copy
of the upload. The outcomes are written to artifacts/bad-input-catalogue.md (the table
in docs/hardening.md).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import strip_invalid_filename_characters
from PIL import Image

import fixture_model
from catalogue import ASTRONAUT, CASES, JPEG_BYTES, PNG_BYTES, Case, heic, png_bomb
from conftest import ROOT

OUTCOMES: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def write_outcomes():
    yield
    if OUTCOMES:
        folder = ROOT / "artifacts"
        folder.mkdir(exist_ok=True)
        rows = [f"| `{case}` | {outcome} |" for case, outcome in OUTCOMES.items()]
        (folder / "bad-input-catalogue.md").write_text(
            "| Case | Outcome |\n|---|---|\n" + "\n".join(rows) + "\n", encoding="utf-8"
        )


@pytest.fixture(scope="module")
def api(limited):
    return limited.client()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_result(case: Case, result: Path) -> str:
    """The result is an RGBA PNG of the upright size, with the upload's colours and the
    fixture model's alpha for them; returns a one-line description."""
    with Image.open(result) as image:
        assert (image.format, image.mode) == ("PNG", "RGBA")
        pixels = np.asarray(image)
    reference = case.reference
    assert pixels.shape[:2] == reference.shape[:2]
    visible = case.own_alpha != 0 if case.own_alpha is not None else np.ones(reference.shape[:2], bool)
    if case.rgb_tolerance is not None:
        assert np.abs(pixels[..., :3].astype(int) - reference)[visible].mean() <= case.rgb_tolerance
    # The matte is the model's answer for the decoded colours: the result's own (lossy
    # codecs) or, where the file's alpha hides them, the reference's.
    source = reference if case.own_alpha is not None else pixels[..., :3]
    expected = fixture_model.expected_alpha(Image.fromarray(np.ascontiguousarray(source)), case.own_alpha)
    assert np.abs(pixels[..., 3].astype(int) - expected).max() <= 1
    height, width = reference.shape[:2]
    return f"processed: `{result.name}`, {width}×{height} RGBA"


def server_copies(server, before: set[str], name: str) -> list[Path]:
    """The server's copies of an upload made since ``before`` (in its content folder)."""
    return [
        server.cache / entry.removeprefix("cache/")
        for entry in server.snapshot() - before
        if entry.startswith("cache/") and entry.endswith("/" + name) and not entry.startswith("cache/rmbg-")
    ]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_catalogue(limited, api, case, tmp_path):
    path = tmp_path / case.file_name
    path.write_bytes(case.build())
    digest = sha256(path)
    before = limited.snapshot()
    started = time.perf_counter()
    if case.refused:
        with pytest.raises(AppError, match=case.refused) as info:
            api.predict(handle_file(str(path)), api_name="/remove_background")
        outcome = f"refused: {info.value}"
        assert not limited.results_since(before), "a refused request left a result folder"
    else:
        result = Path(api.predict(handle_file(str(path)), api_name="/remove_background"))
        # Gradio shortens names past 200 bytes and replaces a few characters on upload.
        assert result.name == Path(strip_invalid_filename_characters(case.file_name)).stem + "-nobg.png"
        outcome = check_result(case, result)
        assert len(limited.results_since(before)) == 2  # the folder and the result in it
    seconds = time.perf_counter() - started
    assert limited.unexpected_since(before) == set()
    assert sha256(path) == digest
    for copy in server_copies(limited, before, case.file_name):
        assert sha256(copy) == digest, "the server changed its copy of the upload"
    assert httpx.get(limited.url + "/ready").status_code == 200
    OUTCOMES[case.id] = f"{outcome.replace('|', '/')} ({seconds:.1f} s)"


def test_bombs_are_refused_before_decoding(limited, api, tmp_path):
    """A 2.5-gigapixel PNG (300 kB) costs no more than a normal request."""
    path = tmp_path / "giga.png"
    path.write_bytes(png_bomb(50_000, 50_000))
    assert path.stat().st_size < 400_000
    started = time.perf_counter()
    with pytest.raises(AppError, match=r"RMBG_MAX_MEGAPIXELS"):
        api.predict(handle_file(str(path)), api_name="/remove_background")
    assert time.perf_counter() - started < 3.0


def stored_with_bad_crc(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Store ``data`` under ``name`` with a CRC that does not match it."""
    info = zipfile.ZipInfo(name)
    archive.writestr(info, data)
    info.CRC ^= 0xFFFF  # the central directory is written from this at close


def hostile_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("shoes/red/left.jpg", JPEG_BYTES)
        archive.writestr("ünï/фото.png", PNG_BYTES)
        archive.writestr("IMG_0001.HEIC", heic(ASTRONAUT))
        archive.writestr("../../escape.png", PNG_BYTES)
        archive.writestr("/etc/cron.d/evil.png", PNG_BYTES)
        archive.writestr("C:\\Windows\\evil.png", PNG_BYTES)
        archive.writestr("notes.txt", "not an image")
        archive.writestr("shoes/", "")
        archive.writestr("__MACOSX/shoes/._left.jpg", b"\x00\x05\x16\x07 AppleDouble junk")
        archive.writestr("bomb.png", png_bomb(8000, 8000))
        # 30 MiB of zeros: a few kB in the ZIP, over the 2 MiB upload limit unpacked.
        archive.writestr("huge.png", bytes(30 * 1024 * 1024))
        stored_with_bad_crc(archive, "damaged.png", PNG_BYTES)


def test_hostile_zip(limited, api, tmp_path):
    """Path traversal, absolute and drive-letter names, nested folders, non-images, a ZIP
    bomb entry, a damaged entry and a decompression-bomb image, in one ZIP: the good
    images are processed under their folders, every other entry is reported, and
    nothing is written outside the batch's temp folder."""
    archive = tmp_path / "upload.zip"
    hostile_zip(archive)
    before = limited.snapshot()
    result = Path(api.predict([handle_file(str(archive))], api_name="/remove_background_batch"))
    with zipfile.ZipFile(result) as zf:
        names = set(zf.namelist())
        report = json.loads(zf.read("report.json"))
        cutout = Image.open(io.BytesIO(zf.read("upload/shoes/red/left-nobg.png")))
        assert (cutout.mode, cutout.size) == ("RGBA", (512, 512))
    assert names == {
        "upload/shoes/red/left-nobg.png",
        "upload/ünï/фото-nobg.png",
        "upload/IMG_0001-nobg.png",
        "report.json",
    }
    errors = {entry["input"]: entry["error"] for entry in report["files"] if entry["error"]}
    assert report["succeeded"] == 3 and report["failed"] == len(errors) == 8
    expected = {
        "upload.zip/../../escape.png": "points outside the ZIP",
        "upload.zip/etc/cron.d/evil.png": "points outside the ZIP",
        "upload.zip/C:\\Windows\\evil.png": "points outside the ZIP",
        "upload.zip/notes.txt": "not an image file",
        "upload/__MACOSX/shoes/._left.jpg": "not an image in a supported format",
        "upload/bomb.png": r"8000x8000 = 64.0 megapixels; the limit (RMBG_MAX_MEGAPIXELS) is 40",
        "upload.zip/huge.png": "unpacks to 30.0 MiB; the limit (RMBG_MAX_FILE_SIZE_MB) is 2 MiB",
        "upload.zip/damaged.png": "cannot be unpacked (Bad CRC-32",
    }
    for name, message in expected.items():
        assert message in errors[name], (name, errors[name])
    assert limited.unexpected_since(before) == set()
    assert not any("escape" in entry or "evil" in entry for entry in limited.snapshot())
    assert not list(limited.folder.parent.glob("**/escape.png"))
    OUTCOMES["hostile-zip"] = (
        "processed: 3 images (one HEIC) under their folders; 8 entries reported in report.json and "
        "skipped (traversal, absolute, drive letter, non-image, junk, bomb image, "
        "30 MiB entry, bad CRC)"
    )


@pytest.mark.parametrize(
    ("case", "content", "message"),
    [
        ("zip-not-a-zip", b"PK but not really a ZIP", r"'fake\.zip' is not a valid ZIP archive"),
        ("zip-empty", b"PK\x05\x06" + bytes(18), "No file could be processed: the upload holds no files"),
    ],
)
def test_broken_zips_are_refused(limited, api, tmp_path, case, content, message):
    archive = tmp_path / "fake.zip"
    archive.write_bytes(content)
    before = limited.snapshot()
    with pytest.raises(AppError, match=message) as info:
        api.predict([handle_file(str(archive))], api_name="/remove_background_batch")
    assert limited.unexpected_since(before) == set()
    assert not limited.results_since(before), "a failed batch left its result folder"
    OUTCOMES[case] = f"refused: {info.value}"
