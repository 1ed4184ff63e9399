"""All configuration in one place: environment variables, defaults and CLI overrides.

Our own variables use the ``RMBG_`` prefix; the ecosystem's keep their names
(``HF_HOME``, ``HF_TOKEN``, ``HF_HUB_OFFLINE``, ``GRADIO_SERVER_NAME``,
``GRADIO_SERVER_PORT``) and are read by the libraries that own them as well.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

CHECKOUT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "briaai/RMBG-2.0"
OPEN_MODEL = "ZhengPeng7/BiRefNet"
PREFIX = "RMBG_"

Device = Literal["auto", "cuda", "cpu"]
DEVICES: tuple[Device, ...] = ("auto", "cuda", "cpu")
Backend = Literal["auto", "torch", "onnxruntime"]
BACKENDS: tuple[Backend, ...] = ("auto", "torch", "onnxruntime")
CompileMode = Literal["off", "default", "reduce-overhead"]
COMPILE_MODES: tuple[CompileMode, ...] = ("off", "default", "reduce-overhead")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no).")


def _parse_number(name: str, raw: str, kind: type, minimum: float) -> float | int:
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a {kind.__name__}.") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum}.")
    return value


Credentials = tuple[tuple[str, str], ...]


def _add_credentials(pairs: dict[str, str], source: str, entries: list[tuple[int, str]]) -> None:
    """``user:password`` entries -> ``pairs``; the password is everything after the first
    colon. Messages name the source and the entry's position, never the secret.

    Raises:
        SettingsError: an entry without user or password, a user named twice.
    """
    for position, entry in entries:
        user, colon, password = entry.partition(":")
        user = user.strip()
        if not colon or not user or not password:
            raise SettingsError(f"{source}: entry {position} is not 'user:password'.")
        if user in pairs:
            raise SettingsError(f"{source}: user {user!r} appears twice.")
        pairs[user] = password


def credentials_from_env(env: Mapping[str, str]) -> Credentials:
    """Logins from ``RMBG_AUTH`` (``user:pass,user2:pass2``) and ``RMBG_AUTH_FILE`` (one
    ``user:password`` a line; blank lines and ``#`` comments skipped; positions in
    messages are line numbers).

    Raises:
        SettingsError: a malformed entry, a user named twice, an unreadable file.
    """
    pairs: dict[str, str] = {}
    inline = [e.strip() for e in env.get(f"{PREFIX}AUTH", "").split(",")]
    _add_credentials(pairs, f"{PREFIX}AUTH", [(n, e) for n, e in enumerate(inline, start=1) if e])
    if env.get(f"{PREFIX}AUTH_FILE"):
        path = Path(env[f"{PREFIX}AUTH_FILE"]).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise SettingsError(f"{PREFIX}AUTH_FILE={str(path)!r} cannot be read ({exc.strerror}).") from None
        entries = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
        _add_credentials(
            pairs, f"{PREFIX}AUTH_FILE", [(n, e) for n, e in entries if not e.lstrip().startswith("#")]
        )
    return tuple(pairs.items())


@dataclass(frozen=True)
class Settings:
    """Process-wide settings, immutable once built.

    Attributes:
        model: Hub repo id (``owner/name``) or a local directory holding a snapshot.
        revision: Hub branch, tag or commit; ``None`` means ``main``.
        device: ``auto`` (CUDA when available, else CPU), ``cuda`` or ``cpu``.
        hf_home: Hugging Face home; the model cache is ``hf_home/hub``.
        offline: never contact the Hub (``HF_HUB_OFFLINE``).
        trust_remote_code: run the model's Python code even for repos outside the
            known RMBG-2.0 / BiRefNet family (local directories included).
        server_name: interface to bind (``GRADIO_SERVER_NAME``).
        server_port: TCP port (``GRADIO_SERVER_PORT``).
        max_file_size_mb: largest upload accepted, in MiB.
        max_megapixels: largest decoded image, in megapixels (decompression-bomb guard).
        queue_size: requests allowed to wait for the model; more are refused as busy.
        max_batch_files: images accepted in one batch (uploads and ZIP entries).
        warmup: run one inference at start so the first user does not pay for it.
        channels_last: run the network on NHWC (channels-last) tensors
            (``RMBG_CHANNELS_LAST``). Off by default: on 2 CPU cores it gave the
            RMBG-2.0 forward nothing (docs/performance.md). It usually helps fp16
            convolutions on CUDA tensor cores; not measured on a GPU yet.
        torch_compile: ``torch.compile`` the network at load (``RMBG_TORCH_COMPILE``);
            the warm-up then pays the compilation. ``off`` (default), ``default``
            (inductor), or ``reduce-overhead`` (inductor plus CUDA graphs for the fixed
            1024x1024 input; CUDA only, not measured on a GPU yet). On 2 CPU cores
            inductor compiled RMBG-2.0 for 10 minutes and ran it no faster.
        backend: what runs the network (``RMBG_BACKEND``). ``auto`` (default): ONNX
            Runtime on CPU, torch on CUDA. ``onnxruntime``: always ONNX Runtime (CPU only).
            ``torch``: always torch. ONNX Runtime needs a graph prepared once per snapshot
            (exported and optimised into ``onnx_cache``, ~1 minute on 2 cores at the first
            start); on 2 CPU cores it ran the RMBG-2.0 forward ~2x faster than torch eager,
            mattes within 0.0001 levels (docs/performance.md). With ``auto``, a graph that
            cannot be prepared (cache not writable, export error) falls back to torch with a
            warning; with ``onnxruntime`` it is an error. ``RMBG_CHANNELS_LAST`` and
            ``RMBG_TORCH_COMPILE`` are torch options: with ``auto`` they select torch.
        onnx_cache: where prepared ONNX graphs live (``RMBG_ONNX_CACHE``); ``None`` means
            ``hf_home/rmbg-onnx``. About the size of the weights per snapshot.
        auth: ``(user, password)`` pairs; when any, the page and the API ask for a login
            (``/health`` and ``/ready`` stay open). Kept out of ``repr``.
    """

    model: str = DEFAULT_MODEL
    revision: str | None = None
    device: Device = "auto"
    hf_home: Path = CHECKOUT_DIR / "models"
    offline: bool = False
    trust_remote_code: bool = False
    server_name: str = "127.0.0.1"
    server_port: int = 7860
    max_file_size_mb: float = 50.0
    max_megapixels: float = 100.0
    queue_size: int = 16
    max_batch_files: int = 500
    warmup: bool = True
    channels_last: bool = False
    torch_compile: CompileMode = "off"
    backend: Backend = "auto"
    onnx_cache: Path | None = None
    auth: Credentials = field(default=(), repr=False)

    @property
    def hub_cache(self) -> Path:
        """The ``hub/`` folder under ``hf_home`` where snapshots live."""
        return self.hf_home / "hub"

    @property
    def onnx_graphs(self) -> Path:
        """The folder holding prepared ONNX graphs (``onnx_cache`` or ``hf_home/rmbg-onnx``)."""
        return self.onnx_cache or self.hf_home / "rmbg-onnx"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables.

        Raises:
            SettingsError: a variable is set to a value that cannot be parsed.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if "HF_HOME" in env:
            values["hf_home"] = Path(env["HF_HOME"]).expanduser()
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            if name in env:
                values["offline"] = values.get("offline", False) or _parse_bool(name, env[name])
        if "GRADIO_SERVER_NAME" in env:
            values["server_name"] = env["GRADIO_SERVER_NAME"]
        if "GRADIO_SERVER_PORT" in env:
            values["server_port"] = _parse_number("GRADIO_SERVER_PORT", env["GRADIO_SERVER_PORT"], int, 1)
        values["auth"] = credentials_from_env(env)
        for setting in fields(cls):
            name = PREFIX + setting.name.upper()
            if name not in env or setting.name == "auth":
                continue
            raw = env[name]
            if setting.name in ("offline", "trust_remote_code", "warmup", "channels_last"):
                values[setting.name] = _parse_bool(name, raw)
            elif setting.name in ("server_port", "queue_size", "max_batch_files"):
                values[setting.name] = _parse_number(name, raw, int, 1)
            elif setting.name in ("max_file_size_mb", "max_megapixels"):
                values[setting.name] = _parse_number(name, raw, float, 0.001)
            elif setting.name == "hf_home":
                values[setting.name] = Path(raw).expanduser()
            elif setting.name == "onnx_cache":
                values[setting.name] = Path(raw).expanduser() if raw else None
            elif setting.name == "revision":
                values[setting.name] = raw or None
            else:
                values[setting.name] = raw
        settings = cls(**values)
        settings.validate()
        return settings

    def with_overrides(self, **overrides: object) -> Settings:
        """Return a copy with the non-``None`` overrides applied (CLI flags)."""
        settings = replace(self, **{k: v for k, v in overrides.items() if v is not None})
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raises SettingsError when a value is out of its domain."""
        if self.device not in DEVICES:
            raise SettingsError(f"{PREFIX}DEVICE={self.device!r}: use one of {', '.join(DEVICES)}.")
        if self.torch_compile not in COMPILE_MODES:
            raise SettingsError(
                f"{PREFIX}TORCH_COMPILE={self.torch_compile!r}: use one of {', '.join(COMPILE_MODES)}."
            )
        if self.backend not in BACKENDS:
            raise SettingsError(f"{PREFIX}BACKEND={self.backend!r}: use one of {', '.join(BACKENDS)}.")
        if self.backend == "onnxruntime" and (self.channels_last or self.torch_compile != "off"):
            raise SettingsError(
                f"{PREFIX}CHANNELS_LAST and {PREFIX}TORCH_COMPILE are torch options; they do not "
                f"apply with {PREFIX}BACKEND=onnxruntime. Unset them or set {PREFIX}BACKEND=torch."
            )
        if not self.model:
            raise SettingsError(f"{PREFIX}MODEL is empty: give a Hub repo id or a local directory.")

    def export_hf_environment(self) -> None:
        """Make the Hugging Face libraries use these settings.

        huggingface_hub and transformers read ``HF_HOME`` and ``HF_HUB_OFFLINE`` when
        they are first imported, so this runs before either is imported.
        """
        os.environ["HF_HOME"] = str(self.hf_home)
        if self.offline:
            os.environ["HF_HUB_OFFLINE"] = "1"
