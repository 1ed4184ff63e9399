"""Many files through one engine: collect inputs (files, folders, globs, ZIPs), name
the results without collisions, and report per-file outcomes.

Results are encoded and handed to a sink one at a time, so a batch never holds more
than one full-size result in memory.
"""

from __future__ import annotations

import glob
import io
import json
import shutil
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .engine import Engine, Result
from .errors import InputError, RmbgError
from .options import ExportOptions
from .pipeline import encode

# File endings taken from folders and ZIPs; anything else there is skipped (reported).
IMAGE_SUFFIXES = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".gif",
        ".avif", ".heic", ".heif", ".ico", ".ppm", ".pgm", ".pbm", ".tga",
    }
)  # fmt: skip
REPORT_NAME = "report.json"
# What one damaged entry raises while the rest of its ZIP is fine: bad CRC or header,
# corrupt deflate data, an encrypted entry (RuntimeError), an unsupported method.
_ENTRY_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError)


@dataclass(frozen=True)
class Item:
    """One input of a batch.

    Attributes:
        path: where its bytes are on disk.
        relative: its name inside the batch, with folders (``shoes/red.jpg``): the
            result keeps that folder structure.
    """

    path: Path
    relative: PurePosixPath


@dataclass
class Outcome:
    """What happened to one item: ``output`` (its result's relative name) or ``error``."""

    item: Item
    output: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def _safe_relative(name: str) -> PurePosixPath | None:
    """A ZIP entry's name as a relative path, or None when it tries to leave its folder
    (``../``, absolute, drive letters) or is empty."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." or ":" in p for p in parts) or name.startswith(("/", "\\")):
        return None
    return PurePosixPath(*parts)


def extract_zip(
    archive: Path, into: Path, *, max_files: int, max_entry_mb: float | None = None
) -> tuple[list[Item], list[Outcome]]:
    """Unpack the image entries of ``archive`` into ``into``, keeping their folders.

    Args:
        max_files: most image entries accepted.
        max_entry_mb: largest uncompressed entry, MiB (the upload limit: a ZIP must not
            smuggle in what a plain upload could not, nor fill the disk from a tiny file).

    Returns:
        (items, skipped): entries that escape their folder, are not images or are over
        ``max_entry_mb`` are skipped with a reason, never written.

    Raises:
        InputError: not a ZIP, or more than ``max_files`` image entries.
    """
    items: list[Item] = []
    skipped: list[Outcome] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            entries = [info for info in zf.infolist() if not info.is_dir()]
            for info in entries:
                relative = _safe_relative(info.filename)
                # Joined as text: an absolute entry name would replace the archive's name.
                source = Item(archive, PurePosixPath(f"{archive.name}/{info.filename}"))
                if relative is None:
                    skipped.append(
                        Outcome(source, error=f"{info.filename!r} points outside the ZIP; skipped.")
                    )
                    continue
                if not is_image_name(info.filename):
                    skipped.append(Outcome(source, error=f"{info.filename!r} is not an image file; skipped."))
                    continue
                # The declared size is binding: zipfile never reads past it (and checks the CRC).
                if max_entry_mb is not None and info.file_size > max_entry_mb * 1024 * 1024:
                    skipped.append(
                        Outcome(
                            source,
                            error=f"{info.filename!r} unpacks to {info.file_size / 1024 / 1024:.1f} MiB; "
                            f"the limit (RMBG_MAX_FILE_SIZE_MB) is {max_entry_mb:g} MiB; skipped.",
                        )
                    )
                    continue
                if len(items) >= max_files:
                    raise InputError(
                        f"{archive.name!r} holds more than {max_files} images; the limit per batch "
                        f"(RMBG_MAX_BATCH_FILES) is {max_files}."
                    )
                target = into / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                except _ENTRY_ERRORS as exc:
                    target.unlink(missing_ok=True)
                    reason = f"{info.filename!r} cannot be unpacked ({exc}); skipped."
                    skipped.append(Outcome(source, error=reason))
                    continue
                items.append(Item(target, relative))
    except zipfile.BadZipFile:
        raise InputError(f"{archive.name!r} is not a valid ZIP archive.") from None
    return items, skipped


def collect_paths(inputs: Iterable[str]) -> tuple[list[Item], list[Outcome]]:
    """CLI inputs -> items: files as given, folders recursively (results keep the
    structure below the folder), glob patterns expanded.

    Returns:
        (items, problems): inputs that match nothing are reported, not fatal.
    """
    items: list[Item] = []
    problems: list[Outcome] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_image_name(p.name))
            items += [Item(p, PurePosixPath(p.relative_to(path).as_posix())) for p in found]
            if not found:
                problems.append(
                    Outcome(Item(path, PurePosixPath(raw)), error=f"{raw!r} holds no image files.")
                )
        elif path.is_file():
            items.append(Item(path, PurePosixPath(path.name)))
        elif glob.has_magic(raw):
            matches = sorted(Path(p) for p in glob.glob(raw, recursive=True) if Path(p).is_file())
            items += [Item(p, PurePosixPath(p.name)) for p in matches]
            if not matches:
                problems.append(Outcome(Item(path, PurePosixPath(raw)), error=f"{raw!r} matches no file."))
        else:
            problems.append(Outcome(Item(path, PurePosixPath(raw)), error=f"{raw!r} does not exist."))
    return items, problems


class Namer:
    """Result names that never collide: ``photo-nobg.png``, then ``photo-nobg-2.png``."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def name(self, item: Item, result_name: str) -> str:
        folder = item.relative.parent
        candidate = (folder / result_name).as_posix()
        stem, suffix = PurePosixPath(result_name).stem, PurePosixPath(result_name).suffix
        counter = 2
        while candidate.lower() in self._taken:
            candidate = (folder / f"{stem}-{counter}{suffix}").as_posix()
            counter += 1
        self._taken.add(candidate.lower())
        return candidate


def plan(items: list[Item], options: ExportOptions) -> list[tuple[Item, str]]:
    """Each item with its result's unique relative name (``shoes/red-nobg.png``), in
    input order, so a rerun gives every input the same name again."""
    namer = Namer()
    return [(item, namer.name(item, encode.name_for(item.relative.name, options))) for item in items]


def process_items(
    engine: Engine,
    planned: list[tuple[Item, str]],
    options: ExportOptions,
    sink: Callable[[Result, str], None],
    progress: Callable[[int, int, Item], None] | None = None,
) -> Iterator[Outcome]:
    """Process items one by one; every failure is caught, reported and skipped.

    Args:
        planned: items with their output names, from ``plan``.
        sink: receives (result, output name) and writes it.
        progress: called before each item with (index, total, item).

    Yields:
        one Outcome per item, as it finishes.
    """
    for index, (item, name) in enumerate(planned):
        if progress:
            progress(index, len(planned), item)
        try:
            result = engine.process(item.path, options, name=item.relative.name)
            sink(result, name)
            yield Outcome(item, output=name)
        except (RmbgError, OSError) as exc:
            yield Outcome(item, error=str(exc))


def encode_to_bytes(result: Result) -> bytes:
    """The result's file content, encoded as ``Result.save`` would write it."""
    buffer = io.BytesIO()
    with result.timer.stage("encode"):
        encode.write(result.image, buffer, result.options, result.source.icc_profile)
    return buffer.getvalue()


def report_json(outcomes: list[Outcome]) -> str:
    """A JSON report: every input with its output name or its error."""
    return json.dumps(
        {
            "succeeded": sum(o.ok for o in outcomes),
            "failed": sum(not o.ok for o in outcomes),
            "files": [
                {"input": o.item.relative.as_posix(), "output": o.output, "error": o.error} for o in outcomes
            ],
        },
        indent=2,
        ensure_ascii=False,
    )
