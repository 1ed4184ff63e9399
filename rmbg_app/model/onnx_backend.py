"""The CPU backend: the network exported once to ONNX and run by ONNX Runtime.

``RMBG_BACKEND=auto`` (the default) uses it on CPU. The first start with a snapshot
*prepares* a graph folder under ``RMBG_ONNX_CACHE`` (default ``$HF_HOME/rmbg-onnx``):

- ``torch.onnx.export`` of the network for a ``(1, 3, 1024, 1024)`` input (opset 19).
  ``torchvision::deform_conv2d`` has no ONNX symbolic in torch or torchvision; it maps
  onto ONNX ``DeformConv``, which ONNX Runtime runs on CPU from 1.31 on.
- ONNX Runtime's own graph optimisations (``ORT_ENABLE_EXTENDED``: fusions, constant
  folding) applied once and saved, with the weights in an external ``model.onnx.data``
  that later starts memory-map.

Later starts open that folder without importing or building the torch network. Measured
on the real RMBG-2.0 architecture, 2 CPU cores (docs/performance.md): the saved graph
opens in ~0.9 s against ~4.3 s for the raw export, and the forward runs ~2x faster than
torch eager, mattes within 0.0001 of a level.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import platform
import shutil
import time
import warnings
from pathlib import Path

import torch

from ..errors import ModelUnavailable

log = logging.getLogger(__name__)

OPSET = 19
MODEL_SIZE = (1024, 1024)
MIN_ONNXRUNTIME = (1, 31)
GRAPH_FILE = "model.onnx"
WEIGHTS_FILE = "model.onnx.data"
META_FILE = "meta.json"
INSTALL_HINT = "pip install 'onnxruntime>=1.31' onnx"
# Weight pre-packing (MLAS re-lays GEMM weights at session start) is off: on the real
# architecture it cost +1.0 s and +500 MiB at every start (the packed copy), or a second
# 850 MB copy on disk when saved, for 1-4 % of forward time (best of 3: 14.92 vs 15.08 s).
_SESSION_CONFIG = {"session.disable_prepacking": "1"}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def check_installed() -> None:
    """Raises ModelUnavailable unless ONNX Runtime 1.31 or newer (its CPU ``DeformConv``)
    and ``onnx`` (which ``torch.onnx.export`` needs; found, not imported) are installed."""
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    if (
        onnxruntime is None
        or _version(onnxruntime.__version__) < MIN_ONNXRUNTIME
        or importlib.util.find_spec("onnx") is None
    ):
        raise ModelUnavailable(
            f"RMBG_BACKEND=onnxruntime needs onnx and ONNX Runtime >= 1.31: {INSTALL_HINT} "
            "(both are in requirements.txt), or set RMBG_BACKEND=torch."
        )


def is_installed() -> bool:
    """Whether ``check_installed`` passes."""
    try:
        check_installed()
    except ModelUnavailable:
        return False
    return True


def _deform_conv2d_symbolic():
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args("v", "v", "v", "v", "v", "i", "i", "i", "i", "i", "i", "i", "i", "b")
    def symbolic(g, x, weight, offset, mask, bias, sh, sw, ph, pw, dh, dw, groups, offset_groups, use_mask):
        inputs = [x, weight, offset, bias, *([mask] if use_mask else [])]
        return g.op(
            "DeformConv",
            *inputs,
            dilations_i=[dh, dw],
            group_i=groups,
            kernel_shape_i=weight.type().sizes()[-2:],
            offset_group_i=offset_groups,
            pads_i=[ph, pw, ph, pw],
            strides_i=[sh, sw],
        )

    return symbolic


def export(module: torch.nn.Module, path: Path) -> None:
    """Export ``module`` (eval, CPU, fp32) for a ``(1, 3, 1024, 1024)`` input to ``path``
    as one self-contained ONNX file (the raw graph, before ONNX Runtime's optimisations)."""
    torch.onnx.register_custom_op_symbolic("torchvision::deform_conv2d", _deform_conv2d_symbolic(), OPSET)
    example = torch.zeros(1, 3, *MODEL_SIZE)
    # The TorchScript exporter (dynamo=False) because it takes a custom symbolic for
    # deform_conv2d; its deprecation and tracer warnings say nothing a user can act on.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module, (example,), str(path), opset_version=OPSET, dynamo=False)


def graph_dir(cache_root: Path, snapshot_dir: Path, code_sha256: dict[str, str]) -> Path:
    """The prepared-graph folder of this snapshot under ``cache_root``.

    Keyed by the model's code, its weights file (size and modification time), the torch,
    ONNX Runtime and opset versions, and the CPU: a graph optimised by one ONNX Runtime
    version may use fused operators another does not have.
    """
    import onnxruntime

    weights = (snapshot_dir / "model.safetensors").resolve().stat()
    key = repr(
        (
            sorted(code_sha256.items()),
            weights.st_size,
            weights.st_mtime_ns,
            torch.__version__,
            onnxruntime.__version__,
            OPSET,
            platform.machine(),
            torch.backends.cpu.get_cpu_capability(),
        )
    )
    return cache_root / hashlib.sha256(key.encode()).hexdigest()[:16]


def is_prepared(directory: Path) -> bool:
    """Whether ``directory`` holds a finished ``prepare`` (its metadata is written last)."""
    return (directory / META_FILE).is_file()


def _session_options(threads: int, level: str):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    # Memory patterns pre-plan one block per input shape; without them the arena reuses
    # freed chunks: resident set after a forward 4.1 GB instead of 6.5 GB on the real
    # architecture, same speed (best of 3 interleaved: 15.12 vs 15.45 s), same logits.
    options.enable_mem_pattern = False
    options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, level)
    for key, value in _SESSION_CONFIG.items():
        options.add_session_config_entry(key, value)
    return options


def prepare(module: torch.nn.Module, directory: Path, *, threads: int, metadata: dict) -> None:
    """Export ``module`` and save ONNX Runtime's optimised graph into ``directory``.

    Built in a sibling temporary folder and renamed into place, so an interrupted or
    failed run leaves nothing that a later start would take for a finished graph.

    Args:
        module: the network, eval mode, on CPU, fp32.
        directory: from ``graph_dir``; created.
        threads: CPU threads for ONNX Runtime while it optimises.
        metadata: JSON-able facts to keep next to the graph (read back by ``open_graph``).

    Raises:
        OSError: the cache cannot be written (read-only, full, not a folder).
        Exception: whatever torch.onnx or ONNX Runtime raise on a network they cannot
            export or optimise.
    """
    import onnxruntime

    directory.parent.mkdir(parents=True, exist_ok=True)
    work = directory.with_name(f"{directory.name}.{os.getpid()}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        raw = work / "export.onnx"
        export(module, raw)
        options = _session_options(threads, "ORT_ENABLE_EXTENDED")
        options.optimized_model_filepath = str(work / GRAPH_FILE)
        external = "session.optimized_model_external_initializers"
        options.add_session_config_entry(f"{external}_file_name", WEIGHTS_FILE)
        options.add_session_config_entry(f"{external}_min_size_in_bytes", "1024")
        onnxruntime.InferenceSession(str(raw), options, providers=["CPUExecutionProvider"])
        raw.unlink()
        versions = {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__, "opset": OPSET}
        facts = metadata | versions
        (work / META_FILE).write_text(json.dumps(facts, indent=2))
        try:
            work.rename(directory)
        except OSError:
            # Another process finished the same graph first; theirs is as good as ours.
            if not is_prepared(directory):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


class OnnxModule(torch.nn.Module):
    """Callable like the torch network: ``(1, 3, 1024, 1024)`` float32 in, a list with
    the final logits ``(1, 1, 1024, 1024)`` out (float32).

    Attributes:
        metadata: what ``prepare`` stored next to the graph.
    """

    def __init__(self, directory: Path, threads: int) -> None:
        super().__init__()
        import onnxruntime

        started = time.perf_counter()
        # The saved graph is already optimised; optimising it again costs ~1.5 s per start.
        options = _session_options(threads, "ORT_DISABLE_ALL")
        self.metadata = json.loads((directory / META_FILE).read_text())
        self.session = onnxruntime.InferenceSession(
            str(directory / GRAPH_FILE), options, providers=["CPUExecutionProvider"]
        )
        log.info(
            "ONNX Runtime %s session on %s ready in %.2f s",
            onnxruntime.__version__,
            directory,
            time.perf_counter() - started,
        )
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[-1].name

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if tuple(x.shape) != (1, 3, *MODEL_SIZE):
            raise ValueError(f"the ONNX graph takes (1, 3, 1024, 1024) float32, got {tuple(x.shape)}")
        (logits,) = self.session.run([self.output_name], {self.input_name: x.contiguous().numpy()})
        return [torch.from_numpy(logits)]
