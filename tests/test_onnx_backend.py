"""The CPU default backend: ONNX Runtime on a graph prepared once per snapshot."""

from __future__ import annotations

import json
import logging
import shutil
import sys

import numpy as np
import pytest

from rmbg_app.engine import Engine
from rmbg_app.errors import DeviceUnavailable, ModelUnavailable
from rmbg_app.model.device import select_runtime
from rmbg_app.settings import Settings, SettingsError

pytest.importorskip("onnxruntime", minversion="1.31")


@pytest.fixture
def own_cache(settings, tmp_path):
    """Settings whose prepared graphs go to an empty folder of this test."""
    return settings.with_overrides(onnx_cache=tmp_path / "graphs")


def test_cpu_default_is_onnxruntime_and_torch_options_select_torch():
    assert Settings.from_env({}).backend == "auto"
    assert select_runtime("cpu").backend == "onnxruntime"
    assert not select_runtime("cpu").backend_required
    assert select_runtime("cpu", channels_last=True).backend == "torch"
    assert select_runtime("cpu", compile_mode="default").backend == "torch"
    assert select_runtime("cpu", backend="torch").backend == "torch"
    assert select_runtime("cpu", backend="onnxruntime").backend_required


def test_onnxruntime_refuses_torch_options_and_cuda():
    with pytest.raises(SettingsError, match="RMBG_CHANNELS_LAST and RMBG_TORCH_COMPILE are torch options"):
        Settings.from_env({"RMBG_BACKEND": "onnxruntime", "RMBG_CHANNELS_LAST": "1"})
    with pytest.raises(SettingsError, match="RMBG_BACKEND='tensorrt': use one of auto, torch, onnxruntime"):
        Settings.from_env({"RMBG_BACKEND": "tensorrt"})
    with pytest.raises(DeviceUnavailable):
        select_runtime("cuda", backend="onnxruntime")


def test_without_onnxruntime_auto_uses_torch_and_onnxruntime_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    assert select_runtime("cpu").backend == "torch"
    with pytest.raises(ModelUnavailable, match=r"pip install 'onnxruntime>=1\.31' onnx"):
        select_runtime("cpu", backend="onnxruntime")


def test_default_engine_runs_onnxruntime_with_the_torch_matte(engine, torch_engine, photos):
    assert engine.model.runtime.backend == "onnxruntime"
    assert "ONNX Runtime" in engine.describe()
    assert engine.model.parameters_millions == pytest.approx(torch_engine.model.parameters_millions)
    for name in ("astronaut.jpg", "chelsea.png", "logo.png"):
        onnx = engine.process(photos[name]).alpha.astype(int)
        torch = torch_engine.process(photos[name]).alpha.astype(int)
        assert np.abs(onnx - torch).max() <= 1, name


def test_first_load_prepares_the_graph_and_later_loads_skip_the_model_code(own_cache, monkeypatch):
    first = Engine.load(own_cache)
    (graph,) = own_cache.onnx_cache.iterdir()
    assert sorted(p.name for p in graph.iterdir()) == ["meta.json", "model.onnx", "model.onnx.data"]
    meta = json.loads((graph / "meta.json").read_text())
    assert meta["model"] == "briaai/RMBG-2.0"
    assert meta["parameters_millions"] == first.model.parameters_millions

    def no_remote_code(*args, **kwargs):
        raise AssertionError("the model's Python code was imported")

    monkeypatch.setattr("transformers.dynamic_module_utils.get_class_from_dynamic_module", no_remote_code)
    second = Engine.load(own_cache)
    assert second.model.runtime.backend == "onnxruntime"
    assert second.model.parameters_millions == first.model.parameters_millions
    x = np.random.default_rng(0).standard_normal((1, 3, 1024, 1024), dtype=np.float32)
    import torch

    (again,), (before,) = second.model.module(torch.from_numpy(x)), first.model.module(torch.from_numpy(x))
    np.testing.assert_array_equal(again.numpy(), before.numpy())


def test_unwritable_graph_cache_falls_back_to_torch_or_fails_when_named(settings, photos, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    unwritable = settings.with_overrides(onnx_cache=blocker / "graphs")
    with caplog.at_level(logging.WARNING, logger="rmbg_app.model.loader"):
        engine = Engine.load(unwritable)
    assert engine.model.runtime.backend == "torch"
    assert "Cannot write the ONNX graph" in caplog.text and "RMBG_ONNX_CACHE" in caplog.text
    assert engine.process(photos["astronaut.jpg"]).alpha.max() > 128
    with pytest.raises(ModelUnavailable, match=r"Cannot write the ONNX graph .* RMBG_ONNX_CACHE"):
        Engine.load(unwritable.with_overrides(backend="onnxruntime"))
    assert blocker.read_text() == "not a folder"


def test_damaged_graph_falls_back_to_torch_or_fails_when_named(own_cache, caplog):
    Engine.load(own_cache)
    (graph,) = own_cache.onnx_cache.iterdir()
    weights = graph / "model.onnx.data"
    weights.write_bytes(weights.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="rmbg_app.model.loader"):
        engine = Engine.load(own_cache)
    assert engine.model.runtime.backend == "torch"
    assert f"The prepared ONNX graph in {graph} cannot be opened" in caplog.text
    assert "Delete that folder" in caplog.text
    with pytest.raises(ModelUnavailable, match="cannot be opened"):
        Engine.load(own_cache.with_overrides(backend="onnxruntime"))
    shutil.rmtree(graph)
    assert Engine.load(own_cache).model.runtime.backend == "onnxruntime"


def test_interrupted_prepare_leaves_no_graph_that_later_starts_trust(own_cache, monkeypatch):
    from rmbg_app.model import onnx_backend

    def killed(module, path):
        path.write_bytes(b"half an export")
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_backend, "export", killed)
    with pytest.raises(KeyboardInterrupt):
        Engine.load(own_cache)
    assert list(own_cache.onnx_cache.iterdir()) == []
