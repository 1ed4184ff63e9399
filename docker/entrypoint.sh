#!/bin/sh
# Container entry point: decide whether the Hugging Face libraries may go online,
# then exec the command so that it runs as PID 1 and receives SIGTERM itself.
#
# An explicit HF_HUB_OFFLINE wins. Otherwise the container is offline unless HF_TOKEN
# is set: with a token the first start may download the gated model; without one
# a missing model fails at once with instructions (on /ready and in the UI) instead
# of waiting on the network, and a cached model never triggers a Hub request.
set -eu

if [ -z "${HF_HUB_OFFLINE:-}" ]; then
    if [ -n "${HF_TOKEN:-}" ]; then
        HF_HUB_OFFLINE=0
    else
        HF_HUB_OFFLINE=1
    fi
    export HF_HUB_OFFLINE
fi

exec "$@"
