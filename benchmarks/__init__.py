"""aipctl's benchmarks: figures against baselines measured in the same run (``aipctl bench …``).

They live beside the product, not in it: they start the emulator, generate data and drive aipctl
through its facade (:class:`aipctl.Project`) or its command line in a process of its own. ``aipctl
bench`` finds them in an aipctl checkout (``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The folder that holds this package, so a child process can import it too.
ROOT = Path(__file__).resolve().parents[1]


def child(module: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """argv and environment to run ``python -m benchmarks.<module> ARGS`` in a process of its own."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return [sys.executable, "-m", f"benchmarks.{module}", *args], env
