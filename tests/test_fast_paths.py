"""The optional torch fast paths (RMBG_CHANNELS_LAST, RMBG_TORCH_COMPILE) change speed, not mattes."""

from __future__ import annotations

import numpy as np
import pytest

from rmbg_app.engine import Engine
from rmbg_app.settings import Settings, SettingsError


def test_fast_path_settings_parse_and_validate():
    settings = Settings.from_env({"RMBG_CHANNELS_LAST": "1", "RMBG_TORCH_COMPILE": "default"})
    assert settings.channels_last and settings.torch_compile == "default"
    defaults = Settings.from_env({})
    assert not defaults.channels_last and defaults.torch_compile == "off"
    with pytest.raises(SettingsError, match="RMBG_TORCH_COMPILE"):
        Settings.from_env({"RMBG_TORCH_COMPILE": "fast"})


def test_channels_last_gives_the_same_matte(settings, torch_engine, photos):
    fast = Engine.load(settings.with_overrides(channels_last=True))
    assert fast.model.runtime.channels_last and fast.model.runtime.backend == "torch"
    expected = torch_engine.process(photos["astronaut.jpg"]).alpha
    np.testing.assert_array_equal(fast.process(photos["astronaut.jpg"]).alpha, expected)


def test_cuda_graphs_need_cuda(settings):
    from rmbg_app.errors import DeviceUnavailable

    with pytest.raises(DeviceUnavailable, match="CUDA"):
        Engine.load(settings.with_overrides(device="cpu", torch_compile="reduce-overhead"))
