"""Build the model from a snapshot's remote code and load its weights.

``AutoModelForImageSegmentation.from_pretrained(..., trust_remote_code=True)`` fails
on RMBG-2.0 under current transformers (its ``__init__`` swaps the HF config for a
plain object and calls ``.item()``, which breaks meta-device init and post-init
checks). We keep transformers' dynamic-module machinery (same code path and module
cache as ``trust_remote_code``) and skip ``from_pretrained``: classes from
``config.json``'s ``auto_map`` -> config -> model -> ``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..errors import ModelUnavailable, RemoteCodeRefused
from . import onnx_backend
from .device import Runtime, prepare_module
from .snapshot import Snapshot

log = logging.getLogger(__name__)

MODEL_AUTO_CLASS = "AutoModelForImageSegmentation"
# Repos whose remote code we run without an explicit opt-in: RMBG-2.0 and the
# open BiRefNet family (BiRefNet, _lite, _HR, _dynamic, -portrait, -matting, ...).
KNOWN_REPOS = re.compile(r"^(briaai/RMBG-2\.0|ZhengPeng7/BiRefNet[\w.-]*)$", re.IGNORECASE)


@dataclass
class LoadedModel:
    """A model ready for inference.

    Attributes:
        module: the network in eval mode on ``runtime.device``; ``module(x)`` takes
            ``(B, 3, H, W)`` float32 and returns a list of logit maps, the last one
            ``(B, 1, H, W)``.
        snapshot: where it came from.
        runtime: device, autocast dtype and threads.
        load_seconds: wall time from reading the config to weights on the device.
        code_sha256: sha256 of each remote-code file that was executed.
        parameters_millions: the network's parameter count, in millions.
    """

    module: torch.nn.Module
    snapshot: Snapshot
    runtime: Runtime
    load_seconds: float
    code_sha256: dict[str, str]
    parameters_millions: float


def check_remote_code_allowed(snapshot: Snapshot, trust_remote_code: bool) -> None:
    """Refuse to run Python code from a model outside the known family unless opted in.

    Raises:
        RemoteCodeRefused: unknown repo or local directory without ``trust_remote_code``.
    """
    if trust_remote_code or (not snapshot.is_local_dir and KNOWN_REPOS.match(snapshot.model_id)):
        return
    where = "a local directory" if snapshot.is_local_dir else "outside the RMBG-2.0/BiRefNet family"
    raise RemoteCodeRefused(
        f"{snapshot.model_id} is {where}; loading it runs its Python code "
        f"({', '.join(sorted(p.name for p in snapshot.path.glob('*.py')))}). If you trust "
        "that code, set RMBG_TRUST_REMOTE_CODE=1 (or pass --trust-remote-code)."
    )


def _hash_code(snapshot: Snapshot) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(snapshot.path.glob("*.py"))
    }


def _resolve_classes(snapshot: Snapshot, config: dict) -> tuple[type, type]:
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    auto_map = config.get("auto_map") or {}
    if MODEL_AUTO_CLASS not in auto_map:
        raise ModelUnavailable(
            f"{snapshot.path / 'config.json'} has no auto_map entry for {MODEL_AUTO_CLASS}; "
            "this is not an RMBG-2.0 / BiRefNet snapshot."
        )
    try:
        model_cls = get_class_from_dynamic_module(auto_map[MODEL_AUTO_CLASS], snapshot.path)
        config_cls = (
            get_class_from_dynamic_module(auto_map["AutoConfig"], snapshot.path)
            if "AutoConfig" in auto_map
            else model_cls.config_class
        )
    except OSError as exc:
        # EROFS: a cache mounted read-only (Docker ":ro") fails like a permission problem.
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise ModelUnavailable(
            f"Cannot write the model's code to transformers' module cache ({exc.filename}: "
            f"{exc.strerror}). Make $HF_HOME/modules writable or point HF_MODULES_CACHE at a "
            "writable folder."
        ) from None
    except ImportError as exc:
        raise ModelUnavailable(
            f"The code of {snapshot.model_id} needs a package that is not installed: {exc}. "
            "Install the project's requirements.txt."
        ) from None
    return config_cls, model_cls


def load_model(
    snapshot: Snapshot, runtime: Runtime, *, trust_remote_code: bool, onnx_graphs: Path | None = None
) -> LoadedModel:
    """Load the snapshot for ``runtime``: its prepared ONNX graph, or the torch network.

    With ``runtime.backend == "onnxruntime"`` a graph already prepared under
    ``onnx_graphs`` is opened directly: the model's Python code is not imported and the
    torch network is not built. Otherwise the network is built from the snapshot's code
    (``build_network``) and, for ONNX Runtime, prepared once; if that fails and the
    backend was not named by the user, the torch network is used, with a warning.

    Args:
        onnx_graphs: the folder of prepared graphs (``Settings.onnx_graphs``); needed
            for the ``onnxruntime`` backend.

    Raises:
        RemoteCodeRefused: see ``check_remote_code_allowed``.
        ModelUnavailable: bad config, missing package, weights that do not fit the code,
            or (``runtime.backend_required``) an ONNX graph that cannot be prepared.
        ValueError: the ``onnxruntime`` backend without ``onnx_graphs``.
    """
    if runtime.backend == "onnxruntime" and onnx_graphs is None:
        raise ValueError("the onnxruntime backend needs the folder of prepared graphs")
    check_remote_code_allowed(snapshot, trust_remote_code)
    code_sha256 = _hash_code(snapshot)
    for name, digest in code_sha256.items():
        log.info("Remote code %s sha256=%s", name, digest)
    started = time.perf_counter()
    module = None
    if runtime.backend == "onnxruntime":
        graph = onnx_backend.graph_dir(onnx_graphs, snapshot.path, code_sha256)
        if not onnx_backend.is_prepared(graph):
            module = build_network(snapshot)
            _prepare_graph(module, snapshot, graph, runtime)
        onnx = _open_graph(graph, runtime) if onnx_backend.is_prepared(graph) else None
        if onnx is not None:
            seconds, parameters = time.perf_counter() - started, onnx.metadata["parameters_millions"]
            return LoadedModel(onnx, snapshot, runtime, seconds, code_sha256, parameters)
        runtime = replace(runtime, backend="torch")
    if module is None:
        module = build_network(snapshot)
    parameters = _parameters_millions(module)
    module = prepare_module(module.to(runtime.device), runtime)
    return LoadedModel(module, snapshot, runtime, time.perf_counter() - started, code_sha256, parameters)


def _parameters_millions(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def _summary(exc: BaseException) -> str:
    """``Type: first line of the message``, for a log line or an error that quotes it."""
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no detail'}"


def build_network(snapshot: Snapshot) -> torch.nn.Module:
    """Build the network from the snapshot's code and load ``model.safetensors`` into it.

    Random initialisation is skipped (``transformers.initialization.no_init_weights``):
    building 220 M parameters with their init costs ~2.8 s on 2 CPU cores and every one
    is overwritten by ``load_state_dict(strict=True)``. The meta device is not an option:
    the backbone calls ``.item()`` on a tensor while it is built.

    Returns:
        the network on CPU, fp32, in eval mode, without gradients.

    Raises:
        ModelUnavailable: bad config, missing package, weights that do not fit the code.
    """
    # Imported here: a start that opens a prepared ONNX graph never needs transformers (~0.5 s).
    from transformers.initialization import no_init_weights

    config_dict = json.loads((snapshot.path / "config.json").read_text())
    config_cls, model_cls = _resolve_classes(snapshot, config_dict)
    config = config_cls.from_dict(config_dict)
    # Weights come from the snapshot; a pretrained backbone would be read from
    # paths on the author's machine.
    if hasattr(config, "bb_pretrained"):
        config.bb_pretrained = False
    with no_init_weights():
        module = model_cls(config=config)
    state = load_file(snapshot.path / "model.safetensors")
    try:
        # assign=True adopts the memory-mapped tensors instead of copying them.
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelUnavailable(
            f"The weights in {snapshot.path / 'model.safetensors'} do not fit the model code: "
            f"{str(exc).splitlines()[0]} Download the snapshot again."
        ) from None
    module.requires_grad_(False)
    return module.eval()


def _fall_back(runtime: Runtime, problem: str, fix: str) -> None:
    """Raise for a backend the user named; otherwise warn that torch runs instead."""
    if runtime.backend_required:
        raise ModelUnavailable(f"{problem} {fix}")
    log.warning("%s Running the model with torch instead (slower on CPU). %s", problem, fix)


def _open_graph(graph: Path, runtime: Runtime) -> onnx_backend.OnnxModule | None:
    try:
        return onnx_backend.OnnxModule(graph, runtime.threads)
    # ONNX Runtime reports a damaged graph as one of several types; all mean "re-prepare".
    except Exception as exc:  # noqa: BLE001
        _fall_back(
            runtime,
            f"The prepared ONNX graph in {graph} cannot be opened ({_summary(exc)}).",
            "Delete that folder; the next start prepares it again.",
        )
        return None


def _prepare_graph(module: torch.nn.Module, snapshot: Snapshot, graph: Path, runtime: Runtime) -> None:
    """Prepare ``graph`` from ``module``; on failure, ``_fall_back`` (raise or warn)."""
    log.info(
        "Preparing the ONNX Runtime graph of %s in %s (once per snapshot; about a minute on 2 CPU cores)",
        snapshot.model_id,
        graph,
    )
    started = time.perf_counter()
    metadata = {
        "model": snapshot.model_id,
        "revision": snapshot.revision,
        "parameters_millions": _parameters_millions(module),
    }
    try:
        onnx_backend.prepare(module, graph, threads=runtime.threads, metadata=metadata)
    except OSError as exc:
        _fall_back(
            runtime,
            f"Cannot write the ONNX graph to {graph.parent} ({exc.strerror or exc}).",
            "Free space there, make that folder writable, or point RMBG_ONNX_CACHE at another folder.",
        )
        return
    # torch.onnx and ONNX Runtime raise many types for "this network does not export".
    except Exception as exc:  # noqa: BLE001
        _fall_back(
            runtime,
            f"{snapshot.model_id} cannot be exported to ONNX ({_summary(exc)}).",
            "Set RMBG_BACKEND=torch to skip the export.",
        )
        return
    log.info("Prepared the ONNX graph in %.0f s", time.perf_counter() - started)
