"""Settings from the environment and the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_rmbg
from rmbg_app.settings import CHECKOUT_DIR, Settings, SettingsError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.model == "briaai/RMBG-2.0"
    assert settings.device == "auto"
    assert settings.hf_home == CHECKOUT_DIR / "models"
    assert settings.hub_cache == CHECKOUT_DIR / "models" / "hub"
    assert (settings.server_name, settings.server_port) == ("127.0.0.1", 7860)
    assert not settings.offline


def test_environment_uses_the_ecosystems_names_and_our_prefix():
    settings = Settings.from_env(
        {
            "HF_HOME": "/data/hf",
            "HF_HUB_OFFLINE": "1",
            "GRADIO_SERVER_NAME": "0.0.0.0",
            "GRADIO_SERVER_PORT": "8080",
            "RMBG_MODEL": "ZhengPeng7/BiRefNet",
            "RMBG_REVISION": "",
            "RMBG_DEVICE": "cpu",
            "RMBG_MAX_FILE_SIZE_MB": "12.5",
            "RMBG_QUEUE_SIZE": "3",
            "RMBG_WARMUP": "no",
        }
    )
    assert settings.hf_home == Path("/data/hf") and settings.offline
    assert (settings.server_name, settings.server_port) == ("0.0.0.0", 8080)
    assert (settings.model, settings.revision, settings.device) == ("ZhengPeng7/BiRefNet", None, "cpu")
    assert (settings.max_file_size_mb, settings.queue_size, settings.warmup) == (12.5, 3, False)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RMBG_DEVICE": "tpu"}, "RMBG_DEVICE='tpu': use one of auto, cuda, cpu"),
        ({"RMBG_QUEUE_SIZE": "0"}, "RMBG_QUEUE_SIZE='0' must be at least 1"),
        ({"GRADIO_SERVER_PORT": "http"}, "GRADIO_SERVER_PORT='http' is not a int"),
        ({"HF_HUB_OFFLINE": "maybe"}, "HF_HUB_OFFLINE='maybe' is not a boolean"),
        ({"RMBG_MODEL": ""}, "RMBG_MODEL is empty"),
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_env(env)


def test_cli_flags_override_the_environment():
    settings = Settings.from_env({"RMBG_DEVICE": "cuda"}).with_overrides(device="cpu", model=None)
    assert settings.device == "cpu" and settings.model == "briaai/RMBG-2.0"


def test_help_lists_the_verbs():
    done = run_rmbg("--help")
    assert done.returncode == 0
    assert "serve" in done.stdout and "remove" in done.stdout and "download" in done.stdout


@pytest.mark.parametrize("verb", ["serve", "remove", "download"])
def test_every_verb_has_help(verb):
    done = run_rmbg(verb, "--help")
    assert done.returncode == 0, done.stderr
    assert "--model" in done.stdout


def test_download_offline_explains(tmp_path):
    done = run_rmbg("download", "ZhengPeng7/BiRefNet", HF_HOME=str(tmp_path), HF_HUB_OFFLINE="1")
    assert done.returncode == 1
    assert "ZhengPeng7/BiRefNet" in done.stderr and "could not be downloaded" in done.stderr
    assert "Traceback" not in done.stderr
