"""``python -m bench``: our pipeline against the model card's snippet, per stage and size.

For each photo size it runs ``Engine.process`` + ``Result.save`` (ours) and the card's
snippet (``bench.reference``) on the same JPEG, and reports per-stage wall time,
end-to-end time, images per second, peak RSS (and peak GPU memory on CUDA), the ratio
reference/ours of each, and how far the two mattes are apart. Model load to ready is
timed for both in fresh processes. ``--json`` writes everything, raw runs included.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench import machine, memory
from bench.photos import Photo, make_photos

STAGES = ("decode", "preprocess", "forward", "matte_resize", "compose", "encode")
DEFAULT_SIZES = (0.3, 1.0, 2.0, 12.0, 24.0)
SMOKE_SIZES = (0.01, 0.05)
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Measured:
    """The runs of one path on one photo.

    Attributes:
        runs: per run, ``{stage: ms}`` plus ``e2e`` (ms), ``peak_rss_mib``,
            ``rss_before_mib`` and, on CUDA, ``peak_gpu_mib``.
    """

    runs: list[dict[str, float]] = field(default_factory=list)

    def best(self, key: str) -> float | None:
        """The fastest run's value (timings) or the largest (memory): the figure least
        disturbed by other work on a shared machine."""
        values = [run[key] for run in self.runs if run.get(key) is not None]
        if not values:
            return None
        return max(values) if key.endswith("_mib") else min(values)

    def summary(self) -> dict[str, object]:
        e2e = self.best("e2e")
        return {
            "ms": {stage: self.best(stage) for stage in STAGES},
            "e2e_ms": e2e,
            "median_e2e_ms": statistics.median(run["e2e"] for run in self.runs),
            "images_per_s": 1e3 / e2e if e2e else None,
            "peak_rss_mib": self.best("peak_rss_mib"),
            "peak_rss_delta_mib": max(run["peak_rss_mib"] - run["rss_before_mib"] for run in self.runs),
            "peak_gpu_mib": self.best("peak_gpu_mib"),
            "runs": self.runs,
        }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# A path under test: runs one photo, returns its per-stage wall times in ms.
PathRunner = Callable[[Photo], dict[str, float]]


def measure(path: PathRunner, photo: Photo, device: torch.device) -> dict[str, float]:
    """One timed run of ``path`` (which returns its per-stage ms) on ``photo``; adds the
    end-to-end ms and the memory peaks."""
    _sync(device)
    rss_before = memory.rss_mib()
    memory.reset_peak()
    memory.reset_peak_gpu(device)
    started = time.perf_counter()
    ms = path(photo)
    _sync(device)
    ms["e2e"] = (time.perf_counter() - started) * 1e3
    ms["peak_rss_mib"] = memory.peak_rss_mib()
    ms["rss_before_mib"] = rss_before
    ms["peak_gpu_mib"] = memory.peak_gpu_mib(device)
    return ms


class Ours:
    """``Engine.process`` then ``Result.save``, as a front end runs them."""

    def __init__(self, engine, out_dir: Path) -> None:
        self.engine = engine
        self.out_dir = out_dir
        self.alpha: np.ndarray | None = None

    def __call__(self, photo: Photo) -> dict[str, float]:
        with tempfile.TemporaryDirectory(dir=self.out_dir) as directory:
            result = self.engine.process(photo.path)
            result.save(Path(directory))
        self.alpha = result.alpha
        return dict(result.timer.ms)


class Reference:
    """The card's snippet (``bench.reference.ReferencePipeline.run``)."""

    def __init__(self, pipeline, out_dir: Path) -> None:
        self.pipeline = pipeline
        self.out_dir = out_dir
        self.alpha: np.ndarray | None = None

    def __call__(self, photo: Photo) -> dict[str, float]:
        with tempfile.TemporaryDirectory(dir=self.out_dir) as directory:
            run = self.pipeline.run(photo.path, Path(directory) / "no_bg_image.png")
        self.alpha = run.matte
        return run.ms


def time_load(path: str, snapshot_dir: Path, device: torch.device, env: dict[str, str]) -> dict:
    """Load the model in a fresh process (``bench.loadtime``); its JSON line."""
    command = [sys.executable, "-m", "bench.loadtime", path, "--snapshot", str(snapshot_dir)]
    command += ["--device", device.type]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"loading for {path} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_loads(args: argparse.Namespace, settings, snapshot_dir: Path, device: torch.device) -> dict:
    """Load to ready for each path, alternating so both see the same disk cache and noise;
    the fastest of ``--load-repeats`` each."""
    env = child_env(settings)
    names = ["ours"] if args.no_reference else ["ours", "reference"]
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(args.load_repeats):
        for name in names:
            runs[name].append(time_load(name, snapshot_dir, device, env))
    load: dict = {
        name: {key: min(r[key] for r in rs) for key in ("seconds", "imports_s", "build_s")}
        | {"peak_rss_mib": max(r["peak_rss_mib"] for r in rs)}
        for name, rs in runs.items()
    }
    if "reference" in load:
        load["speedup"] = load["reference"]["seconds"] / load["ours"]["seconds"]
        load["build_speedup"] = load["reference"]["build_s"] / load["ours"]["build_s"]
    load["runs"] = runs
    return load


def count_flops(engine) -> float:
    """FLOP of one forward of the torch network at 1024x1024 (matmuls and convolutions;
    ``deform_conv2d`` is not counted), on an untimed run. Built from the snapshot here,
    because the engine may run an ONNX Runtime graph that torch cannot count."""
    from rmbg_app.model.loader import build_network

    network = build_network(engine.model.snapshot)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        network(torch.zeros(1, 3, 1024, 1024))
    return float(counter.get_total_flops())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark rmbg's pipeline against the RMBG-2.0 model card's snippet.",
    )
    parser.add_argument("--model", help="Hub repo id or snapshot directory (default: RMBG_MODEL)")
    parser.add_argument("--trust-remote-code", action="store_true", default=None)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: RMBG_DEVICE")
    parser.add_argument(
        "--sizes",
        type=lambda text: [float(part) for part in text.split(",")],
        help=f"photo sizes in megapixels, comma-separated (default {','.join(map(str, DEFAULT_SIZES))})",
    )
    parser.add_argument("--repeats", type=int, help="timed runs per size and path (default 2)")
    parser.add_argument("--warmup", type=int, help="untimed runs per path before timing (default 1)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: all CPUs)")
    parser.add_argument("--no-reference", action="store_true", help="skip the model card's path")
    parser.add_argument(
        "--load-repeats", type=int, help="load-to-ready timings per path, 0 to skip (default 2)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="quick check for CI: tiny photos, 1 repeat, and the test fixture model when no --model is given",
    )
    args = parser.parse_args(argv)
    args.sizes = args.sizes or list(SMOKE_SIZES if args.smoke else DEFAULT_SIZES)
    args.repeats = args.repeats or (1 if args.smoke else 2)
    args.warmup = 1 if args.warmup is None else args.warmup
    if args.load_repeats is None:
        args.load_repeats = 1 if args.smoke else 2
    return args


def build_settings(args: argparse.Namespace, work_dir: Path):
    """Settings from the environment plus the command line; in smoke mode without a model,
    the test fixture model in a fresh HF cache under ``work_dir``."""
    from rmbg_app.settings import Settings

    overrides: dict[str, object] = {
        "model": args.model,
        "device": args.device,
        "trust_remote_code": args.trust_remote_code,
        "warmup": False,
    }
    if args.smoke and not args.model:
        sys.path.insert(0, str(ROOT / "tests"))
        import fixture_model

        hf_home = work_dir / "hf"
        fixture_model.build_hf_cache(hf_home)
        overrides |= {"model": "briaai/RMBG-2.0", "hf_home": hf_home, "offline": True}
    return Settings.from_env().with_overrides(**overrides)


def child_env(settings) -> dict[str, str]:
    """The environment that makes a child process load the same model the same way."""
    env = dict(os.environ)
    env |= {
        "HF_HOME": str(settings.hf_home),
        "RMBG_MODEL": settings.model,
        "RMBG_DEVICE": settings.device,
        "RMBG_TRUST_REMOTE_CODE": "1" if settings.trust_remote_code else "0",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    }
    if settings.offline:
        env["HF_HUB_OFFLINE"] = "1"
    if settings.revision:
        env["RMBG_REVISION"] = settings.revision
    return env


def run_benchmark(args: argparse.Namespace, work_dir: Path) -> dict:
    """Everything the table and the JSON show."""
    settings = build_settings(args, work_dir)
    settings.export_hf_environment()
    from bench.reference import ReferencePipeline
    from rmbg_app.engine import Engine

    engine = Engine.load(settings)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = engine.model.runtime.device
    snapshot = engine.model.snapshot
    report: dict = {
        "command": ["python", "-m", "bench", *(args.argv or [])],
        "machine": machine.describe(device),
        "model": {
            "id": snapshot.model_id,
            "revision": snapshot.revision,
            "parameters_millions": round(engine.model.parameters_millions, 2),
            "runtime": engine.model.runtime.describe(),
            "dtype": engine.model.runtime.dtype_name,
            "settings": {k: str(v) for k, v in vars(settings).items() if k not in ("server_name",)},
        },
        "repeats": args.repeats,
        "warmup": args.warmup,
        "statistic": "fastest of the repeats for times, largest for memory",
    }
    matmul = {"n": 512, "seconds": 0.2} if args.smoke else {}
    report["machine"]["matmul_gflops"] = machine.matmul_gflops(device, **matmul)
    if args.load_repeats:
        report["load"] = time_loads(args, settings, snapshot.path, device)

    photos = make_photos(work_dir, args.sizes)
    paths: dict[str, Ours | Reference] = {"ours": Ours(engine, work_dir)}
    if not args.no_reference:
        paths["reference"] = Reference(ReferencePipeline.load(snapshot.path, device), work_dir)
    # The input is always resized to 1024x1024, so one warm-up on any photo warms the model.
    first_call = {}
    for name, path in paths.items():
        for index in range(args.warmup):
            run = measure(path, photos[0], device)
            if index == 0:
                first_call[name] = run["e2e"]
    report["first_call_ms"] = first_call
    report["flops_per_image"] = count_flops(engine)

    report["sizes"] = []
    for photo in photos:
        measured = {name: Measured() for name in paths}
        for _ in range(args.repeats):
            for name, path in paths.items():
                measured[name].runs.append(measure(path, photo, device))
        entry: dict = {"label": photo.label, "width": photo.size[0], "height": photo.size[1]}
        entry |= {name: m.summary() for name, m in measured.items()}
        ours = entry["ours"]
        entry["ours"]["e2e_over_forward"] = ours["e2e_ms"] / ours["ms"]["forward"]
        if "reference" in paths:
            ref = entry["reference"]
            entry["speedup"] = {stage: ref["ms"][stage] / ours["ms"][stage] for stage in STAGES}
            entry["speedup"]["e2e"] = ref["e2e_ms"] / ours["e2e_ms"]
            difference = np.abs(paths["ours"].alpha.astype(np.int16) - paths["reference"].alpha)
            entry["matte_diff"] = {"max": int(difference.max()), "mean": float(difference.mean())}
        report["sizes"].append(entry)
        print(f"  measured {photo.label}", file=sys.stderr, flush=True)

    forward_s = min(entry["ours"]["ms"]["forward"] for entry in report["sizes"]) / 1e3
    report["forward_gflops"] = report["flops_per_image"] / forward_s / 1e9
    report["forward_fraction_of_matmul"] = report["forward_gflops"] / report["machine"]["matmul_gflops"]
    return report


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def format_table(report: dict) -> str:
    """The report as a plain-text table: per size, ours, the card's, and card/ours."""
    m, model = report["machine"], report["model"]
    lines = [
        f"model {model['id']} ({model['parameters_millions']} M parameters) on {model['runtime']}, "
        f"{model['dtype']}, backend {model['settings']['backend']}; {m['cpu']}, torch {m['torch']} "
        f"({m['cpu_capability']})",
        f"fastest of {report['repeats']} runs after {report['warmup']} warm-up; times in ms",
    ]
    if report["flops_per_image"]:
        lines.append(
            f"fp32 matmul {m['matmul_gflops']:.0f} GFLOP/s; model {report['flops_per_image'] / 1e9:.4g} "
            f"GFLOP per image -> forward at {report['forward_gflops']:.4g} GFLOP/s "
            f"({report['forward_fraction_of_matmul']:.0%} of matmul)"
        )
    else:
        lines.append(f"fp32 matmul {m['matmul_gflops']:.0f} GFLOP/s; FLOP not counted (not run by torch)")
    if "load" in report:
        load = report["load"]
        ours = load["ours"]
        text = (
            f"load to ready: ours {ours['seconds']:.2f} s = imports {ours['imports_s']:.2f} + build "
            f"{ours['build_s']:.2f} (peak RSS {ours['peak_rss_mib']:.0f} MiB)"
        )
        if "reference" in load:
            ref = load["reference"]
            text += (
                f"; card {ref['seconds']:.2f} s = {ref['imports_s']:.2f} + {ref['build_s']:.2f} (peak RSS "
                f"{ref['peak_rss_mib']:.0f} MiB); card/ours {load['speedup']:.2f}x, build only "
                f"{load['build_speedup']:.2f}x"
            )
        lines.append(text)
    first = report["first_call_ms"]
    if first:
        lines.append("first call: " + ", ".join(f"{name} {_ms(ms)} ms" for name, ms in first.items()))
    headers = ["size", "path", *STAGES, "e2e", "img/s", "RSS MiB", "+RSS", "GPU MiB", "e2e/fwd"]
    rows = [headers]
    for entry in report["sizes"]:
        for name in ("ours", "reference"):
            if name not in entry:
                continue
            s = entry[name]
            rows.append(
                [
                    entry["label"] if name == "ours" else "",
                    "ours" if name == "ours" else "card",
                    *(_ms(s["ms"][stage]) for stage in STAGES),
                    _ms(s["e2e_ms"]),
                    f"{s['images_per_s']:.3g}",
                    f"{s['peak_rss_mib']:.0f}",
                    f"{s['peak_rss_delta_mib']:.0f}",
                    _ms(s["peak_gpu_mib"]),
                    f"{s['e2e_over_forward']:.3f}" if name == "ours" else "",
                ]
            )
        if "speedup" in entry:
            speedup = entry["speedup"]
            diff = entry["matte_diff"]
            rows.append(
                [
                    f"  matte diff max {diff['max']} mean {diff['mean']:.3f}",
                    "card/ours",
                    *(f"{speedup[stage]:.2f}x" for stage in STAGES),
                    f"{speedup['e2e']:.2f}x",
                    *([""] * 5),
                ]
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:2], widths[:2], strict=True)]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write ``--json``. Returns the exit status."""
    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory(prefix="rmbg-bench-") as work_dir:
        report = run_benchmark(args, Path(work_dir))
    print(format_table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0
