"""A real browser on the real server: Debian's chromium driven by Playwright.

One photo: upload, the result in the before/after slider (dragged), the download is an
RGBA PNG of the photo's size with the fixture model's matte. A batch of three: the
gallery, the report, the ZIP. Screenshots go to artifacts/browser/.

Needs the playwright package (requirements-dev.txt) and chromium; as root with apt-get,
tests/browser/install-chromium.sh installs chromium when it is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fixture_model
from conftest import ROOT

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

INSTALL = ROOT / "tests" / "browser" / "install-chromium.sh"
SCREENSHOTS = ROOT / "artifacts" / "browser"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str | None:
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    if chromium() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["bash", str(INSTALL)], capture_output=True, timeout=900, check=False)
    if chromium() is None:
        pytest.skip(f"the chromium browser is not installed (as root: {INSTALL.relative_to(ROOT)})")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server.url)
    page.get_by_text("Remove the background of a photo").wait_for()
    yield page
    context.close()


def download(page, button: str, folder: Path) -> Path:
    with page.expect_download() as info:
        page.locator(button).click()
    target = folder / info.value.suggested_filename
    info.value.save_as(target)
    return target


def test_one_photo_slider_and_download(page, photos, tmp_path):
    """A PNG with its own transparency (left quarter clear, then a half-clear band): the
    page must hand the file over as it is, not flattened to RGB."""
    page.locator("#photo input[type=file]").set_input_files(str(photos["astronaut-alpha.png"]))
    page.locator("#info").get_by_text("astronaut-alpha-nobg.png · 512×512").wait_for()
    page.screenshot(path=SCREENSHOTS / "1-one-photo.png", full_page=True)

    # The slider: before (the photo) under after (the cutout), clipped at the handle.
    images = page.locator("#before-after img[data-testid=imageslider-image]")
    assert images.count() == 2
    after = images.nth(1)
    assert after.evaluate("e => e.style.clipPath") == "inset(0px 0px 0px 50%)"
    frame = page.locator("#before-after .slider-wrap").bounding_box()
    handle = page.locator("#before-after .icon-wrap").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(frame["x"] + frame["width"] * 0.2, handle["y"] + handle["height"] / 2, steps=10)
    page.mouse.up()
    clipped = float(after.evaluate("e => e.style.clipPath").split()[-1].rstrip("%)"))
    assert 15 < clipped < 25
    page.locator("#before-after").screenshot(path=SCREENSHOTS / "2-slider-moved.png")

    result = download(page, "#download", tmp_path)
    assert result.name == "astronaut-alpha-nobg.png"
    with Image.open(photos["astronaut-alpha.png"]) as original:
        own_alpha = np.asarray(original)[..., 3]
        source = original.convert("RGB")
    with Image.open(result) as cutout:
        assert (cutout.format, cutout.mode, cutout.size) == ("PNG", "RGBA", (512, 512))
        alpha = np.asarray(cutout)[..., 3].astype(int)
    assert (alpha[:, :128] == 0).all()
    assert np.abs(alpha - fixture_model.expected_alpha(source, own_alpha)).max() <= 1


def test_batch_of_three_and_zip(page, photos, tmp_path):
    page.get_by_role("tab", name="Batch").click()
    names = ["astronaut.jpg", "chelsea.png", "coffee.webp"]
    page.locator("#batch-files input[type=file]").set_input_files([str(photos[n]) for n in names])
    page.locator('#batch-files td.filename[aria-label="coffee.webp"]').wait_for()  # uploaded
    page.get_by_role("button", name="Process all").click()
    page.locator("#report").get_by_text("3 done, 0 failed").wait_for()
    assert page.locator("#gallery img").count() == 3
    page.screenshot(path=SCREENSHOTS / "3-batch.png", full_page=True)

    archive = download(page, "#download-zip", tmp_path)
    assert archive.name == "rmbg-results.zip"
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == [
            "astronaut-nobg.png",
            "chelsea-nobg.png",
            "coffee-nobg.png",
            "report.json",
        ]
        assert json.loads(zf.read("report.json"))["succeeded"] == 3
        for name in names:
            with zf.open(Path(name).stem + "-nobg.png") as member, Image.open(member) as cutout:
                assert cutout.mode == "RGBA"
                assert cutout.size == Image.open(photos[name]).size


def test_oversize_upload_is_refused_in_the_page(browser, limited, tmp_path):
    """The page checks the upload limit itself and names it (RMBG_MAX_FILE_SIZE_MB=2)."""
    big = tmp_path / "huge.png"
    noise = np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), np.uint8)
    Image.fromarray(noise).save(big, compress_level=0)
    assert big.stat().st_size > 2 * 1024 * 1024
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.goto(limited.url)
    page.locator("#photo input[type=file]").set_input_files(str(big))
    message = 'File(s) exceed the maximum allowed size of 2.0 Mb: "huge.png"'
    page.get_by_text(message).first.wait_for(timeout=30_000)
    page.screenshot(path=SCREENSHOTS / "4-upload-too-large.png")
    context.close()
