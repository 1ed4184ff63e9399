"""The RMBG-2.0 model card's usage snippet, step by step, as the baseline to beat.

Deliberately independent of ``rmbg_app.pipeline``: torchvision transforms, the model's
list output, ``ToPILImage`` (8-bit, truncating), PIL ``resize`` back, ``putalpha`` and a
PNG at Pillow's default compression. Loading is what ``from_pretrained`` amounts to on
this code: build the model with its own random initialisation, then load the weights.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file
from torchvision import transforms
from transformers.dynamic_module_utils import get_class_from_dynamic_module

IMAGE_SIZE = (1024, 1024)


@dataclass
class ReferenceRun:
    """One image through the card's snippet.

    Attributes:
        matte: the alpha it put on the image, ``uint8`` ``(H, W)``.
        ms: wall time per stage, milliseconds, named as ``rmbg_app.engine.StageTimer``'s.
    """

    matte: np.ndarray
    ms: dict[str, float] = field(default_factory=dict)


@contextmanager
def _stage(ms: dict[str, float], name: str):
    started = time.perf_counter()
    yield
    ms[name] = (time.perf_counter() - started) * 1e3


class ReferencePipeline:
    """The card's model and transform, ready to run on image files."""

    def __init__(self, model: torch.nn.Module, device: torch.device) -> None:
        self.model = model
        self.device = device
        self.transform_image = transforms.Compose(
            [
                transforms.Resize(IMAGE_SIZE),
                transforms.ToTensor(),
                transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
            ]
        )

    @classmethod
    def load(cls, snapshot_dir: Path, device: torch.device) -> ReferencePipeline:
        """``AutoModelForImageSegmentation.from_pretrained(dir, trust_remote_code=True)``
        as far as it works on current transformers: the classes from ``auto_map``, the
        model built with its random initialisation, ``load_state_dict`` (copying), eval."""
        if device.type == "cuda":
            # The card sets this before loading; on CPU it would change our path's numbers too.
            torch.set_float32_matmul_precision("high")
        config_dict = json.loads((snapshot_dir / "config.json").read_text())
        auto_map = config_dict["auto_map"]
        model_cls = get_class_from_dynamic_module(auto_map["AutoModelForImageSegmentation"], snapshot_dir)
        config_cls = get_class_from_dynamic_module(auto_map["AutoConfig"], snapshot_dir)
        config = config_cls.from_dict(config_dict)
        model = model_cls(config=config)
        model.load_state_dict(load_file(snapshot_dir / "model.safetensors"), strict=True)
        model.to(device).eval()
        return cls(model, device)

    def run(self, image_path: Path, out_path: Path) -> ReferenceRun:
        """The card's snippet on one file, writing ``out_path`` (RGBA PNG)."""
        ms: dict[str, float] = {}
        with _stage(ms, "decode"):
            image = Image.open(image_path)
            image.load()
        with _stage(ms, "preprocess"):
            input_images = self.transform_image(image).unsqueeze(0).to(self.device)
        with _stage(ms, "forward"), torch.no_grad():
            preds = self.model(input_images)[-1].sigmoid().cpu()
        with _stage(ms, "matte_resize"):
            pred = preds[0].squeeze()
            pred_pil = transforms.ToPILImage()(pred)
            mask = pred_pil.resize(image.size)
        with _stage(ms, "compose"):
            image.putalpha(mask)
        with _stage(ms, "encode"):
            image.save(out_path)
        return ReferenceRun(np.asarray(mask), ms)
