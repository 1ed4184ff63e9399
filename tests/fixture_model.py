"""A tiny stand-in for RMBG-2.0, written as a real Hugging Face cache snapshot.

RMBG-2.0's weights cannot be downloaded in CI, so tests use this model. It is our own
code; it reproduces the quirks of the real remote code that a loader has to survive:

* ``config.json`` with ``auto_map`` naming ``BiRefNet_config.BiRefNetConfig`` and
  ``birefnet.BiRefNet``; the config class declares ``model_type =
  "SegformerForSemanticSegmentation"`` as the real one does.
* ``__init__`` replaces the HF config with an inner ``Config``: a plain object
  (variant ``"plain"``) or a ``PretrainedConfig`` subclass whose ``__init__`` is never
  called (variant ``"pretrained"``).
* ``.item()`` on a ``torch.linspace`` result while building, so it cannot be built on
  the meta device.
* ``forward`` returns a list of 4 logit maps (H/32, H/16, H/8, H); the last is the matte.
* An attention block adds a float32 mask to its scores, so ``model.half()`` fails the
  way the Swin backbone does, while fp16 autocast works.
* ``torchvision.ops.deform_conv2d`` in the head (bfloat16 is not implemented there).

Its matte is a known function of pixel colour: ``sigmoid(WEIGHTS . x + BIAS)`` where
``x`` is the normalised 1024x1024 input (the attention output is projected by zeros),
so tests can check that the matte lands on the right pixels at the right size and
orientation.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

WEIGHTS = (2.0, 0.5, -2.5)
BIAS = 0.25
COMMIT = "0123456789abcdef0123456789abcdef01234567"
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])

CONFIG_PY = """from transformers import PretrainedConfig

class BiRefNetConfig(PretrainedConfig):
    model_type = "SegformerForSemanticSegmentation"
    def __init__(
        self,
        bb_pretrained=False,
        **kwargs
    ):
        self.bb_pretrained = bb_pretrained
        super().__init__(**kwargs)
"""

MODEL_PY = '''### config.py

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import deform_conv2d
from transformers import PretrainedConfig, PreTrainedModel


class Config{config_base}:
    def __init__(self) -> None:
        self.size = 1024
        self.num_heads = 1
        self.window_tokens = 64
        self.drop_path_rate = 0.1


class ColourHead(nn.Module):
    """A 1x1 deformable convolution; the checkpoint's offsets are zero."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(1, 3, 1, 1))
        self.bias = nn.Parameter(torch.empty(1))
        self.offset = nn.Conv2d(3, 2, 1)
        nn.init.kaiming_uniform_(self.weight)

    def forward(self, x):
        return deform_conv2d(x, self.offset(x), self.weight, self.bias)


class MaskedAttention(nn.Module):
    """Attention whose mask is built in float32, as in the Swin backbone."""

    def __init__(self, config):
        super().__init__()
        dpr = [x.item() for x in torch.linspace(0, config.drop_path_rate, 4)]
        self.drop_rates = dpr
        self.tokens = config.window_tokens
        self.qkv = nn.Linear(3, 9)
        self.proj = nn.Linear(3, 1)

    def forward(self, x):
        side = int(self.tokens ** 0.5)
        t = F.adaptive_avg_pool2d(x, side).flatten(2).transpose(1, 2)
        q, k, v = self.qkv(t).chunk(3, dim=-1)
        attn = q @ k.transpose(-2, -1)
        mask = torch.zeros(self.tokens, self.tokens, device=x.device)
        attn = (attn + mask.unsqueeze(0)).softmax(dim=-1)
        return self.proj(attn @ v).mean(dim=1)


from .BiRefNet_config import BiRefNetConfig


class BiRefNet(
    PreTrainedModel
):
    config_class = BiRefNetConfig
    def __init__(self, bb_pretrained=True, config=BiRefNetConfig()):
        super(BiRefNet, self).__init__(config)
        bb_pretrained = config.bb_pretrained
        self.config = Config()
        self.head = ColourHead()
        self.attn = MaskedAttention(self.config)

    def forward(self, x):
        logits = self.head(x) + self.attn(x)[..., None, None]
        return [F.avg_pool2d(logits, s) for s in (32, 16, 8)] + [logits]
'''


def state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """The fixture's weights: the colour head is ``WEIGHTS``/``BIAS``, the offsets and
    the attention's output projection are zero, the rest is random."""
    g = torch.Generator().manual_seed(seed)
    return {
        "head.weight": torch.tensor(WEIGHTS, dtype=torch.float32).view(1, 3, 1, 1),
        "head.bias": torch.tensor([BIAS], dtype=torch.float32),
        "head.offset.weight": torch.zeros(2, 3, 1, 1),
        "head.offset.bias": torch.zeros(2),
        "attn.qkv.weight": torch.randn(9, 3, generator=g),
        "attn.qkv.bias": torch.randn(9, generator=g),
        "attn.proj.weight": torch.zeros(1, 3),
        "attn.proj.bias": torch.zeros(1),
    }


def config_json() -> dict:
    return {
        "_name_or_path": "ZhengPeng7/BiRefNet",
        "architectures": ["BiRefNet"],
        "auto_map": {
            "AutoConfig": "BiRefNet_config.BiRefNetConfig",
            "AutoModelForImageSegmentation": "birefnet.BiRefNet",
        },
        "custom_pipelines": {
            "image-segmentation": {"pt": ["AutoModelForImageSegmentation"], "tf": [], "type": "image"}
        },
        "bb_pretrained": False,
    }


def write_snapshot_files(directory: Path, variant: str = "plain") -> Path:
    """Write the snapshot's files (config, code, weights) into a plain directory."""
    if variant not in ("plain", "pretrained"):
        raise ValueError(f"unknown variant {variant!r}")
    directory.mkdir(parents=True, exist_ok=True)
    base = "" if variant == "plain" else "(PretrainedConfig)"
    (directory / "config.json").write_text(json.dumps(config_json(), indent=2))
    (directory / "BiRefNet_config.py").write_text(CONFIG_PY)
    (directory / "birefnet.py").write_text(MODEL_PY.format(config_base=base))
    save_file(state_dict(), directory / "model.safetensors")
    return directory


def build_hf_cache(
    hf_home: Path, repo_id: str = "briaai/RMBG-2.0", variant: str = "plain", commit: str = COMMIT
) -> Path:
    """Lay the fixture out as huggingface_hub does: content in ``blobs/``, symlinks in
    ``snapshots/<commit>/``, and ``refs/main`` naming the commit.

    Returns:
        the snapshot directory.
    """
    repo_dir = Path(hf_home) / "hub" / f"models--{repo_id.replace('/', '--')}"
    staging = repo_dir / ".staging"
    write_snapshot_files(staging, variant)
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo_dir / "blobs").mkdir(exist_ok=True)
    for file in sorted(staging.iterdir()):
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        blob = repo_dir / "blobs" / digest
        file.replace(blob)
        link = snapshot / file.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, snapshot))
    staging.rmdir()
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return snapshot


def expected_matte_1024(rgb: np.ndarray) -> np.ndarray:
    """The fixture's matte for an already resized ``(1024, 1024, 3)`` ``uint8`` image,
    computed in float64 with numpy: ``sigmoid(WEIGHTS . normalise(rgb) + BIAS)``."""
    x = (rgb.astype(np.float64) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    logits = x @ np.array(WEIGHTS) + BIAS
    return 1.0 / (1.0 + np.exp(-logits))


def expected_alpha(upright_rgb, own_alpha: np.ndarray | None = None) -> np.ndarray:
    """The alpha the app must return for ``upright_rgb`` (a PIL RGB image, EXIF already
    applied) through the fixture model: model-card preprocessing, the fixture's known
    matte, float bicubic resize back to the original size, times the file's own alpha.

    Returns:
        ``uint8`` ``(H, W)``.
    """
    from PIL import Image

    model_input = upright_rgb
    if own_alpha is not None:
        white = Image.new("RGB", upright_rgb.size, (255, 255, 255))
        model_input = Image.composite(upright_rgb, white, Image.fromarray(own_alpha, "L"))
    resized = np.asarray(model_input.resize((1024, 1024), Image.Resampling.BILINEAR))
    matte = expected_matte_1024(resized).astype(np.float32)
    back = Image.fromarray(matte, "F").resize(upright_rgb.size, Image.Resampling.BICUBIC)
    alpha = np.rint(np.clip(np.asarray(back), 0, 1) * 255)
    if own_alpha is not None:
        alpha = np.floor((alpha * own_alpha + 127) / 255)
    return alpha.astype(np.uint8)
