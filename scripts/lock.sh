#!/usr/bin/env bash
# Re-pin requirements/dev.lock: resolve the dev extra afresh with pip, then freeze what it chose.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q -e '.[dev]'
{
  echo "# The versions the tests run with: \`pip freeze\` of an environment made by \`pip install -e '.[dev]'\`"
  echo "# (Python 3.11, Linux x86_64), pinned so that a fresh install is fast (uv, no resolving) and the"
  echo "# same as the one tested. Regenerate: scripts/lock.sh"
  "$work/venv/bin/pip" freeze --exclude-editable | grep -v '^-e '
} > requirements/dev.lock
echo "wrote requirements/dev.lock ($(grep -vc '^#' requirements/dev.lock) packages)"
