"""Command line: ``serve`` (the default), ``remove`` and ``download``.

Heavy imports (torch, transformers, gradio) happen inside the verbs, after the
settings have exported ``HF_HOME``: the Hugging Face libraries read it at import.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..errors import RmbgError
from ..settings import DEVICES, Settings, SettingsError
from . import cli_remove

log = logging.getLogger("rmbg")

# Arguments that override Settings; the rest belong to a verb.
SETTINGS_ARGS = (
    "model",
    "revision",
    "device",
    "trust_remote_code",
    "offline",
    "server_name",
    "server_port",
    "warmup",
)


def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS: a flag given before the verb is not reset by the verb's own default.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--model", help="Hub repo id or local directory (RMBG_MODEL)")
    common.add_argument("--revision", help="Hub branch, tag or commit (RMBG_REVISION)")
    common.add_argument("--device", choices=DEVICES, help="compute device (RMBG_DEVICE)")
    common.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run the model's code even outside the RMBG-2.0/BiRefNet family (RMBG_TRUST_REMOTE_CODE)",
    )
    common.add_argument("--offline", action="store_true", help="never contact the Hub (HF_HUB_OFFLINE)")

    parser = argparse.ArgumentParser(
        prog="rmbg.py", description="Background removal with RMBG-2.0 / BiRefNet.", parents=[common]
    )
    verbs = parser.add_subparsers(dest="verb")
    serve = verbs.add_parser("serve", parents=[common], help="serve the web app and API (default)")
    serve.add_argument("--host", dest="server_name", help="interface to bind (GRADIO_SERVER_NAME)")
    serve.add_argument("--port", dest="server_port", type=int, help="port (GRADIO_SERVER_PORT)")
    serve.add_argument(
        "--no-warmup", dest="warmup", action="store_false", default=None, help="skip the warm-up inference"
    )
    remove = verbs.add_parser(
        "remove", parents=[common], help="remove backgrounds of files and folders into an output folder"
    )
    cli_remove.add_arguments(remove)
    download = verbs.add_parser(
        "download", parents=[common], help="fetch a model snapshot into the cache (uses HF_TOKEN)"
    )
    download.add_argument("model_arg", nargs="?", metavar="MODEL", help="Hub repo id (default: RMBG_MODEL)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 failed, 2 bad settings)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    overrides = {
        key: value for key, value in vars(args).items() if key in SETTINGS_ARGS and value is not None
    }
    if getattr(args, "model_arg", None):
        overrides["model"] = args.model_arg
    try:
        settings = Settings.from_env().with_overrides(**overrides)
    except SettingsError as exc:
        print(f"rmbg: {exc}", file=sys.stderr)
        return 2
    settings.export_hf_environment()
    try:
        if args.verb == "download":
            return _download(settings)
        if args.verb == "remove":
            return cli_remove.run(args, settings)
        return _serve(settings)
    except RmbgError as exc:
        log.error("%s", exc)
        return 1


def _serve(settings: Settings) -> int:
    from ..model.device import select_runtime
    from .server import serve

    # A device that does not exist is a configuration error: fail at start, loudly.
    select_runtime(settings.device)
    serve(settings)
    return 0


def _download(settings: Settings) -> int:
    from ..model.snapshot import download_snapshot

    snapshot = download_snapshot(settings.model, revision=settings.revision, cache_dir=settings.hub_cache)
    log.info("%s revision %s is in %s", snapshot.model_id, snapshot.revision, snapshot.path)
    return 0
