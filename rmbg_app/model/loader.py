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
from dataclasses import dataclass

import torch
from safetensors.torch import load_file
from transformers.dynamic_module_utils import get_class_from_dynamic_module
from transformers.initialization import no_init_weights

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


def load_model(snapshot: Snapshot, runtime: Runtime, *, trust_remote_code: bool) -> LoadedModel:
    """Build the network from the snapshot's code and load ``model.safetensors``.

    Random initialisation is skipped (``transformers.initialization.no_init_weights``):
    building 220 M parameters with their init costs ~2.8 s on 2 CPU cores and every one
    is overwritten by ``load_state_dict(strict=True)``. The meta device is not an option:
    the backbone calls ``.item()`` on a tensor while it is built.

    Raises:
        RemoteCodeRefused: see ``check_remote_code_allowed``.
        ModelUnavailable: bad config, missing package, weights that do not fit the code.
    """
    check_remote_code_allowed(snapshot, trust_remote_code)
    code_sha256 = _hash_code(snapshot)
    for name, digest in code_sha256.items():
        log.info("Remote code %s sha256=%s", name, digest)
    started = time.perf_counter()
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
    module.eval().to(runtime.device)
    parameters = sum(p.numel() for p in module.parameters()) / 1e6
    if runtime.backend == "onnxruntime":
        module = _onnx_module(module, snapshot, runtime, code_sha256)
    else:
        module = prepare_module(module, runtime)
    return LoadedModel(module, snapshot, runtime, time.perf_counter() - started, code_sha256, parameters)


def _onnx_module(
    module: torch.nn.Module, snapshot: Snapshot, runtime: Runtime, code_sha256: dict[str, str]
) -> torch.nn.Module:
    """The ONNX Runtime stand-in for ``module``, exporting it first if this snapshot has
    not been exported yet (the torch network is then dropped by the caller)."""
    onnx_backend.check_installed()
    path = onnx_backend.cache_path(snapshot.path, code_sha256)
    if not path.is_file():
        log.info("Exporting %s to ONNX at %s (once per snapshot; minutes on CPU)", snapshot.model_id, path)
        started = time.perf_counter()
        onnx_backend.export(module, path)
        log.info("Exported in %.0f s", time.perf_counter() - started)
    return onnx_backend.OnnxModule(path, runtime.threads)
