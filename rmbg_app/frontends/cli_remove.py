"""``python rmbg.py remove INPUT... -o OUTDIR``: folders, files and globs through the engine."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import typing
from dataclasses import fields
from pathlib import Path

from ..options import ExportOptions
from ..pipeline import encode
from ..settings import Settings

if typing.TYPE_CHECKING:
    from ..engine import Result

log = logging.getLogger("rmbg")

HELP = {
    "output": "cutout (RGBA), matte, or the subject on a background: color, blur, image",
    "format": "file format of the results",
    "lossless": "WEBP: lossless (default) or --no-lossless for lossy with --quality",
    "quality": "JPEG / lossy WEBP quality, 1-100",
    "background_color": "colour behind the subject for --output color (#rrggbb)",
    "background_image": "image behind the subject for --output image (scaled to cover)",
    "blur_radius": "blur for --output blur, in %% of the photo's longer side",
    "threshold": "binary matte: alpha >= T (0-1) becomes opaque; 0 = off (soft edges)",
    "contrast": "steepen the matte around 0.5; 1 = off",
    "refine_edges": "estimate the subject's colour at soft edges (no halo on hair and fur)",
    "remove_specks": "drop matte islands smaller than --speck-percent of the largest",
    "speck_percent": "island size limit, %% of the largest part",
    "crop": "crop to the subject",
    "crop_margin": "margin around the subject when cropping",
    "crop_margin_unit": "'%%' of the subject's longer side, or 'px'",
    "aspect_ratio": "grow the crop to W:H, e.g. 1:1 or 4:5",
    "rotate": "rotate the input clockwise first (0, 90, 180, 270)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The verb's arguments; one flag per ExportOptions field, named after it."""
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) or glob patterns"
    )
    parser.add_argument(
        "-o", "--out", required=True, type=Path, help="folder for the results (structure kept)"
    )
    parser.add_argument("--overwrite", action="store_true", help="redo files whose result already exists")
    defaults = ExportOptions()
    hints = typing.get_type_hints(ExportOptions)
    group = parser.add_argument_group("export options")
    for field in fields(ExportOptions):
        flag = "--" + field.name.replace("_", "-")
        hint = hints[field.name]
        default = getattr(defaults, field.name)
        # argparse %-formats help texts: the "%" margin unit must be escaped.
        text = f"{HELP[field.name]} (default: {str(default).replace('%', '%%')})"
        if hint is bool:
            group.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, help=text)
        elif typing.get_origin(hint) is typing.Literal:
            group.add_argument(flag, dest=field.name, choices=typing.get_args(hint), help=text)
        else:
            kind = {int: int, float: float}.get(hint, str)
            group.add_argument(flag, dest=field.name, type=kind, help=text)


def options_from_args(args: argparse.Namespace) -> ExportOptions:
    """The export options given as flags (unset flags keep the defaults).

    Raises:
        InputError: a bad value or an impossible combination.
    """
    return ExportOptions.build(**{f.name: getattr(args, f.name) for f in fields(ExportOptions)})


def _write(result: Result, target: Path, overwrite: bool) -> None:
    """Encode next to ``target`` and rename into place: a failure never leaves half a
    file, and an existing result is only replaced with ``overwrite``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=".rmbg-", suffix=target.suffix, delete=False
    ) as tmp:
        try:
            with result.timer.stage("encode"):
                encode.write(result.image, tmp, result.options, result.source.icc_profile)
            tmp.close()
            if overwrite:
                os.replace(tmp.name, target)
            else:
                _place_new(Path(tmp.name), target)
        finally:
            Path(tmp.name).unlink(missing_ok=True)


def _place_new(source: Path, target: Path) -> None:
    """Move ``source`` to ``target`` only if ``target`` does not exist (atomically where
    the filesystem has hard links).

    Raises:
        FileExistsError: ``target`` exists.
    """
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:
        if target.exists():
            raise FileExistsError(f"{target} exists") from None
        os.replace(source, target)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Process every input; print a summary. Returns 0, or 1 if any file failed."""
    # Imported here: torch and the Hugging Face libraries read HF_HOME at import, after
    # the CLI has exported the settings.
    from tqdm import tqdm

    from .. import batch
    from ..engine import Engine

    options = options_from_args(args)
    items, problems = batch.collect_paths(args.inputs)
    out_dir: Path = args.out
    inputs = {item.path.resolve() for item in items}
    todo = []
    skipped = 0
    for item, name in batch.plan(items, options):
        target = (out_dir / name).resolve()
        if target in inputs:
            problems.append(batch.Outcome(item, error=f"its result {target} would overwrite an input file."))
        elif target.exists() and not args.overwrite:
            skipped += 1
        else:
            todo.append((item, name))
    outcomes = []
    if todo:
        engine = Engine.load(settings)
        bar = tqdm(total=len(todo), unit="image", disable=None)

        def sink(result: Result, name: str) -> None:
            _write(result, out_dir / name, args.overwrite)

        def tick(index: int, total: int, item: batch.Item) -> None:
            bar.set_postfix_str(item.relative.as_posix(), refresh=False)

        for outcome in batch.process_items(engine, todo, options, sink, tick):
            outcomes.append(outcome)
            bar.update()
            if not outcome.ok:
                tqdm.write(f"failed: {outcome.item.relative}: {outcome.error}", file=sys.stderr)
        bar.close()
    failed = [o for o in problems + outcomes if not o.ok]
    for outcome in problems:
        log.error("%s: %s", outcome.item.relative, outcome.error)
    done = sum(o.ok for o in outcomes)
    log.info(
        "%d done, %d skipped (result exists; --overwrite redoes them), %d failed. Results in %s",
        done,
        skipped,
        len(failed),
        out_dir,
    )
    return 1 if failed else 0
