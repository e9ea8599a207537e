"""Persistence of the emulator's state in a directory, so separate processes see one account.

The state is every in-use moto ``BackendDict`` (moto's own services and ours alike) plus the
emulator settings, pickled with cloudpickle (moto keeps a few lambdas in its backends) and written
atomically (temp file + rename), so a SIGKILL during a save leaves the previous snapshot intact.

**A snapshot is code** (unpickling runs what the file says), so it is only loaded when it was
written by this user on this machine: the file starts with ``MAGIC``, an HMAC-SHA256 of the rest
under a key kept outside the state directory (``key_file()``, 0600, made on first use), and a JSON
header (format, moto version, time); nothing is unpickled before the HMAC checks out. A snapshot
from another machine, user or version — or a planted one (a repository that contains ``.aipctl/``)
— is moved aside with a warning and never loaded. The state directory is 0700, its files 0600, and
it holds a ``.gitignore`` so a state directory is not committed by accident.

Between snapshots every write is journaled (``journal.py``); a snapshot records the last journal
entry it contains, and loading replays the entries after it.

A directory is used by one process at a time: :class:`StateDir` holds an exclusive ``flock`` on
``lock`` for as long as an emulator runs on it.
"""

from __future__ import annotations

import contextlib
import copyreg
import fcntl
import hashlib
import hmac
import importlib
import io
import json
import os
import pickle
import secrets
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cloudpickle
from moto.core.base_backend import BackendDict

from aipctl_sim import settings

FORMAT = 2
SNAPSHOT = "state.pkl"
MAGIC = b"AIPCTL-SIM-STATE\n"
KEY_BYTES = 32


def key_file() -> Path:
    """The key snapshots are signed with: ``$AIPCTL_SIM_STATE_KEY`` or ``<config dir>/aipctl/sim-state.key``."""
    override = os.environ.get("AIPCTL_SIM_STATE_KEY")
    if override:
        return Path(override)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "aipctl" / "sim-state.key"


def _signing_key() -> bytes:
    path = key_file()
    with contextlib.suppress(FileNotFoundError):
        data = path.read_bytes()
        if len(data) == KEY_BYTES:
            return data
        raise ValueError(f"{path} is not an aipctl state key ({len(data)} bytes); remove it to make a new one")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return _signing_key()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def _sign(payload: bytes) -> bytes:
    return hmac.new(_signing_key(), payload, hashlib.sha256).digest()


class UntrustedState(ValueError):
    """A snapshot this user did not write on this machine (or not in this format)."""


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
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # a directory someone else owns stays as it is
            os.chmod(self.path, 0o700)
        ignore = self.path / ".gitignore"
        if not ignore.exists():
            with contextlib.suppress(OSError):
                ignore.write_text("# aipctl sim state: never commit it\n*\n")
        lock_fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._lock_file = os.fdopen(lock_fd, "a+")
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
            snapshot = self._read(file)
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

    def _read(self, file: Path) -> dict[str, Any]:
        data = file.read_bytes()
        if not data.startswith(MAGIC):
            raise UntrustedState("not a signed aipctl snapshot (an older format, or not written by aipctl); not loaded")
        digest, rest = data[len(MAGIC) : len(MAGIC) + 32], data[len(MAGIC) + 32 :]
        if not hmac.compare_digest(digest, _sign(rest)):
            raise UntrustedState(
                f"not written by this user on this machine (its signature does not match {key_file()}); not loaded"
            )
        header_line, _, body = rest.partition(b"\n")
        header = json.loads(header_line)
        if {k: header.get(k) for k in ("format", "moto")} != self._header():
            raise UntrustedState(f"snapshot written by {header}, this is {self._header()}")
        return dict(pickle.loads(body))  # signed with this user's key: checked above

    def save(self, journal_seq: int = 0) -> None:
        from aipctl_sim import telemetry
        from aipctl_sim.cloudtrail import delivery as trail_delivery
        from aipctl_sim.runtime import logs as invocation_logs

        invocation_logs.flush()  # pending log objects belong in the snapshot's S3
        trail_delivery.deliver()
        with contextlib.suppress(RuntimeError):  # no store open: nothing to flush
            telemetry.store().flush()  # the snapshot and the telemetry it refers to land together
        _install_reducers()
        backends = {
            _key(bd): {account: dict(regions) for account, regions in bd.items()}
            for bd in list(BackendDict._instances)  # type: ignore[misc]
            if len(bd)
        }
        buffer = io.BytesIO()
        buffer.write(json.dumps({**self._header(), "written": time.time()}).encode() + b"\n")
        cloudpickle.dump(
            {"settings": settings.settings(), "backends": backends, "journal_seq": journal_seq},
            buffer,
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        payload = buffer.getvalue()
        tmp = self.path / f".{SNAPSHOT}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC + _sign(payload) + payload)
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
