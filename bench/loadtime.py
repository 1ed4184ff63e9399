"""Time one model load, to ready for inference, in a fresh process.

Each path pays for its own imports, as a server start does; ``torch`` and
``torchvision``, which both need, are imported before the clock starts.

- reference: ``imports_s`` is importing the model's code (transformers, timm, kornia,
  ``birefnet.py``), ``build_s`` building the network with its random initialisation and
  loading the weights.
- ours: ``imports_s`` is importing the app's engine, ``build_s`` is ``Engine.load``, which
  imports the model's code itself only when it builds the torch network (the torch
  backend, or the first start of the ONNX Runtime backend).
Run by ``bench.run`` as ``python -m bench.loadtime ours|reference ...``; prints one
JSON object: ``{"seconds", "imports_s", "build_s", "peak_rss_mib"}``.
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

        imported = time.perf_counter()
        settings = Settings.from_env(os.environ)
        settings.export_hf_environment()
        Engine.load(settings)
    else:
        from transformers.dynamic_module_utils import get_class_from_dynamic_module

        auto_map = json.loads((args.snapshot / "config.json").read_text())["auto_map"]
        for reference in auto_map.values():
            get_class_from_dynamic_module(reference, args.snapshot)
        imported = time.perf_counter()
        from bench.reference import ReferencePipeline

        ReferencePipeline.load(args.snapshot, torch.device(args.device))
    done = time.perf_counter()
    report = {"seconds": done - started, "imports_s": imported - started, "build_s": done - imported}
    json.dump(report | {"peak_rss_mib": peak_rss_mib()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
