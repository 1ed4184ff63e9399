"""Batches: ZIPs, folders and globs, unique names, per-file failures, the CLI, the API."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import skimage.data
from gradio_client import handle_file
from PIL import Image

from conftest import run_rmbg
from rmbg_app import batch
from rmbg_app.errors import InputError
from rmbg_app.options import ExportOptions

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "cat", "immunohistochemistry", "hubble_deep_field"]


@pytest.fixture(scope="module")
def shop_folder(tmp_path_factory) -> Path:
    """20 product-like photos in nested folders, two sharing a stem."""
    root = tmp_path_factory.mktemp("shop") / "shop"
    for index in range(20):
        array = getattr(skimage.data, PHOTOS[index % len(PHOTOS)])()
        image = Image.fromarray(array).resize((160 + 8 * index, 120 + 4 * index))
        folder = root / ("shoes" if index < 10 else "bags") / ("new" if index % 3 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"item{index:02d}.jpg", quality=92)
    Image.fromarray(skimage.data.chelsea()).save(root / "shoes" / "item01.png")
    return root


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return run_rmbg("remove", *args)


SHOP_OPTIONS = [
    "--output",
    "color",
    "--background-color",
    "#ffffff",
    "--format",
    "jpeg",
    "--crop",
    "--crop-margin",
    "5",
]


def test_zip_entries_that_escape_or_are_not_images_are_skipped(tmp_path):
    archive = tmp_path / "upload.zip"
    png = tmp_path / "p.png"
    Image.fromarray(skimage.data.astronaut()).save(png)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(png, "a/b/deep.png")
        zf.write(png, "../../escape.png")
        zf.writestr(zipfile.ZipInfo("/abs.png"), png.read_bytes())
        zf.writestr("notes.txt", "hello")
        zf.writestr("folder/", "")
    items, skipped = batch.extract_zip(archive, tmp_path / "out", max_files=10)
    assert [i.relative for i in items] == [PurePosixPath("a/b/deep.png")]
    assert (tmp_path / "out" / "a" / "b" / "deep.png").is_file()
    assert not (tmp_path / "escape.png").exists() and not Path("/abs.png").exists()
    reasons = sorted(o.error for o in skipped)
    assert any("points outside the ZIP" in r for r in reasons) and any(
        "not an image file" in r for r in reasons
    )
    with pytest.raises(InputError, match=r"limit per batch \(RMBG_MAX_BATCH_FILES\) is 0"):
        batch.extract_zip(archive, tmp_path / "again", max_files=0)
    (tmp_path / "fake.zip").write_text("no zip")
    with pytest.raises(InputError, match="not a valid ZIP"):
        batch.extract_zip(tmp_path / "fake.zip", tmp_path / "x", max_files=10)


def test_names_never_collide():
    items = [
        batch.Item(Path(n), PurePosixPath(n))
        for n in ("a/photo.jpg", "a/photo.png", "a/Photo.webp", "b/photo.jpg")
    ]
    names = [name for _, name in batch.plan(items, ExportOptions())]
    assert names == ["a/photo-nobg.png", "a/photo-nobg-2.png", "a/Photo-nobg-3.png", "b/photo-nobg.png"]


def test_cli_keeps_structure_reports_failures_and_skips_done(fixture_snapshot, shop_folder, tmp_path):
    broken = shop_folder.parent / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "bad.jpg").write_bytes(b"\xff\xd8\xff not really")
    out = tmp_path / "out"
    done = run_cli(str(shop_folder), str(broken), "-o", str(out), *SHOP_OPTIONS)
    assert done.returncode == 1, done.stderr
    assert "bad.jpg" in done.stderr and "21 done, 0 skipped" in done.stderr and "1 failed" in done.stderr
    results = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    inputs = sorted(p.relative_to(shop_folder).as_posix() for p in shop_folder.rglob("*") if p.is_file())
    assert len(results) == 21 and "shoes/item01-nobg-2.jpg" in results
    assert {str(PurePosixPath(r).parent) for r in results} == {str(PurePosixPath(i).parent) for i in inputs}
    for path in out.rglob("*.jpg"):
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
    again = run_cli(str(shop_folder), "-o", str(out), *SHOP_OPTIONS)
    assert again.returncode == 0 and "0 done, 21 skipped" in again.stderr
    redo = run_cli(
        str(shop_folder / "bags" / "item10.jpg"), "-o", str(out / "bags"), "--overwrite", *SHOP_OPTIONS
    )
    assert redo.returncode == 0 and "1 done" in redo.stderr


def test_cli_never_overwrites_an_input(fixture_snapshot, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(skimage.data.chelsea()).save(folder / "cat.png")
    Image.fromarray(skimage.data.chelsea()).save(folder / "cat-nobg.png")
    done = run_cli(str(folder / "cat.png"), str(folder / "cat-nobg.png"), "-o", str(folder), "--overwrite")
    assert done.returncode == 1
    assert "would overwrite an input file" in done.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(folder / "cat-nobg.png")), skimage.data.chelsea())
    assert (folder / "cat-nobg-nobg.png").is_file()


def test_cli_globs_and_missing_inputs(fixture_snapshot, shop_folder, tmp_path):
    done = run_cli(
        str(shop_folder / "bags" / "*.jpg"), str(tmp_path / "nothing-here"), "-o", str(tmp_path / "o")
    )
    assert done.returncode == 1 and "does not exist" in done.stderr
    assert len(list((tmp_path / "o").glob("*-nobg.png"))) == len(list((shop_folder / "bags").glob("*.jpg")))


def test_cli_bad_option_is_a_clear_error(fixture_snapshot, tmp_path):
    done = run_cli(str(tmp_path), "-o", str(tmp_path / "o"), "--format", "jpeg")
    assert done.returncode == 1 and "JPEG cannot store transparency" in done.stderr
    assert "Traceback" not in done.stderr


def test_api_batch_zip_equals_the_cli_folder(fixture_snapshot, client, shop_folder, tmp_path):
    """The issue's "done when": 20 photos, white background, JPEG, 5 % crop margin, one ZIP;
    the CLI on the same folder gives the same files."""
    files = sorted(p for p in shop_folder.rglob("*.jpg"))
    archive = tmp_path / "shop.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in files:
            zf.write(path, path.relative_to(shop_folder).as_posix())
    result = client.predict(
        [handle_file(str(archive))],
        output="color",
        background_color="#ffffff",
        format="jpeg",
        crop=True,
        crop_margin=5,
        api_name="/remove_background_batch",
    )
    with zipfile.ZipFile(result) as zf:
        report = json.loads(zf.read(batch.REPORT_NAME))
        zipped = {
            name.removeprefix("shop/"): zf.read(name) for name in zf.namelist() if name != batch.REPORT_NAME
        }
    assert report["succeeded"] == 20 and report["failed"] == 0
    only_jpgs = tmp_path / "jpgs"
    for path in files:
        target = only_jpgs / path.relative_to(shop_folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    out = tmp_path / "cli"
    assert run_cli(str(only_jpgs), "-o", str(out), *SHOP_OPTIONS).returncode == 0
    cli_files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert zipped.keys() == cli_files.keys() and len(zipped) == 20
    assert all(zipped[name] == cli_files[name] for name in zipped)


def test_api_batch_reports_failures_and_collisions(client, photos, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    copy = tmp_path / "astronaut.png"
    Image.open(photos["astronaut.jpg"]).save(copy)
    result = client.predict(
        [handle_file(str(photos["astronaut.jpg"])), handle_file(str(copy)), handle_file(str(bad))],
        api_name="/remove_background_batch",
    )
    with zipfile.ZipFile(result) as zf:
        names = set(zf.namelist())
        report = json.loads(zf.read(batch.REPORT_NAME))
    assert names == {"astronaut-nobg.png", "astronaut-nobg-2.png", batch.REPORT_NAME}
    assert report["failed"] == 1 and "broken.png" in report["files"][2]["error"]


def test_api_batch_with_nothing_usable_is_an_error(client, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(Exception, match="No file could be processed"):
        client.predict([handle_file(str(bad))], api_name="/remove_background_batch")


def test_api_single_with_options(client, photos):
    result = Path(
        client.predict(
            handle_file(str(photos["chelsea.png"])),
            output="color",
            background_color="#000000",
            format="jpeg",
            rotate=90,
            api_name="/remove_background",
        )
    )
    assert result.name == "chelsea-nobg.jpg"
    with Image.open(result) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (300, 451))
    with pytest.raises(Exception, match="JPEG cannot store transparency"):
        client.predict(handle_file(str(photos["chelsea.png"])), format="jpeg", api_name="/remove_background")
