"""Process memory: resident set size now and at its peak, on Linux from ``/proc``.

The peak (``VmHWM``) can be reset per measurement by writing ``5`` to
``/proc/self/clear_refs``, so each image gets its own peak rather than the process's
all-time one that ``resource.getrusage`` reports.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_mib(key: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # the kernel reports kB
    except OSError:
        pass
    return None


def rss_mib() -> float:
    """Resident set size now, MiB (the all-time peak where ``/proc`` is missing)."""
    now = _status_mib("VmRSS")
    return now if now is not None else peak_rss_mib()


def reset_peak() -> bool:
    """Start a new peak-RSS window; ``False`` when the OS cannot (then peaks are all-time)."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """Peak resident set size since the last ``reset_peak`` (or process start), MiB."""
    peak = _status_mib("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in bytes on macOS, kilobytes elsewhere.
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024


def reset_peak_gpu(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_gpu_mib(device: torch.device) -> float | None:
    """Peak memory allocated by torch on ``device`` since ``reset_peak_gpu``, MiB; ``None`` on CPU."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20
