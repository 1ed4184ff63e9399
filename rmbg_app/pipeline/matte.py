"""Step 2: RGB pixels -> the matte (alpha in 0..1), as the RMBG-2.0 model card computes it.

Model card steps: RGB, resize to 1024x1024 (bilinear), ``/255``, normalise with the
ImageNet mean/std, ``model(x)[-1].sigmoid()``, back to the original size. Where we
differ from the card's snippet, and why:

* The card turns the 1024x1024 matte into 8-bit (``ToPILImage``: ``mul(255).byte()``,
  which truncates) and then resizes the 8-bit image. We resize the float matte with the
  same PIL bicubic filter and round once at the end, so the result is never darker than
  the model says; the two agree within 2/255 (tested).
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
        outputs = model.module(x.to(model.runtime.device))
        # RMBG-2.0 returns a list of 4 logit maps, coarse to fine; the last is the matte.
        while isinstance(outputs, (list, tuple)):
            outputs = outputs[-1]
        return outputs.float().sigmoid().cpu()


def resize_matte(matte: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bring a float matte to ``size`` = (width, height) with PIL bicubic, as the card does
    (on 8-bit there), and clip the filter's overshoot.

    Args:
        matte: float32 ``(h, w)`` in 0..1.

    Returns:
        float32 ``(height, width)`` in 0..1.
    """
    if matte.shape[::-1] == tuple(size):
        return matte
    resized = Image.fromarray(matte, "F").resize(size, Image.Resampling.BICUBIC)
    return np.clip(np.asarray(resized), 0.0, 1.0)


def to_uint8(matte: np.ndarray) -> np.ndarray:
    """float matte in 0..1 -> ``uint8`` 0..255, rounded to nearest."""
    return np.rint(matte * 255.0).astype(np.uint8)
