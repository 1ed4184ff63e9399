"""``python -m bench.forward``: what each way of running the bare model costs.

Loads the model as the app does, then times the forward pass at 1024x1024 on one real
photo under each variant (threads, channels_last, oneDNN off, torch.compile, ONNX
Runtime, ...), and checks each variant's matte against plain eager fp32: the largest
difference in 0..255 levels at model resolution. Prints a table; ``--json`` keeps it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from bench import machine
from bench.photos import source_photo

# A variant prepares the model and returns the function that runs it: (1,3,H,W) float32
# -> (1,1,H,W) float32 matte in 0..1 on CPU.
Forward = Callable[[torch.Tensor], torch.Tensor]


def _last(outputs) -> torch.Tensor:
    while isinstance(outputs, (list, tuple)):
        outputs = outputs[-1]
    return outputs


def eager(module: torch.nn.Module) -> Forward:
    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return _last(module(x)).float().sigmoid()

    return run


def channels_last(module: torch.nn.Module) -> Forward:
    # A copy: the other variants, run in turn with this one, keep the default layout.
    nhwc = copy.deepcopy(module).to(memory_format=torch.channels_last)
    run = eager(nhwc)
    return lambda x: run(x.contiguous(memory_format=torch.channels_last))


def no_onednn(module: torch.nn.Module) -> Forward:
    run = eager(module)

    def without(x: torch.Tensor) -> torch.Tensor:
        with torch.backends.mkldnn.flags(enabled=False):
            return run(x)

    return without


def one_thread(module: torch.nn.Module) -> Forward:
    run = eager(module)

    def single(x: torch.Tensor) -> torch.Tensor:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return run(x)
        finally:
            torch.set_num_threads(threads)

    return single


def compiled(module: torch.nn.Module) -> Forward:
    return eager(torch.compile(module))


def onnxruntime_cpu(module: torch.nn.Module) -> Forward:
    """The app's CPU default, ONNX Runtime: graph prepared (timed as set-up), then run."""
    from rmbg_app.model import onnx_backend

    graph = Path(tempfile.mkdtemp(prefix="rmbg-onnx-")) / "graph"
    onnx_backend.prepare(module, graph, threads=torch.get_num_threads(), metadata={})
    runner = onnx_backend.OnnxModule(graph, torch.get_num_threads())
    return lambda x: _last(runner(x)).sigmoid()


VARIANTS: dict[str, Callable[[torch.nn.Module], Forward]] = {
    "eager": eager,
    "channels_last": channels_last,
    "no_onednn": no_onednn,
    "one_thread": one_thread,
    "compile": compiled,
    "onnxruntime": onnxruntime_cpu,
}


@contextlib.contextmanager
def _timed(into: dict, key: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    into[key] = time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.forward", description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="eager,channels_last,no_onednn,one_thread")
    parser.add_argument("--repeats", type=int, default=2, help="timed forwards per variant")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from rmbg_app.engine import Engine
    from rmbg_app.pipeline import matte
    from rmbg_app.settings import Settings

    # The torch network is what every variant starts from.
    settings = Settings.from_env().with_overrides(backend="torch")
    settings.export_hf_environment()
    engine = Engine.load(settings)
    module = engine.model.module
    x = matte.preprocess(source_photo())
    baseline = eager(module)(x)
    results: dict = {"machine": machine.describe(torch.device("cpu")), "variants": {}}
    results["machine"]["matmul_gflops"] = machine.matmul_gflops(torch.device("cpu"))
    runs: dict[str, Forward] = {}
    for name in args.variants.split(","):
        entry = results["variants"][name] = {"times_s": []}
        try:
            with _timed(entry, "setup_s"):
                runs[name] = VARIANTS[name](module)
            with _timed(entry, "first_s"):
                first = runs[name](x)
            entry["max_diff_levels"] = float((first - baseline).abs().max() * 255)
        except Exception as exc:  # noqa: BLE001 - a variant that fails is a finding, not a crash
            entry["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            runs.pop(name, None)
        print(name, json.dumps(entry), file=sys.stderr, flush=True)
    # Rounds of one forward per variant, so that other work on a shared machine slows
    # every variant alike; the fastest run of each counts.
    for _ in range(args.repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run(x)
            results["variants"][name]["times_s"].append(time.perf_counter() - started)
            print(name, results["variants"][name]["times_s"][-1], file=sys.stderr, flush=True)
    for name in runs:
        results["variants"][name]["forward_s"] = min(results["variants"][name]["times_s"])

    base_s = results["variants"].get("eager", {}).get("forward_s")
    print(f"fp32 matmul {results['machine']['matmul_gflops']:.0f} GFLOP/s")
    print(f"{'variant':14} {'setup s':>8} {'first s':>8} {'forward s':>9} {'vs eager':>8} {'max diff':>8}")
    for name, entry in results["variants"].items():
        if "error" in entry:
            print(f"{name:14} failed: {entry['error']}")
            continue
        ratio = f"{base_s / entry['forward_s']:.2f}x" if base_s else "-"
        print(
            f"{name:14} {entry['setup_s']:8.1f} {entry['first_s']:8.1f} {entry['forward_s']:9.2f} "
            f"{ratio:>8} {entry['max_diff_levels']:8.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
