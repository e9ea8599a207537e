#!/usr/bin/env bash
# Sets up what the tests need on a fresh machine, then runs them (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  # Headless Chromium renders the HTML report in tests/report/test_dashboard.py (Debian's package).
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q -e '.[dev]'
exec .venv/bin/python -m pytest -n 2 "$@"
