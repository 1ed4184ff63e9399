"""Security: optional login, which files the server hands out or reads, result URLs,
and which models' code runs."""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from pathlib import Path

import httpx
import pytest
import skimage
from gradio_client import Client, handle_file
from gradio_client.exceptions import AuthenticationError

from conftest import HF_HOME, ROOT, start_private_server
from rmbg_app.errors import RemoteCodeRefused
from rmbg_app.model.loader import check_remote_code_allowed
from rmbg_app.model.snapshot import Snapshot
from rmbg_app.settings import Settings, SettingsError

# --- login ---------------------------------------------------------------------------


def test_credentials_from_the_environment_and_a_file(tmp_path):
    users = tmp_path / "users"
    users.write_text("# the team\ncarol:pa ss:with#chars\n\n  # more later\n", encoding="utf-8")
    settings = Settings.from_env({"RMBG_AUTH": "alice:s3cret:x, bob:pw2", "RMBG_AUTH_FILE": str(users)})
    assert settings.auth == (("alice", "s3cret:x"), ("bob", "pw2"), ("carol", "pa ss:with#chars"))
    assert "s3cret" not in repr(settings)
    assert Settings.from_env({}).auth == ()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RMBG_AUTH": "alice"}, "RMBG_AUTH: entry 1 is not 'user:password'."),
        ({"RMBG_AUTH": "alice:pw-one-7,:pw-two-9"}, "RMBG_AUTH: entry 2 is not 'user:password'."),
        ({"RMBG_AUTH": "alice:"}, "RMBG_AUTH: entry 1 is not 'user:password'."),
        ({"RMBG_AUTH": "alice:pw-one-7,alice:pw-two-9"}, "RMBG_AUTH: user 'alice' appears twice."),
        ({"RMBG_AUTH_FILE": "/nonexistent/users"}, "RMBG_AUTH_FILE='/nonexistent/users' cannot be read"),
        (
            {"RMBG_AUTH": "alice:pw-one-7", "RMBG_AUTH_FILE": "USERS"},
            "RMBG_AUTH_FILE: user 'alice' appears twice.",
        ),
        ({"RMBG_AUTH_FILE": "USERS", "line": "# comment\n\nbob pw-two-9"}, "RMBG_AUTH_FILE: entry 3 is not"),
    ],
)
def test_bad_credentials_are_refused_without_echoing_secrets(tmp_path, env, message):
    """``USERS`` stands for a file holding ``line`` (by default another alice)."""
    users = tmp_path / "users"
    users.write_text(env.get("line", "alice:pw-two-9\n"), encoding="utf-8")
    env = {name: str(users) if value == "USERS" else value for name, value in env.items() if name != "line"}
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert str(info.value).startswith(message)
    assert "pw-" not in str(info.value)


@pytest.fixture(scope="module")
def guarded(fixture_snapshot, tmp_path_factory):
    folder = tmp_path_factory.mktemp("auth")
    (folder / "users").write_text("carol:pa ss:with#chars\n", encoding="utf-8")
    server = start_private_server(folder, RMBG_AUTH="alice:s3cret:x", RMBG_AUTH_FILE=str(folder / "users"))
    try:
        yield server
    finally:
        server.running.stop()


def test_login_guards_the_page_and_the_api_but_not_health(guarded, photos):
    url = guarded.url
    for path in ("/health", "/ready"):
        assert httpx.get(url + path).status_code == 200, path
    for path in ("/config", "/gradio_api/info", f"/gradio_api/file={guarded.cache}/x.png"):
        assert httpx.get(url + path).status_code == 401, path
    assert httpx.post(url + "/gradio_api/upload", files={"files": ("a.png", b"x")}).status_code == 401
    call = httpx.post(url + "/gradio_api/call/v2/remove_background", json={"image": None})
    assert call.status_code == 401 and call.json()["detail"]["error"] == "Not authenticated"
    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        Client(url, verbose=False)
    with pytest.raises(ValueError, match="Could not login"):
        Client(url, verbose=False, auth=("alice", "s3cret"))
    assert "Login required (2 users); /health and /ready stay open" in guarded.running.log()
    assert "s3cret" not in guarded.running.log()


def test_login_with_credentials_from_env_and_file(guarded, photos):
    for user, password in (("alice", "s3cret:x"), ("carol", "pa ss:with#chars")):
        result = guarded.client(auth=(user, password)).predict(
            handle_file(str(photos["chelsea.png"])), api_name="/remove_background"
        )
        assert Path(result).name == "chelsea-nobg.png"


def test_files_need_the_login_too(guarded, photos):
    login = httpx.post(guarded.url + "/login", data={"username": "alice", "password": "s3cret:x"})
    assert login.status_code == 200
    upload = httpx.post(
        guarded.url + "/gradio_api/upload",
        files={"files": ("c.png", photos["chelsea.png"].read_bytes())},
        cookies=login.cookies,
    )
    file_url = f"{guarded.url}/gradio_api/file={upload.json()[0]}"
    assert httpx.get(file_url).status_code == 401
    assert httpx.get(file_url, cookies=login.cookies).status_code == 200


# --- files the server hands out ------------------------------------------------------


def crafted_paths(server_cache: Path, port: int) -> list[str]:
    """``/file=`` paths that try to reach the checkout, the model cache, the system and
    the network, plainly, by traversal out of the cache and URL-encoded."""
    snapshot = next((HF_HOME / "hub").glob("models--*/snapshots/*"))
    secrets = [
        "/etc/passwd",
        "/proc/self/environ",
        str(ROOT / "README.md"),
        str(ROOT / "rmbg_app" / "settings.py"),
        "README.md",
        "rmbg.py",
        str(snapshot / "config.json"),
        str(snapshot / "birefnet.py"),
        str(snapshot / "model.safetensors"),
        str(HF_HOME / "modules"),
    ]
    up = "../" * len(server_cache.parts)
    paths = [*secrets]
    paths += [f"{server_cache}/{up}{s.lstrip('/')}" for s in secrets if s.startswith("/")]
    paths += [
        f"{server_cache}/../{Path(s).relative_to(HF_HOME.parent)}"
        for s in secrets
        if s.startswith(str(HF_HOME))
    ]
    paths += [urllib.parse.quote(p, safe="") for p in paths[:6]]
    paths += [urllib.parse.quote(urllib.parse.quote(p, safe=""), safe="") for p in paths[:3]]
    paths += [
        f"http://127.0.0.1:{port}/ready",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        str(server_cache),
        f"{server_cache}/",
    ]
    return paths


def test_only_gradios_own_files_are_served(server):
    """(That results are served is in test_result_urls_are_unguessable_and_not_listable.)"""
    cache = Path(os.environ["GRADIO_TEMP_DIR"])
    for path in crafted_paths(cache, server.port):
        for prefix in ("/gradio_api/file=", "/file="):
            response = httpx.get(server.url + prefix + path)
            assert response.status_code in (403, 404), (prefix + path, response.status_code)
            # Gradio's refusal, nothing of the file: "File not allowed: <path>." or "Not Found".
            detail = response.json()["detail"]
            assert detail == "Not Found" or detail.startswith("File not allowed: "), (prefix + path, detail)


def test_api_reads_only_uploaded_files(server):
    """An API request names its input by server path: only uploads may be named."""
    sample = Path(skimage.__file__).parent / "data" / "astronaut.png"  # a photo on the server
    snapshot = next((HF_HOME / "hub").glob("models--*/snapshots/*"))
    cache = Path(os.environ["GRADIO_TEMP_DIR"])
    for path in (str(sample), "/etc/passwd", str(snapshot / "config.json"), f"{cache}/../{sample.name}"):
        event = httpx.post(
            server.url + "/gradio_api/call/v2/remove_background",
            json={"image": {"path": path, "meta": {"_type": "gradio.FileData"}}},
        ).json()["event_id"]
        stream = httpx.get(f"{server.url}/gradio_api/call/remove_background/{event}", timeout=60).text
        assert stream.startswith("event: error"), (path, stream)
        assert "was not uploaded by a user" in stream, stream


# --- results are private by obscurity: long random URLs, no listing ------------------


def result_url(server, photo: Path) -> str:
    upload = httpx.post(server.url + "/gradio_api/upload", files={"files": (photo.name, photo.read_bytes())})
    event = httpx.post(
        server.url + "/gradio_api/call/v2/remove_background",
        json={"image": {"path": upload.json()[0], "meta": {"_type": "gradio.FileData"}}},
    ).json()["event_id"]
    stream = httpx.get(f"{server.url}/gradio_api/call/remove_background/{event}", timeout=60).text
    return re.search(r'"url": "([^"]+)"', stream).group(1)


def test_result_urls_are_unguessable_and_not_listable(server, photos):
    first, second = (result_url(server, photos["chelsea.png"]) for _ in range(2))
    pattern = re.compile(r"/gradio_api/file=(?P<cache>.+)/rmbg-(?P<secret>[0-9a-f]{32})/chelsea-nobg\.png$")
    one, two = pattern.search(first), pattern.search(second)
    assert one and two, (first, second)
    assert one["secret"] != two["secret"]  # 128 random bits per result, not per upload
    assert httpx.get(first).status_code == 200
    folder = first.rsplit("/", 1)[0]
    for listing in (folder, folder + "/", f"{server.url}/gradio_api/file={one['cache']}/"):
        assert httpx.get(listing).status_code in (403, 404), listing
    # Another session of the API sees no list of results: there is no route for one.
    info = httpx.get(server.url + "/gradio_api/info").json()
    assert set(info["named_endpoints"]) == {"/remove_background", "/matte", "/remove_background_batch"}


# --- remote code ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "allowed"),
    [
        ("briaai/RMBG-2.0", True),
        ("ZhengPeng7/BiRefNet", True),
        ("ZhengPeng7/BiRefNet_lite", True),
        ("ZhengPeng7/BiRefNet-portrait", True),
        ("briaai/RMBG-2.0-evil", False),
        ("evil/RMBG-2.0", False),
        ("ZhengPeng7x/BiRefNet", False),
        ("someone/BiRefNet", False),
        ("briaai/RMBG-1.4", False),
    ],
)
def test_remote_code_runs_only_for_known_repos(tmp_path, model_id, allowed):
    snapshot = Snapshot(model_id, tmp_path, "0" * 40)
    if allowed:
        check_remote_code_allowed(snapshot, trust_remote_code=False)
    else:
        with pytest.raises(RemoteCodeRefused, match="RMBG_TRUST_REMOTE_CODE=1"):
            check_remote_code_allowed(snapshot, trust_remote_code=False)
    check_remote_code_allowed(snapshot, trust_remote_code=True)


def test_the_log_names_the_sha256_of_the_code_that_ran(server, fixture_snapshot):
    log = server.log()
    for code in sorted(fixture_snapshot.glob("*.py")):
        digest = hashlib.sha256(code.read_bytes()).hexdigest()
        assert f"Remote code {code.name} sha256={digest}" in log
