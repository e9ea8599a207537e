#!/usr/bin/env bash
# Sets up what the tests need on a fresh machine, then runs them (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests run for real: headless Chromium renders the HTML report
# (tests/report/test_dashboard.py); redis-server backs the shared limit store (tests/guard).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing with apt-get: ${missing[*]} (headless Chromium checks the dashboard, redis-server backs the shared limits)" >&2
  $SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Python packages: the pinned set in requirements/dev.lock, installed by uv (no resolving: seconds, not minutes).
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check uv
.venv/bin/uv pip install -q --python .venv/bin/python -r requirements/dev.lock
.venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .
# uv installs without bytecode; with PYTHONDONTWRITEBYTECODE set (some CI images set it) every aipctl process
# the tests start would compile its ~900 modules again (~2.7 s each). Written once, on first import.
unset PYTHONDONTWRITEBYTECODE
exec .venv/bin/python -m pytest -n 2 "$@"
