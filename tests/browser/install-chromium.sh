#!/usr/bin/env bash
# Installs Debian's chromium for tests/test_browser.py, which drives it with Playwright
# (pip's playwright package; `playwright install` and its bundled browsers are not used).
# Idempotent: does nothing when chromium is already there. Needs root and apt-get.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core
