"""Pick the compute device and the numeric settings that go with it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ..errors import DeviceUnavailable
from ..settings import Backend, CompileMode, Device
from . import onnx_backend


@dataclass(frozen=True)
class Runtime:
    """Where and how the model runs.

    Attributes:
        device: the torch device.
        autocast_dtype: ``torch.float16`` on CUDA, ``None`` (plain fp32) on CPU.
            fp16 autocast rather than ``model.half()``: RMBG-2.0's Swin attention adds a
            float32 mask to the scores and fails under ``half()``; bfloat16 fails in
            ``torchvision.ops.deform_conv2d`` (BiRefNet's inference script uses autocast).
        threads: CPU threads torch uses.
        channels_last: the model and its input use the NHWC memory format.
        compile_mode: ``torch.compile`` mode, or ``"off"``.
        backend: what runs the network, resolved: ``torch`` or ``onnxruntime`` (CPU only).
        backend_required: the user named ``backend`` (``RMBG_BACKEND``) rather than
            ``auto``, so failing to use it is an error instead of a fallback to torch.
    """

    device: torch.device
    autocast_dtype: torch.dtype | None
    threads: int
    channels_last: bool = False
    compile_mode: CompileMode = "off"
    backend: Backend = "torch"
    backend_required: bool = False

    @property
    def memory_format(self) -> torch.memory_format:
        """The layout of the model's 4-D input."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @property
    def dtype_name(self) -> str:
        if self.autocast_dtype is None:
            return "float32"
        return f"{str(self.autocast_dtype).removeprefix('torch.')} autocast"

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context the forward pass runs in."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def describe(self) -> str:
        if self.device.type == "cuda":
            return f"cuda ({torch.cuda.get_device_name(self.device)})"
        engine = "ONNX Runtime" if self.backend == "onnxruntime" else "torch"
        return f"cpu ({self.threads} threads, {engine})"


def available_cpus() -> int:
    """CPUs this process may run on (respects taskset / container cpusets)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def select_runtime(
    requested: Device,
    *,
    channels_last: bool = False,
    compile_mode: CompileMode = "off",
    backend: Backend = "auto",
) -> Runtime:
    """Resolve ``auto`` / ``cuda`` / ``cpu`` and the backend, and configure torch for them.

    ``backend="auto"`` becomes ``onnxruntime`` on CPU when it is installed and no torch
    option (``channels_last``, ``compile_mode``) is asked for, else ``torch``. The options
    are carried to the loader and the forward pass (settings ``RMBG_CHANNELS_LAST``,
    ``RMBG_TORCH_COMPILE``, ``RMBG_BACKEND``).

    Raises:
        DeviceUnavailable: ``cuda`` was asked for and torch sees no CUDA device, or
            together with ``backend="onnxruntime"``.
        ModelUnavailable: ``backend="onnxruntime"`` and ONNX Runtime is not installed.
    """
    if requested == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(
            "RMBG_DEVICE=cuda but torch sees no CUDA device "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda or 'none'}). "
            "Check `nvidia-smi`, the NVIDIA driver and, in Docker, the GPU reservation; "
            "or set RMBG_DEVICE=cpu."
        )
    threads = available_cpus()
    torch.set_num_threads(threads)
    options = (channels_last, compile_mode)
    if requested == "cpu" or not torch.cuda.is_available() or backend == "onnxruntime":
        if requested == "cuda":
            raise DeviceUnavailable("RMBG_BACKEND=onnxruntime runs on CPU; set RMBG_DEVICE=cpu or auto.")
        if backend == "onnxruntime":
            onnx_backend.check_installed()
            return Runtime(torch.device("cpu"), None, threads, *options, "onnxruntime", True)
        if backend == "auto" and not channels_last and compile_mode == "off" and onnx_backend.is_installed():
            return Runtime(torch.device("cpu"), None, threads, *options, "onnxruntime", False)
        return Runtime(torch.device("cpu"), None, threads, *options, "torch", backend == "torch")
    # TF32 matmuls for what autocast leaves in fp32, as the model card sets.
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.benchmark = True
    return Runtime(torch.device("cuda"), torch.float16, threads, *options, "torch", backend == "torch")


def prepare_module(module: torch.nn.Module, runtime: Runtime) -> torch.nn.Module:
    """Apply the runtime's optional fast paths to a loaded eval-mode network.

    Returns:
        ``module`` (in NHWC memory format when ``channels_last``), or its
        ``torch.compile`` wrapper, which compiles on the first call (the warm-up).
    """
    if runtime.channels_last:
        module.to(memory_format=torch.channels_last)
    if runtime.compile_mode == "off":
        return module
    if runtime.compile_mode == "reduce-overhead" and runtime.device.type != "cuda":
        raise DeviceUnavailable("RMBG_TORCH_COMPILE=reduce-overhead uses CUDA graphs and needs CUDA.")
    return torch.compile(module, mode=runtime.compile_mode)


@contextlib.contextmanager
def inference(runtime: Runtime) -> Iterator[None]:
    """``torch.inference_mode`` plus the runtime's autocast."""
    with torch.inference_mode(), runtime.autocast():
        yield
