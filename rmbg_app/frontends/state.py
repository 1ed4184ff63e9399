"""The server's model status: loading, ready or failed, shared by routes and UI."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from ..engine import Engine
from ..errors import RmbgError
from ..settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ModelState:
    """Holds the one engine of a server process once it is loaded and warmed up.

    ``phase`` goes ``loading`` -> ``ready`` or ``loading`` -> ``failed`` (with
    ``error``, the user-facing reason). One instance per app; no module globals.
    """

    settings: Settings
    engine: Engine | None = None
    phase: str = "loading"
    error: str | None = None
    _started: float = field(default_factory=time.perf_counter)

    def load(self) -> None:
        """Load and warm up the model; never raises (failures go to ``error``)."""
        try:
            engine = Engine.load(self.settings)
            if self.settings.warmup:
                log.info("Warm-up inference took %.2f s", engine.warm_up())
        except RmbgError as exc:
            self.error, self.phase = str(exc), "failed"
            log.error("Model not loaded: %s", exc)
            return
        except Exception as exc:  # any failure must reach /ready and the UI
            log.exception("Model not loaded")
            self.error, self.phase = f"Loading the model failed: {type(exc).__name__}: {exc}", "failed"
            return
        self.engine, self.phase = engine, "ready"
        log.info("Ready after %.2f s", time.perf_counter() - self._started)

    def start_loading(self) -> threading.Thread:
        """Load in a background thread so /health answers while the model loads."""
        thread = threading.Thread(target=self.load, name="model-loader", daemon=True)
        thread.start()
        return thread

    def require_engine(self) -> Engine:
        """The engine, or an RmbgError that says why there is none yet."""
        if self.engine is not None:
            return self.engine
        if self.phase == "failed":
            raise RmbgError(f"The model is not available: {self.error}")
        raise RmbgError("The model is still loading; try again in a moment.")

    def report(self) -> dict:
        """JSON-able status for /health and /ready."""
        report: dict = {"status": self.phase, "model": self.settings.model}
        if self.engine is not None:
            model = self.engine.model
            report |= {
                "revision": model.snapshot.revision,
                "device": str(model.runtime.device),
                "backend": model.runtime.backend,
                "dtype": model.runtime.dtype_name,
                "load_seconds": round(model.load_seconds, 3),
            }
        if self.error:
            report["error"] = self.error
        return report
