"""Finding and loading the model: cache layout, remote code, quirks, helpful errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

import fixture_model
from rmbg_app.errors import DeviceUnavailable, ModelUnavailable, RemoteCodeRefused
from rmbg_app.model.device import select_runtime
from rmbg_app.model.loader import load_model
from rmbg_app.model.snapshot import resolve_snapshot


@pytest.fixture(scope="module")
def cpu():
    return select_runtime("cpu", backend="torch")


def resolve(model, cache, offline=True):
    return resolve_snapshot(model, revision=None, cache_dir=cache, offline=offline)


def test_cached_snapshot_resolves_to_its_commit(fixture_snapshot, settings):
    snapshot = resolve("briaai/RMBG-2.0", settings.hub_cache)
    assert snapshot.revision == fixture_model.COMMIT
    assert snapshot.path == fixture_snapshot
    assert not snapshot.is_local_dir


@pytest.mark.parametrize("variant", ["plain", "pretrained"])
def test_both_config_variants_load_strictly_and_run(tmp_path, cpu, variant):
    snapshot_dir = fixture_model.build_hf_cache(tmp_path / "hf", variant=variant)
    snapshot = resolve("briaai/RMBG-2.0", tmp_path / "hf" / "hub")
    assert snapshot.path == snapshot_dir
    model = load_model(snapshot, cpu, trust_remote_code=False)
    assert not model.module.training
    assert set(model.code_sha256) == {"birefnet.py", "BiRefNet_config.py"}
    expected = fixture_model.state_dict()
    for name, tensor in model.module.state_dict().items():
        torch.testing.assert_close(tensor, expected[name], rtol=0, atol=0)
    outputs = model.module(torch.zeros(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outputs] == [(1, 1, 2, 2), (1, 1, 4, 4), (1, 1, 8, 8), (1, 1, 64, 64)]


def test_fixture_reproduces_the_quirks_of_the_real_code(torch_engine):
    """What breaks on RMBG-2.0 breaks on the fixture too, so the loader is tested
    against the same traps."""
    module_cls = type(torch_engine.model.module)
    config_cls = module_cls.config_class
    assert type(torch_engine.model.module.config).__name__ == "Config"
    with pytest.raises(RuntimeError, match=r"item\(\) cannot be called on meta"), torch.device("meta"):
        module_cls(config=config_cls())
    half = module_cls(config=config_cls()).half()
    with pytest.raises(RuntimeError, match="same dtype"):
        half(torch.zeros(1, 3, 64, 64, dtype=torch.float16))


def test_from_pretrained_fails_on_current_transformers(fixture_snapshot):
    from transformers import AutoModelForImageSegmentation

    with pytest.raises((AttributeError, NotImplementedError, RuntimeError)):
        AutoModelForImageSegmentation.from_pretrained(fixture_snapshot, trust_remote_code=True)


def test_missing_snapshot_offline_says_what_to_do(tmp_path):
    with pytest.raises(ModelUnavailable) as info:
        resolve("briaai/RMBG-2.0", tmp_path)
    message = str(info.value)
    for hint in (
        "not in the cache",
        "HF_HUB_OFFLINE",
        "accept its licence at https://huggingface.co/briaai/RMBG-2.0",
        "HF_TOKEN",
        "python rmbg.py download",
        "RMBG_MODEL=ZhengPeng7/BiRefNet",
    ):
        assert hint in message


def test_not_a_repo_id_nor_a_directory(tmp_path):
    with pytest.raises(ModelUnavailable, match="neither an existing directory nor a Hub repo id"):
        resolve(str(tmp_path / "nope" / "deeper"), tmp_path)


def test_local_directory_needs_trust_and_then_loads(tmp_path, cpu):
    directory = fixture_model.write_snapshot_files(tmp_path / "my-model")
    snapshot = resolve(str(directory), tmp_path)
    assert snapshot.is_local_dir and snapshot.revision == "local"
    with pytest.raises(RemoteCodeRefused, match="RMBG_TRUST_REMOTE_CODE=1"):
        load_model(snapshot, cpu, trust_remote_code=False)
    model = load_model(snapshot, cpu, trust_remote_code=True)
    assert model.snapshot.path == directory.resolve()


def test_unknown_repo_needs_trust(tmp_path, cpu):
    fixture_model.build_hf_cache(tmp_path / "hf", repo_id="someone/other-model")
    snapshot = resolve("someone/other-model", tmp_path / "hf" / "hub")
    with pytest.raises(RemoteCodeRefused, match=r"outside the RMBG-2\.0/BiRefNet family"):
        load_model(snapshot, cpu, trust_remote_code=False)


def test_birefnet_family_is_trusted(tmp_path, cpu):
    fixture_model.build_hf_cache(tmp_path / "hf", repo_id="ZhengPeng7/BiRefNet_lite")
    snapshot = resolve("ZhengPeng7/BiRefNet_lite", tmp_path / "hf" / "hub")
    assert load_model(snapshot, cpu, trust_remote_code=False).module is not None


def test_incomplete_snapshot_is_reported(tmp_path):
    snapshot_dir = fixture_model.build_hf_cache(tmp_path / "hf")
    (snapshot_dir / "model.safetensors").unlink()
    with pytest.raises(ModelUnavailable, match=r"incomplete: model\.safetensors missing"):
        resolve("briaai/RMBG-2.0", tmp_path / "hf" / "hub")


def test_weights_that_do_not_fit_the_code_are_refused(tmp_path, cpu):
    directory = fixture_model.write_snapshot_files(tmp_path / "model")
    state = fixture_model.state_dict()
    del state["attn.proj.bias"]
    state["extra.weight"] = torch.zeros(1)
    save_file(state, directory / "model.safetensors")
    snapshot = resolve(str(directory), tmp_path)
    with pytest.raises(ModelUnavailable, match="do not fit the model code"):
        load_model(snapshot, cpu, trust_remote_code=True)


def test_config_without_auto_map_is_refused(tmp_path, cpu):
    directory = fixture_model.write_snapshot_files(tmp_path / "model")
    config = json.loads((directory / "config.json").read_text())
    del config["auto_map"]
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelUnavailable, match="no auto_map entry"):
        load_model(resolve(str(directory), tmp_path), cpu, trust_remote_code=True)


def test_missing_package_in_remote_code_is_named(tmp_path, cpu):
    directory = fixture_model.write_snapshot_files(tmp_path / "model")
    code = (directory / "birefnet.py").read_text()
    (directory / "birefnet.py").write_text("import package_that_is_not_installed\n" + code)
    with pytest.raises(ModelUnavailable, match="package_that_is_not_installed"):
        load_model(resolve(str(directory), tmp_path), cpu, trust_remote_code=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_cuda_is_an_error():
    with pytest.raises(DeviceUnavailable, match="RMBG_DEVICE=cuda but torch sees no CUDA device"):
        select_runtime("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_runs_under_fp16_autocast(fixture_snapshot, tmp_path):
    runtime = select_runtime("cuda")
    assert runtime.autocast_dtype == torch.float16
    snapshot = resolve("briaai/RMBG-2.0", fixture_snapshot.parents[2])
    model = load_model(snapshot, runtime, trust_remote_code=False)
    from rmbg_app.pipeline.matte import forward

    prediction = forward(model, torch.zeros(1, 3, 1024, 1024))
    assert prediction.dtype == torch.float32 and prediction.shape == (1, 1, 1024, 1024)


def test_copied_snapshot_is_independent_of_the_cache(tmp_path, fixture_snapshot, cpu):
    directory = tmp_path / "copy"
    shutil.copytree(fixture_snapshot, directory)  # follows the blob symlinks
    model = load_model(resolve(str(directory), tmp_path), cpu, trust_remote_code=True)
    assert model.snapshot.is_local_dir
