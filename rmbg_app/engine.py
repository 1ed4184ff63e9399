"""The one engine every front end drives: decode -> matte -> compose -> encode."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .model.device import select_runtime
from .model.loader import LoadedModel, load_model
from .model.snapshot import resolve_snapshot
from .pipeline import compose, decode, encode, matte
from .settings import Settings

log = logging.getLogger(__name__)

MATTE_SUFFIX = "-matte"


@dataclass
class StageTimer:
    """Wall time per pipeline stage, in milliseconds, in the order they ran."""

    ms: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - started) * 1e3

    @property
    def total_ms(self) -> float:
        return sum(self.ms.values())

    def summary(self) -> str:
        """``"total 812 ms (decode 10, preprocess 20, ...)"``."""
        parts = ", ".join(f"{name} {value:.0f}" for name, value in self.ms.items())
        return f"{self.total_ms:.0f} ms ({parts})"


@dataclass
class Result:
    """One processed image.

    Attributes:
        source: the decoded upload (name, ICC profile, own alpha).
        alpha: the cutout's alpha, ``uint8`` ``(H, W)``: the matte limited by the
            upload's own alpha.
        cutout: ``RGBA`` image, original RGB with ``alpha``.
        timer: per-stage timings; ``save_*`` adds ``encode``.
    """

    source: decode.DecodedImage
    alpha: np.ndarray
    cutout: Image.Image
    timer: StageTimer

    def matte_image(self) -> Image.Image:
        """The alpha as a greyscale ``L`` image (white = subject)."""
        return Image.fromarray(self.alpha, "L")

    def save_cutout(self, directory: Path) -> Path:
        """Write ``<stem>-nobg.png`` (RGBA, source ICC profile) into ``directory``."""
        with self.timer.stage("encode"):
            path = directory / encode.output_name(self.source.name)
            return encode.encode_png(self.cutout, path, self.source.icc_profile)

    def save_matte(self, directory: Path) -> Path:
        """Write ``<stem>-matte.png`` (8-bit greyscale) into ``directory``."""
        with self.timer.stage("encode"):
            path = directory / encode.output_name(self.source.name, MATTE_SUFFIX)
            return encode.encode_png(self.matte_image(), path)


class Engine:
    """Owns the one model instance and runs the pipeline on it.

    Not thread-safe by itself: front ends serialise calls (the Gradio queue runs one
    model call at a time).
    """

    def __init__(self, model: LoadedModel, settings: Settings) -> None:
        self.model = model
        self.settings = settings

    @classmethod
    def load(cls, settings: Settings) -> Engine:
        """Resolve the snapshot, pick the device, load the model and log what ran.

        Raises:
            DeviceUnavailable, ModelUnavailable, RemoteCodeRefused: with the fix in the message.
        """
        runtime = select_runtime(
            settings.device,
            channels_last=settings.channels_last,
            compile_mode=settings.torch_compile,
            backend=settings.backend,
        )
        snapshot = resolve_snapshot(
            settings.model,
            revision=settings.revision,
            cache_dir=settings.hub_cache,
            offline=settings.offline,
        )
        model = load_model(snapshot, runtime, trust_remote_code=settings.trust_remote_code)
        log.info(
            "Loaded %s (revision %s, %.1f M parameters) on %s, %s, in %.2f s",
            snapshot.model_id,
            snapshot.revision,
            model.parameters_millions,
            runtime.describe(),
            runtime.dtype_name,
            model.load_seconds,
        )
        return cls(model, settings)

    def describe(self) -> str:
        """One line for the UI: model, revision, device, dtype."""
        snap, runtime = self.model.snapshot, self.model.runtime
        return f"{snap.model_id} @ {snap.revision[:12]} on {runtime.describe()}, {runtime.dtype_name}"

    def warm_up(self) -> float:
        """Run one inference so the first user does not pay for lazy initialisation.

        Returns:
            the warm-up time in seconds.
        """
        started = time.perf_counter()
        x = matte.preprocess(Image.new("RGB", (64, 64), (128, 128, 128)))
        matte.forward(self.model, x)
        return time.perf_counter() - started

    def process(self, path: str | Path, name: str | None = None) -> Result:
        """Remove the background of one image file.

        Args:
            path: the file to read.
            name: the user's file name, if ``path`` is a temporary name.

        Raises:
            InputError: the file cannot be decoded or is over the limits.
        """
        timer = StageTimer()
        with timer.stage("decode"):
            source = decode.decode_image(path, name=name, max_megapixels=self.settings.max_megapixels)
        with timer.stage("preprocess"):
            x = matte.preprocess(source.model_view())
        with timer.stage("forward"):
            prediction = matte.forward(self.model, x)[0, 0].numpy()
        with timer.stage("matte_resize"):
            alpha = matte.to_alpha(prediction, source.size)
        with timer.stage("compose"):
            alpha = compose.combine_alpha(alpha, source.alpha)
            image = compose.cutout(source.rgb, alpha, source.alpha)
        return Result(source, alpha, image, timer)
