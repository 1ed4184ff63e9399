"""Opt-in backend (``RMBG_BACKEND=onnxruntime``): the network exported to ONNX and run by
ONNX Runtime on CPU.

The graph is exported once per snapshot, torch version and opset into
``$HF_HOME/rmbg-onnx/<key>/model.onnx`` (about as large as the weights; ~2 minutes on 2
cores) and loaded from there on later starts. ``torchvision::deform_conv2d`` has no ONNX
symbolic in torch or torchvision; it maps onto ONNX ``DeformConv`` (opset 19), which
ONNX Runtime implements on CPU from 1.31 on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import torch

from ..errors import ModelUnavailable

log = logging.getLogger(__name__)

OPSET = 19
MODEL_SIZE = (1024, 1024)
MIN_ONNXRUNTIME = (1, 31)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


INSTALL_HINT = "pip install 'onnxruntime>=1.31' onnx"


def check_installed() -> None:
    """Raises ModelUnavailable unless ``onnx`` (for the export) and ONNX Runtime 1.31 or
    newer (its CPU ``DeformConv``) are importable."""
    try:
        import onnx  # noqa: F401 - torch.onnx.export needs it
        import onnxruntime
    except ImportError:
        onnxruntime = None
    if onnxruntime is None or _version(onnxruntime.__version__) < MIN_ONNXRUNTIME:
        raise ModelUnavailable(
            f"RMBG_BACKEND=onnxruntime needs onnx and ONNX Runtime >= 1.31: {INSTALL_HINT}."
        )


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
    """Export ``module`` (eval, CPU, fp32) for a ``(1, 3, 1024, 1024)`` input to ``path``.

    Written to a temporary name first, so an interrupted export leaves no half file.
    """
    torch.onnx.register_custom_op_symbolic("torchvision::deform_conv2d", _deform_conv2d_symbolic(), OPSET)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    example = torch.zeros(1, 3, *MODEL_SIZE)
    with torch.inference_mode():
        torch.onnx.export(module, (example,), str(partial), opset_version=OPSET, dynamo=False)
    partial.replace(path)


def cache_path(snapshot_dir: Path, code_sha256: dict[str, str]) -> Path:
    """Where the export of this snapshot lives, under ``$HF_HOME/rmbg-onnx``: keyed by its
    code, its weights file (size and modification time), the torch version and the opset."""
    from huggingface_hub import constants

    weights = (snapshot_dir / "model.safetensors").resolve().stat()
    key = repr((sorted(code_sha256.items()), weights.st_size, weights.st_mtime_ns, torch.__version__, OPSET))
    return (
        Path(constants.HF_HOME) / "rmbg-onnx" / hashlib.sha256(key.encode()).hexdigest()[:16] / "model.onnx"
    )


class OnnxModule(torch.nn.Module):
    """Callable like the torch network: ``(1, 3, 1024, 1024)`` float32 in, a list with
    the final logits ``(1, 1, 1024, 1024)`` out."""

    def __init__(self, path: Path, threads: int) -> None:
        super().__init__()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        started = time.perf_counter()
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        log.info(
            "ONNX Runtime %s session ready in %.1f s", onnxruntime.__version__, time.perf_counter() - started
        )
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[-1].name

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        (logits,) = self.session.run([self.output_name], {self.input_name: x.contiguous().numpy()})
        return [torch.from_numpy(logits)]
