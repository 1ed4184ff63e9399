"""Static checks of the Docker files (no Docker engine): hadolint without errors, both
compose files against the compose schema, shellcheck on the scripts. The full build and
run is docker/smoke.sh (needs a Docker engine; see docs/docker.md)."""

from __future__ import annotations

import subprocess

from conftest import ROOT


def test_dockerfiles_and_compose_files_pass_the_static_checks():
    done = subprocess.run(
        ["bash", str(ROOT / "docker" / "check.sh")], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks passed" in done.stdout
