"""What this machine can do: the reference point for how fast the model runs."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's marketing name from ``/proc/cpuinfo``, else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def matmul_gflops(device: torch.device, n: int = 2048, seconds: float = 2.0) -> float:
    """Sustained fp32 matrix-multiply throughput, GFLOP/s: the best of 1-s windows of
    ``(n, n) @ (n, n)`` products (``2 n^3`` FLOP each), after one untimed product.

    On CPU this is MKL/oneDNN on ``torch.get_num_threads()`` threads: about the most a
    convolution- and matmul-bound network can reach here.
    """
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    torch.mm(a, b)
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        count, started = 0, time.perf_counter()
        while count == 0 or time.perf_counter() - started < min(1.0, seconds):
            torch.mm(a, b)
            count += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = max(best, 2 * n**3 * count / (time.perf_counter() - started) / 1e9)
    return best


def describe(device: torch.device) -> dict[str, object]:
    """Machine facts for the report: CPU, cores, torch threads and build, GPU."""
    info: dict[str, object] = {
        "cpu": cpu_model(),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
