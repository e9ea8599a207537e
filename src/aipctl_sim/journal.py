"""Durable writes: every state change is appended to a journal before the request is answered.

The emulator's state is moto's in-memory backends, snapshotted now and then (``state.py``). What
changed since the last snapshot is in ``journal.jsonl`` beside it, one JSON line per change, written
with a single ``write(2)`` before the answer leaves: a SIGKILL (or a crash) after an answer loses
nothing, because on start the emulator loads the snapshot and replays the journal after it. The
journal is data, never code: replaying an entry sends the recorded request through the same handlers
again (moto's own recorder works the same way).

Replay gives the same result because a request is all a write depends on once its time and its
randomness are fixed: each write is served as of one instant (``settings.at``) with moto's random
generator (``mock_random``, which makes its ids) seeded from the entry. Kinds of entries:

- ``http``: a control-plane request (method, path, query, headers, body);
- ``control``: a call of the emulator's control API (clock, faults, quotas, settings, reset);
- ``s3-put`` / ``logs-put``: invocation-log records the emulator delivered itself.

What is *not* journaled: runtime calls, whose record is the telemetry row committed to SQLite before
the answer (``telemetry.py``); CloudTrail events (telemetry too); the prompt cache of the last five
minutes, which a restart forgets (the next call writes it again, as after an expiry).

A journal survives the emulator process, not the machine: it is not fsynced per entry (the snapshot
is). An entry cut short by a kill was never answered and is skipped on replay.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_log = logging.getLogger("aipctl_sim")

FILE = "journal.jsonl"

#: The WSGI environ keys a request is replayed from (besides the HTTP_* headers).
ENVIRON_KEYS = (
    "REQUEST_METHOD",
    "PATH_INFO",
    "QUERY_STRING",
    "RAW_URI",
    "REQUEST_URI",
    "CONTENT_TYPE",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SCRIPT_NAME",
    "wsgi.url_scheme",
)


@dataclass(frozen=True)
class Write:
    """The instant and the randomness one write is served with (live, then again on replay)."""

    at: dt.datetime
    seed: int


def new_write(at: dt.datetime) -> Write:
    return Write(at, secrets.randbits(63))


@contextmanager
def deterministic(write: Write) -> Iterator[None]:
    """Serve one write as of ``write.at`` with moto's ids drawn from ``write.seed``."""
    from moto.moto_api._internal import mock_random

    from aipctl_sim import settings

    mock_random.seed(write.seed)
    with settings.at(write.at):
        yield


class Journal:
    """``journal.jsonl`` in a state directory: append before answering, replay at start, truncate at a snapshot."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()
        self.seq = 0
        self.entries = 0  # since the last snapshot
        self.bytes = 0

    # -- writing -------------------------------------------------------------------------------
    def append(self, kind: str, write: Write | None = None, **fields: Any) -> None:
        with self._lock:
            self.seq += 1
            entry: dict[str, Any] = {"seq": self.seq, "kind": kind}
            if write is not None:
                entry["at"] = write.at.isoformat()
                entry["seed"] = write.seed
            entry.update(fields)
            line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
            written = os.write(self._fd, line)
            if written != len(line):  # a regular file takes the whole buffer or raises (ENOSPC)
                raise OSError(f"journal {self.path}: short write ({written} of {len(line)} bytes)")
            self.entries += 1
            self.bytes += len(line)

    def append_request(self, write: Write, environ: dict[str, Any], body: bytes) -> None:
        env = {k: environ[k] for k in ENVIRON_KEYS if k in environ}
        env.update({k: v for k, v in environ.items() if k.startswith("HTTP_") and isinstance(v, str)})
        self.append("http", write, environ=env, body=base64.b64encode(body).decode())

    def truncate(self) -> None:
        """Everything so far is in a durable snapshot."""
        with self._lock:
            os.ftruncate(self._fd, 0)
            self.entries = self.bytes = 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

    # -- reading ---------------------------------------------------------------------------------
    def read(self, after: int) -> list[dict[str, Any]]:
        """The entries after sequence number ``after``; continues numbering after the last one."""
        entries: list[dict[str, Any]] = []
        with open(self.path, "rb") as fh:
            lines = fh.read().split(b"\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                seq = int(entry["seq"])
            except (ValueError, KeyError, TypeError):
                if number >= len(lines) - 1:  # the last line, cut short by a kill: never answered
                    _log.warning("journal %s: ignoring an incomplete last entry", self.path)
                    continue
                raise ValueError(f"journal {self.path}:{number} is not a journal entry") from None
            self.seq = max(self.seq, seq)
            if seq > after:
                entries.append(entry)
        return entries


def write_of(entry: dict[str, Any]) -> Write:
    return Write(dt.datetime.fromisoformat(entry["at"]), int(entry["seed"]))


def body_of(entry: dict[str, Any]) -> bytes:
    return base64.b64decode(entry.get("body", ""))


# -- the journal of the running emulator (None: state is not kept, or replay is under way) --------
_current: Journal | None = None
_replaying = threading.local()


def install(journal: Journal | None) -> None:
    global _current
    _current = journal


def current() -> Journal | None:
    """Where the emulator's own writes (invocation logs) are journaled; None while replaying."""
    return None if replaying() else _current


def replaying() -> bool:
    return bool(getattr(_replaying, "on", False))


@contextmanager
def replay_mode() -> Iterator[None]:
    _replaying.on = True
    try:
        yield
    finally:
        _replaying.on = False
