"""How an aipctl process ends: with its command's status and all of its output, without Python's heap teardown
(aipctl.cli.main._skip_teardown_at_exit), and through the normal shutdown when another exit handler is there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import MINIMAL_INVENTORY, aipctl_subprocess_env, run_aipctl


def test_a_command_ends_with_its_status_and_all_of_its_output(workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    pending = run_aipctl("plan", "--detailed-exitcode", cwd=workdir)
    assert pending.returncode == 2, pending.stderr  # changes pending
    assert run_aipctl("apply", "--yes", cwd=workdir).returncode == 0
    listed = run_aipctl("list", "--json", cwd=workdir)
    assert listed.returncode == 0 and json.loads(listed.stdout), listed.stderr  # the whole document, flushed
    clean = run_aipctl("plan", "--detailed-exitcode", cwd=workdir)
    assert clean.returncode == 0, clean.stdout + clean.stderr  # the emulator's state was saved before the end
    assert run_aipctl("no-such-command", cwd=workdir).returncode == 2


def test_an_exit_handler_registered_before_aipctl_still_runs(workdir: Path) -> None:
    """Coverage and the like register exit handlers before aipctl starts: then Python's own shutdown ends it."""
    mark = workdir / "handler-ran"
    script = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(mark)!r}, 'w').write('ran'))\n"
        "sys.argv = ['aipctl', 'no-such-command']\n"
        "from aipctl.cli.main import run\n"
        "run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=workdir, env=aipctl_subprocess_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert mark.read_text() == "ran"
