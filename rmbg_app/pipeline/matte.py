"""Step 2: RGB pixels -> the matte (alpha in 0..1), as the RMBG-2.0 model card computes it.

Model card steps: RGB, resize to 1024x1024 (bilinear), ``/255``, normalise with the
ImageNet mean/std, ``model(x)[-1].sigmoid()``, back to the original size. Where we
differ from the card's snippet, and why:

* The card turns the 1024x1024 matte into 8-bit (``ToPILImage``: ``mul(255).byte()``,
  which truncates) and then resizes the 8-bit image. We resize the float matte with the
  same PIL bicubic filter and round once at the end (``to_alpha``), so the result is
  never darker than the model says; the two agree within 2/255 (tested).
* Images with their own alpha are fed flattened over white (``DecodedImage.model_view``).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..model.device import inference
from ..model.loader import LoadedModel

# preprocessor_config.json of briaai/RMBG-2.0: size 1024x1024, resample 2 (bilinear),
# rescale 1/255, ImageNet mean/std.
MODEL_SIZE = (1024, 1024)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def preprocess(rgb: Image.Image) -> torch.Tensor:
    """RGB image -> normalised model input.

    Same operations, in the same order, as torchvision's ``Resize((1024, 1024))`` (PIL
    bilinear on a PIL image), ``ToTensor`` and ``Normalize``, so the tensor is identical.

    Returns:
        float32 tensor ``(1, 3, 1024, 1024)``, roughly in -2.2..2.7.
    """
    resized = rgb.resize(MODEL_SIZE, Image.Resampling.BILINEAR)
    x = torch.from_numpy(np.asarray(resized).copy()).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return x.sub(mean).div(std).unsqueeze(0)


def forward(model: LoadedModel, x: torch.Tensor) -> torch.Tensor:
    """Run the network and return the final matte at model resolution.

    Args:
        x: ``(B, 3, 1024, 1024)`` float32 from ``preprocess``.

    Returns:
        float32 CPU tensor ``(B, 1, 1024, 1024)`` in 0..1: ``sigmoid`` of the last logits.
    """
    with inference(model.runtime):
        runtime = model.runtime
        outputs = model.module(x.to(runtime.device, memory_format=runtime.memory_format))
        # RMBG-2.0 returns a list of 4 logit maps, coarse to fine; the last is the matte.
        while isinstance(outputs, (list, tuple)):
            outputs = outputs[-1]
        return outputs.float().sigmoid().cpu()


def to_alpha(matte: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bring a float matte to ``size`` = (width, height) with PIL bicubic, as the card does
    (on 8-bit there), clip the filter's overshoot and round once to 8 bits.

    All of it runs inside Pillow on a single float image: the resize is linear, so the
    matte is scaled to 0..255 (+0.5) at model resolution, and Pillow's float -> 8-bit
    conversion clips and truncates, which makes the truncation a round-half-up. On a
    24 MP photo this is ~10x faster than resizing to a float array and rounding it in
    numpy (several 96 MB passes).

    Args:
        matte: float32 ``(h, w)`` in 0..1.

    Returns:
        ``uint8`` ``(height, width)``: ``round(clip(resize(matte), 0, 1) * 255)``.
    """
    scaled = Image.fromarray(np.asarray(matte, dtype=np.float32) * 255.0 + 0.5, "F")
    if scaled.size != tuple(size):
        scaled = scaled.resize(size, Image.Resampling.BICUBIC)
    return np.asarray(scaled.convert("L"))
