"""Time one model load, to ready for inference, in a fresh process.

Each path pays for its own imports of transformers and the model's code, as a server
start does; ``torch`` and ``torchvision``, which both need, are imported before the
clock starts. Run by ``bench.run`` as ``python -m bench.loadtime ours|reference ...``;
prints one JSON object: ``{"seconds": float, "peak_rss_mib": float}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import torchvision  # noqa: F401 - imported before the clock by both paths

from bench.memory import peak_rss_mib


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtime")
    parser.add_argument("path", choices=("ours", "reference"))
    parser.add_argument("--snapshot", type=Path, required=True, help="snapshot directory (reference)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.path == "ours":
        from rmbg_app.engine import Engine
        from rmbg_app.settings import Settings

        settings = Settings.from_env(os.environ)
        settings.export_hf_environment()
        Engine.load(settings)
    else:
        from bench.reference import ReferencePipeline

        ReferencePipeline.load(args.snapshot, torch.device(args.device))
    seconds = time.perf_counter() - started
    json.dump({"seconds": seconds, "peak_rss_mib": peak_rss_mib()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
