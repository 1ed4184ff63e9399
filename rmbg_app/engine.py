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

from .errors import EmptyResult
from .model.device import select_runtime
from .model.loader import LoadedModel, load_model
from .model.snapshot import resolve_snapshot
from .options import ExportOptions
from .pipeline import compose, crop, decode, encode, matte, refine
from .pipeline.foreground import estimate_foreground
from .settings import Settings

log = logging.getLogger(__name__)

DEFAULT_OPTIONS = ExportOptions()


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
        alpha: the final alpha, ``uint8`` ``(H, W)`` at the photo's size (before any
            crop): the matte, shaped by the options and limited by the upload's own alpha.
        image: the output image for ``options`` (``RGBA``, ``L`` or ``RGB``), cropped.
        options: the export options it was made with.
        timer: per-stage timings; ``save`` adds ``encode``.
    """

    source: decode.DecodedImage
    alpha: np.ndarray
    image: Image.Image
    options: ExportOptions
    timer: StageTimer

    @property
    def file_name(self) -> str:
        """``<stem>-nobg.<ext>`` (``-matte`` for mattes)."""
        return encode.name_for(self.source.name, self.options)

    def save(self, directory: Path, name: str | None = None) -> Path:
        """Encode into ``directory`` under ``name`` (default ``file_name``).

        Raises:
            FileExistsError: the file exists; results never overwrite a file.
        """
        with self.timer.stage("encode"):
            path = directory / (name or self.file_name)
            return encode.encode(self.image, path, self.options, self.source.icc_profile)


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
        model = load_model(
            snapshot, runtime, trust_remote_code=settings.trust_remote_code, onnx_graphs=settings.onnx_graphs
        )
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

    def process(
        self, path: str | Path, options: ExportOptions = DEFAULT_OPTIONS, name: str | None = None
    ) -> Result:
        """Remove the background of one image file.

        Args:
            path: the file to read.
            options: what to make of it.
            name: the user's file name, if ``path`` is a temporary name.

        Raises:
            InputError: the file (or the background image) cannot be decoded or is over
                the limits.
            EmptyResult: the model found no subject.
        """
        timer = StageTimer()
        limit = self.settings.max_megapixels
        with timer.stage("decode"):
            source = decode.decode_image(path, name=name, max_megapixels=limit, rotate=options.rotate)
            background = None
            if options.output == "image" and options.background_image is not None:
                background = decode.decode_image(options.background_image, max_megapixels=limit).rgb
        with timer.stage("preprocess"):
            x = matte.preprocess(source.model_view())
        with timer.stage("forward"):
            prediction = matte.forward(self.model, x)[0, 0].numpy()
        with timer.stage("matte_resize"):
            alpha = matte.to_alpha(prediction, source.size)
        with timer.stage("refine"):
            alpha = refine.harden(alpha, threshold=options.threshold, contrast=options.contrast)
            if options.remove_specks:
                alpha = refine.remove_specks(alpha, keep_percent=options.speck_percent)
            alpha = compose.combine_alpha(alpha, source.alpha)
        if refine.is_empty(alpha):
            raise EmptyResult(
                f"No subject found in {source.name!r}: the matte is empty (almost no pixel is "
                "more than half opaque), so there is nothing to cut out."
            )
        photo = compose.hide_transparent(np.asarray(source.rgb), source.alpha)
        foreground = photo
        if options.refine_edges and options.output != "matte":
            with timer.stage("foreground"):
                foreground = estimate_foreground(photo, alpha)
        with timer.stage("compose"):
            box = crop.Box.full(alpha.shape)
            if options.crop:
                unit, aspect = options.crop_margin_unit, options.aspect
                box = crop.crop_box(alpha, margin=options.crop_margin, unit=unit, aspect=aspect)
            image = compose.render(
                options, foreground=foreground, alpha=alpha, photo=photo, box=box, background=background
            )
        return Result(source, alpha, image, options, timer)
