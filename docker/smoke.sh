#!/usr/bin/env bash
# End-to-end test of the Docker setup; the app is published on 127.0.0.1 only:
#   1. build the GPU image (no GPU needed) and the CPU image;
#   2. check the images: non-root, torch build, no HF_TOKEN, no compilers, no pip cache;
#   3. CPU stack with an empty model cache: serves /health, /ready says why (no restarts);
#   4. CPU stack with the tiny fixture model: /ready, "healthy", one background removed
#      through gradio_client on the published port, PNG checked;
#   5. stop (SIGTERM must end the app cleanly) and tear everything down.
#
# Environment (all optional):
#   PYTHON                  Python with the dev requirements (torch, gradio_client):
#                           default .venv/bin/python, else python3
#   DOCKER                  docker CLI with BuildKit (default: docker)
#   COMPOSE                 compose command; default "docker compose", else
#                           docker-compose, else compose v1 installed into /tmp
#   RMBG_BASE_IMAGE         base image for both builds (default python:3.11-slim-bookworm);
#                           "local" builds one from Debian packages (docker/local-base.sh)
#   SMOKE_CPU_TORCH_INDEX   torch index for the CPU image (default: the Dockerfile's,
#                           the PyTorch CPU index); https://pypi.org/simple where that
#                           index is unreachable (then the CPU image carries CUDA torch)
#   SMOKE_CA                CA bundle for pip in the builds (behind a TLS-inspecting
#                           proxy), handed over as a BuildKit secret
#   SMOKE_PIP_CONF          pip.conf for the builds (default with SMOKE_CA: one that
#                           points pip at it)
#   SMOKE_SKIP_GPU=1        do not build the GPU image
#   SMOKE_PORT              loopback port for the app (default 17860)
# Settings from the caller's environment or a .env file (HF_TOKEN, RMBG_*) are not
# passed on: the test always runs offline with the stack's defaults.
set -euo pipefail

cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-docker}
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
base=${RMBG_BASE_IMAGE:-python:3.11-slim-bookworm}
port=${SMOKE_PORT:-17860}
url=http://127.0.0.1:$port
cpu_image=rmbg-smoke:cpu
gpu_image=rmbg-smoke:gpu
project=rmbg-smoke
export DOCKER_BUILDKIT=1

log() { printf '\n== %s\n' "$*"; }
fail() { printf 'smoke: FAILED: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------
# Compose v1 from PyPI needs old pins to run on Python 3.11 (PyYAML 5 builds only
# with Cython < 3; docker-py 6+, requests 2.32+ and urllib3 2 broke it).
if [[ -z "${COMPOSE:-}" ]]; then
    if "$DOCKER" compose version >/dev/null 2>&1; then
        COMPOSE="$DOCKER compose"
    elif command -v docker-compose >/dev/null; then
        COMPOSE=docker-compose
    else
        venv=/tmp/rmbg-compose-v1
        if [[ ! -x $venv/bin/docker-compose ]]; then
            log "installing compose v1 into $venv"
            python3 -m venv "$venv"
            printf 'cython<3\ndocker<6\nrequests<2.32\nurllib3<2\n' >"$venv/constraints.txt"
            PIP_CONSTRAINT=$venv/constraints.txt "$venv/bin/pip" install --quiet docker-compose==1.29.2
        fi
        COMPOSE=$venv/bin/docker-compose
    fi
fi

"$DOCKER" info >/dev/null 2>&1 || fail "no Docker engine answers to '$DOCKER info'"
"$PYTHON" -c 'import gradio_client, safetensors, torch' || fail "$PYTHON lacks the dev requirements"
if "$PYTHON" -c "import socket, sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $port)) != 0)"; then
    fail "port $port is taken; set SMOKE_PORT"
fi

work=$(mktemp -d /tmp/rmbg-smoke.XXXXXX)
touch "$work/empty.env"
unset HF_TOKEN HF_HUB_OFFLINE "${!RMBG_@}"
export RMBG_BIND=127.0.0.1 RMBG_PORT=$port
read -r -a compose <<<"$COMPOSE"
compose+=(-p "$project" --env-file "$work/empty.env" -f docker-compose.cpu.yml -f docker/compose.smoke.yml)

cleanup() {
    local rc=$?
    if [[ $rc -ne 0 ]] && [[ -n "${SMOKE_MODELS:-}" ]]; then
        "${compose[@]}" logs --no-color --tail=80 rmbg 2>/dev/null || true
    fi
    "${compose[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

# --- build -------------------------------------------------------------------
if [[ $base == local ]]; then
    base=rmbg-local/python:3.11-slim
    docker/local-base.sh "$base"
fi
build_args=(--network host --build-arg "BASE=$base")
if [[ -n "${SMOKE_CA:-}" ]]; then
    build_args+=(--secret "id=ca,src=$SMOKE_CA")
    if [[ -z "${SMOKE_PIP_CONF:-}" ]]; then
        SMOKE_PIP_CONF=$work/pip.conf
        printf '[global]\ncert = /run/secrets/ca\n' >"$SMOKE_PIP_CONF"
    fi
fi
[[ -n "${SMOKE_PIP_CONF:-}" ]] && build_args+=(--secret "id=pip.conf,src=$SMOKE_PIP_CONF")

build() {  # build DOCKERFILE TAG [extra args]
    local dockerfile=$1 tag=$2 started=$SECONDS
    shift 2
    log "building $tag from $dockerfile (base $base)"
    "$DOCKER" build --progress=plain "${build_args[@]}" "$@" -f "$dockerfile" -t "$tag" . >"$work/build-${tag##*:}.log" 2>&1 \
        || { tail -40 "$work/build-${tag##*:}.log"; fail "building $tag"; }
    printf '%s built in %d s, %s\n' "$tag" $((SECONDS - started)) \
        "$("$DOCKER" image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.2f GB", $1 / 1e9}')"
}

if [[ "${SMOKE_SKIP_GPU:-}" != 1 ]]; then
    build Dockerfile.gpu "$gpu_image"
    "$DOCKER" run --rm "$gpu_image" python -c \
        'import torch; assert torch.version.cuda, "no CUDA build"; print("gpu image: torch", torch.__version__, "CUDA", torch.version.cuda)'
fi
cpu_args=()
[[ -n "${SMOKE_CPU_TORCH_INDEX:-}" ]] && cpu_args=(--build-arg "TORCH_INDEX_URL=$SMOKE_CPU_TORCH_INDEX")
build Dockerfile.cpu "$cpu_image" "${cpu_args[@]}"

log "image checks ($cpu_image)"
[[ $("$DOCKER" run --rm "$cpu_image" id -u) == 10001 ]] || fail "the image does not run as uid 10001"
if "$DOCKER" image inspect --format '{{json .Config.Env}}' "$cpu_image" | grep -q HF_TOKEN; then
    fail "HF_TOKEN is set in the image"
fi
# shellcheck disable=SC2016  # $tool is the container shell's variable
"$DOCKER" run --rm --user 0 --entrypoint sh "$cpu_image" -c \
    'for tool in gcc cc make; do if command -v "$tool"; then exit 1; fi; done; test ! -e /root/.cache/pip' \
    || fail "compilers or a pip cache in the image"
"$DOCKER" run --rm "$cpu_image" python -c \
    'import torch, torchvision; print("cpu image: torch", torch.__version__, "torchvision", torchvision.__version__, "uid 10001, no HF_TOKEN, no compilers, no pip cache")'

# --- stack without a model ---------------------------------------------------
export SMOKE_IMAGE=$cpu_image SMOKE_PORT=$port SMOKE_MODELS=$work/models-empty
mkdir -p "$SMOKE_MODELS"
log "CPU stack, empty model cache (offline): must keep serving and explain"
"${compose[@]}" up -d rmbg
"$PYTHON" docker/smoke_client.py wait "$url" --expect failed --timeout 180
container=$("${compose[@]}" ps -q rmbg)
[[ $("$DOCKER" inspect --format '{{.State.Running}} {{.RestartCount}}' "$container") == "true 0" ]] \
    || fail "the container did not keep running"
"${compose[@]}" down --remove-orphans >/dev/null 2>&1

# --- stack with the fixture model --------------------------------------------
export SMOKE_MODELS=$work/models
log "CPU stack with the fixture model"
"$PYTHON" docker/smoke_client.py fixture "$SMOKE_MODELS"
# safetensors writes the fixture's weights 0600; the app runs as uid 10001.
chmod -R a+rX "$SMOKE_MODELS"
"${compose[@]}" up -d rmbg
"$PYTHON" docker/smoke_client.py wait "$url" --expect ready --timeout 300
container=$("${compose[@]}" ps -q rmbg)
for _ in $(seq 60); do
    health=$("$DOCKER" inspect --format '{{.State.Health.Status}}' "$container")
    [[ $health == healthy ]] && break
    sleep 2
done
[[ $health == healthy ]] || fail "compose health check says $health"
echo "compose health check: $health"
"$PYTHON" docker/smoke_client.py remove "$url" "$work"

log "stopping (SIGTERM)"
started=$SECONDS
"${compose[@]}" stop -t 30 rmbg >/dev/null 2>&1
exit_code=$("$DOCKER" inspect --format '{{.State.ExitCode}}' "$container")
printf 'stopped in %d s with exit code %s\n' $((SECONDS - started)) "$exit_code"
[[ $exit_code == 0 ]] || fail "the app did not exit cleanly on SIGTERM"

log "smoke test passed"
