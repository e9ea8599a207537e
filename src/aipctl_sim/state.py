"""Persistence of the emulator's state in a directory, so separate processes see one account.

The state is every in-use moto ``BackendDict`` (moto's own services and ours alike) plus the
emulator settings, pickled with cloudpickle (moto keeps a few lambdas in its backends) and written
atomically (temp file + rename), so a SIGKILL during a save leaves the previous snapshot intact.
A snapshot records the moto and format versions; one from another version is moved aside with a
warning rather than loaded into objects it no longer fits.

Between snapshots every write is journaled (``journal.py``); a snapshot records the last journal
entry it contains, and loading replays the entries after it.

A directory is used by one process at a time: :class:`StateDir` holds an exclusive ``flock`` on
``lock`` for as long as an emulator runs on it.
"""

from __future__ import annotations

import contextlib
import copyreg
import fcntl
import importlib
import io
import os
import pickle
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cloudpickle
from moto.core.base_backend import BackendDict

from aipctl_sim import settings

FORMAT = 1
SNAPSHOT = "state.pkl"


class StateLocked(RuntimeError):
    """Another process is running an emulator on this state directory."""


def _install_reducers() -> None:
    """Teach pickle the few moto types that cannot be reconstructed by default.

    Only for modules already loaded: importing moto.ssm pulls in moto.ec2 (~0.9 s), and a state
    without SSM objects never needs it.
    """
    ssm_models = sys.modules.get("moto.ssm.models")
    if ssm_models is None:
        return
    parameter_dict: Any = ssm_models.ParameterDict

    def rebuild_parameter_dict(account_id: str, region_name: str, items: dict[str, Any], attrs: dict[str, Any]) -> Any:
        obj = parameter_dict(account_id, region_name)
        obj.update(items)
        obj.__dict__.update(attrs)
        return obj

    def reduce_parameter_dict(obj: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return rebuild_parameter_dict, (obj.account_id, obj.region_name, dict(obj), dict(obj.__dict__))

    copyreg.pickle(parameter_dict, reduce_parameter_dict)


def _key(backend_dict: BackendDict[Any]) -> str:
    cls = backend_dict.backend
    return f"{cls.__module__}:{cls.__qualname__}"


def _find_backend_dict(key: str) -> BackendDict[Any] | None:
    module_name, _, qualname = key.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    for value in vars(module).values():
        if isinstance(value, BackendDict) and value.backend.__qualname__ == qualname:
            return value
    return None


class StateDir:
    """An emulator state directory: exclusive lock, load at start, save on demand."""

    def __init__(self, path: str | os.PathLike[str], *, wait_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.path / "lock", "a+")  # noqa: SIM115 - held for the object's lifetime
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._lock_file.close()
                    raise StateLocked(f"emulator state {self.path} is in use by another aipctl process") from None
                time.sleep(0.05)
        self.warnings: list[str] = []
        #: The last journal entry the loaded snapshot contains (``journal.py`` replays what follows).
        self.journal_seq = 0

    def set_aside(self, file: Path) -> Path:
        aside = file.with_suffix(f".{int(time.time())}.bak")
        file.rename(aside)
        return aside

    def load(self) -> None:
        from aipctl_sim.journal import FILE as JOURNAL

        file = self.path / SNAPSHOT
        if not file.exists():
            return
        try:
            with open(file, "rb") as fh:
                header = pickle.load(fh)
                if header != self._header():
                    raise ValueError(f"snapshot written by {header}, this is {self._header()}")
                snapshot = pickle.load(fh)
        except Exception as exc:
            aside = self.set_aside(file)
            if (self.path / JOURNAL).exists():
                self.set_aside(self.path / JOURNAL)  # its writes follow the snapshot set aside
            self.warnings.append(f"emulator state could not be loaded ({exc}); started fresh, old state kept in {aside}")
            return
        self.journal_seq = int(snapshot.get("journal_seq", 0))
        settings.replace_settings(snapshot["settings"])
        for key, accounts in snapshot["backends"].items():
            backend_dict = _find_backend_dict(key)
            if backend_dict is None:
                continue
            for account_id, regions in accounts.items():
                account = backend_dict[account_id]
                for region, backend in regions.items():
                    dict.__setitem__(account, region, backend)

    def save(self, journal_seq: int = 0) -> None:
        from aipctl_sim import telemetry
        from aipctl_sim.runtime import logs as invocation_logs

        invocation_logs.flush()  # pending log objects belong in the snapshot's S3
        with contextlib.suppress(RuntimeError):  # no store open: nothing to flush
            telemetry.store().flush()  # the snapshot and the telemetry it refers to land together
        _install_reducers()
        backends = {
            _key(bd): {account: dict(regions) for account, regions in bd.items()}
            for bd in list(BackendDict._instances)  # type: ignore[misc]
            if len(bd)
        }
        buffer = io.BytesIO()
        pickle.dump(self._header(), buffer)
        cloudpickle.dump(
            {"settings": settings.settings(), "backends": backends, "journal_seq": journal_seq},
            buffer,
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        tmp = self.path / f".{SNAPSHOT}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(buffer.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / SNAPSHOT)

    def close(self) -> None:
        if not self._lock_file.closed:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()

    @staticmethod
    def _header() -> dict[str, Any]:
        return {"format": FORMAT, "moto": version("moto")}
