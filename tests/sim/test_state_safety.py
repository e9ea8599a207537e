"""Nothing the emulator reads from disk can run code (issue 14.6): a planted or foreign snapshot is
set aside unread; state files are private to the user and ignored by git."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

from tests.conftest import aipctl_subprocess_env, run_aipctl


class _Payload:
    """Unpickling this runs a command: what a crafted state file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def _planted(tmp_path: Path, data: bytes) -> Path:
    state = tmp_path / ".aipctl" / "sim"
    state.mkdir(parents=True)
    (state / "state.pkl").write_bytes(data)
    return state


def test_a_planted_pickle_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    state = _planted(tmp_path, pickle.dumps(_Payload(marker)))
    done = run_aipctl("list", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), "the planted snapshot ran code"
    assert "not a signed aipctl snapshot" in done.stderr and list(state.glob("state.*.bak"))


def test_a_snapshot_signed_elsewhere_is_refused(tmp_path: Path) -> None:
    from aipctl_sim.state import MAGIC

    marker = tmp_path / "PWNED"
    body = b'{"format": 2, "moto": "5.2.0"}\n' + pickle.dumps(_Payload(marker))
    _planted(tmp_path, MAGIC + b"\0" * 32 + body)
    done = run_aipctl("list", "--json", cwd=tmp_path)
    assert done.returncode == 0 and not marker.exists()
    assert "not written by this user on this machine" in done.stderr


def test_state_is_private_and_survives_with_the_same_key_only(tmp_path: Path) -> None:
    assert run_aipctl("init", cwd=tmp_path).returncode == 0
    applied = run_aipctl("apply", "--yes", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    state = tmp_path / ".aipctl" / "sim"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("state.pkl", "journal.jsonl", "telemetry.sqlite", "lock"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    assert (state / ".gitignore").read_text().splitlines()[-1] == "*"
    assert "No changes" in run_aipctl("plan", cwd=tmp_path).stdout, "the same user and key load it"
    other = aipctl_subprocess_env(AIPCTL_SIM_STATE_KEY=str(tmp_path / "other.key"))
    foreign = run_aipctl("plan", cwd=tmp_path, env=other)
    assert "not written by this user on this machine" in foreign.stderr
    assert "to create" in foreign.stdout, "a foreign snapshot is not loaded: the account starts empty"
