"""What the emulated account records about every call: one compact row per runtime call.

CloudTrail events, CloudWatch metrics, invocation logs and billing line items are all derived
from these rows, so the emulator keeps one copy of the truth, on disk (SQLite, WAL), not in Python
objects: a million calls take a few hundred MB of file and little memory. Rows are buffered while a
request is served and committed before it is answered (``flush``; WAL, so a commit survives the
process being killed); every read flushes first.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from aipctl_sim.protocol import json_bytes

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    ts REAL NOT NULL,              -- simulated time, epoch seconds
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    request_id TEXT NOT NULL,
    operation TEXT NOT NULL,       -- Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream, CountTokens
    model_id TEXT NOT NULL,        -- exactly as sent
    metric_id TEXT NOT NULL,       -- CloudWatch ModelId dimension (the AIP's short id for AIP calls)
    aip_arn TEXT,                  -- set when called through an application inference profile
    base_model TEXT NOT NULL,      -- foundation model id
    geo TEXT,                      -- us/eu/apac/jp/global for cross-Region profiles, NULL in-Region
    identity_type TEXT NOT NULL,
    principal_arn TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    access_key TEXT NOT NULL,
    username TEXT NOT NULL,
    role_arn TEXT,
    status TEXT NOT NULL,          -- 'ok' or the error code
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read INTEGER NOT NULL,
    cache_write INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    cost_tags TEXT,                -- JSON: the AIP's tags whose keys were active cost-allocation tags at ts
    user_agent TEXT NOT NULL DEFAULT '',
    error_message TEXT,
    source_identity TEXT,          -- the STS session's SourceIdentity
    principal_tags TEXT,           -- JSON: the principal's tags (role/user tags overlaid by session tags)
    service_tier TEXT,             -- priority / flex when the request asked for it; NULL: the standard tier
    cache_write_1h INTEGER NOT NULL DEFAULT 0, -- of cache_write: the tokens written with a 1-hour TTL
    bearer_token_type TEXT         -- SHORT_TERM / LONG_TERM for a Bedrock API key; NULL: SigV4
);
CREATE INDEX IF NOT EXISTS calls_by_time ON calls (account, region, ts);
CREATE INDEX IF NOT EXISTS calls_by_model ON calls (account, region, metric_id, ts);
CREATE TABLE IF NOT EXISTS mgmt_events (
    ts REAL NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_name TEXT NOT NULL,
    event_source TEXT NOT NULL,
    read_only INTEGER NOT NULL,
    username TEXT NOT NULL,
    access_key TEXT NOT NULL,
    resource_name TEXT,
    resource_type TEXT,
    event_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mgmt_by_time ON mgmt_events (account, region, ts);
CREATE TABLE IF NOT EXISTS call_days (  -- the calls summed per UTC day: Cost Explorer and daily metrics read this
    day INTEGER NOT NULL,          -- floor(ts / 86400)
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    metric_id TEXT NOT NULL,
    base_model TEXT NOT NULL,
    geo TEXT NOT NULL,             -- '' for in-Region (NULL cannot be part of the key)
    reached INTEGER NOT NULL,      -- 1: the call reached a bedrock-runtime model (metrics.REACHED)
    status TEXT NOT NULL,
    cost_tags TEXT NOT NULL,       -- '' when none
    calls INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read INTEGER NOT NULL,
    cache_write INTEGER NOT NULL,
    latency_sum INTEGER NOT NULL,
    latency_min INTEGER NOT NULL,
    latency_max INTEGER NOT NULL,
    tier TEXT NOT NULL,            -- '' for the standard tier
    cache_write_1h INTEGER NOT NULL,
    PRIMARY KEY (account, day, region, metric_id, base_model, geo, reached, status, cost_tags, tier)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trail_delivered (  -- per trail: the last calls rowid its data events were delivered for
    account TEXT NOT NULL,
    trail_arn TEXT NOT NULL,
    through INTEGER NOT NULL,
    PRIMARY KEY (account, trail_arn)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_pending (  -- invocation-log records not yet in an S3 object
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    bucket TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hour TEXT NOT NULL,
    record TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class CallRecord:
    ts: float
    account: str
    region: str
    request_id: str
    operation: str
    model_id: str
    metric_id: str
    aip_arn: str | None
    base_model: str
    geo: str | None
    identity_type: str
    principal_arn: str
    principal_id: str
    access_key: str
    username: str
    role_arn: str | None
    status: str
    input_tokens: int
    output_tokens: int
    cache_read: int
    cache_write: int
    latency_ms: int
    cost_tags: str | None
    user_agent: str = ""
    error_message: str | None = None
    source_identity: str | None = None
    principal_tags: str | None = None
    service_tier: str | None = None
    cache_write_1h: int = 0
    bearer_token_type: str | None = None


#: Columns added after the first schema: (name, declaration), added to an older file when it is opened.
_ADDED_COLUMNS = (
    ("user_agent", "TEXT NOT NULL DEFAULT ''"),
    ("error_message", "TEXT"),
    ("source_identity", "TEXT"),
    ("principal_tags", "TEXT"),
    ("service_tier", "TEXT"),
    ("cache_write_1h", "INTEGER NOT NULL DEFAULT 0"),
    ("bearer_token_type", "TEXT"),
)

CALL_COLUMNS = tuple(f.name for f in fields(CallRecord))
#: The rollup table's definition, to rebuild it when its key changes.
_CALL_DAYS_DDL = "CREATE TABLE call_days" + SCHEMA.split("CREATE TABLE IF NOT EXISTS call_days", 1)[1].split(";", 1)[0]
_COLUMN = {name: index for index, name in enumerate(CALL_COLUMNS)}
#: PRAGMA user_version of a file whose ``call_days`` is complete.
ROLLUP_VERSION = 2  # 2: keyed by service tier, with 1-hour cache writes
DAY = 86400
#: ``call_days`` rows from ``calls`` rows (the same sums :meth:`TelemetryStore.flush` keeps up to date).
_ROLLUP_SELECT = (
    "SELECT CAST(ts / 86400 AS INTEGER), account, region, metric_id, base_model, COALESCE(geo, ''), "
    "CASE WHEN base_model != '' AND operation NOT LIKE 'mantle:%' AND operation NOT LIKE 'batch:%' THEN 1 ELSE 0 END, "
    "status, COALESCE(cost_tags, ''), "
    "COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_read), SUM(cache_write), "
    "SUM(latency_ms), MIN(latency_ms), MAX(latency_ms), COALESCE(service_tier, ''), SUM(cache_write_1h)"
)
_ROLLUP_UPSERT = (
    "INSERT INTO call_days VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT (account, day, region, metric_id, base_model, geo, reached, status, cost_tags, tier) DO UPDATE SET "
    "calls = calls + excluded.calls, input_tokens = input_tokens + excluded.input_tokens, "
    "output_tokens = output_tokens + excluded.output_tokens, cache_read = cache_read + excluded.cache_read, "
    "cache_write = cache_write + excluded.cache_write, latency_sum = latency_sum + excluded.latency_sum, "
    "latency_min = MIN(latency_min, excluded.latency_min), latency_max = MAX(latency_max, excluded.latency_max), "
    "cache_write_1h = cache_write_1h + excluded.cache_write_1h"
)


def _day_rows(pending: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The pending calls summed per ``call_days`` key."""
    c = _COLUMN
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in pending:
        base, operation = row[c["base_model"]], row[c["operation"]]
        key = (
            int(row[c["ts"]] // DAY),
            row[c["account"]],
            row[c["region"]],
            row[c["metric_id"]],
            base,
            row[c["geo"]] or "",
            1 if base != "" and not str(operation).startswith(("mantle:", "batch:")) else 0,
            row[c["status"]],
            row[c["cost_tags"]] or "",
            row[c["service_tier"]] or "",
        )
        latency = int(row[c["latency_ms"]])
        entry = sums.get(key)
        tokens = (row[c["input_tokens"]], row[c["output_tokens"]], row[c["cache_read"]], row[c["cache_write"]])
        if entry is None:
            sums[key] = [1, *tokens, latency, latency, latency, row[c["cache_write_1h"]]]
        else:
            entry[0] += 1
            for i in range(4):
                entry[1 + i] += tokens[i]
            entry[5] += latency
            entry[6] = min(entry[6], latency)
            entry[7] = max(entry[7], latency)
            entry[8] += row[c["cache_write_1h"]]
    return [(*key[:9], *values[:8], key[9], values[8]) for key, values in sums.items()]


class TelemetryStore:
    def __init__(self, path: str | Path, batch: int = 2000) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        if not self.path.exists():  # SQLite gives its -wal and -shm files the database's mode
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(calls)")}
        for name, declaration in _ADDED_COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE calls ADD COLUMN {name} {declaration}")
        if self._db.execute("PRAGMA user_version").fetchone()[0] < ROLLUP_VERSION:  # a file from before the rollup
            self._db.execute("BEGIN")
            self._db.execute("DROP TABLE call_days")  # its key changed: rebuilt from the calls
            self._db.execute(_CALL_DAYS_DDL)
            self._db.execute(f"INSERT INTO call_days {_ROLLUP_SELECT} FROM calls GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 18")
            self._db.execute(f"PRAGMA user_version = {ROLLUP_VERSION}")
            self._db.execute("COMMIT")
        self._pending: list[tuple[Any, ...]] = []
        self._pending_events: list[tuple[Any, ...]] = []
        self._pending_logs: list[tuple[Any, ...]] = []
        self._batch = batch
        #: Changes whenever rows are added or removed: derived results may be cached per generation.
        self.generation = 0

    def record_call(self, record: CallRecord) -> None:
        with self._lock:
            self.generation += 1
            self._pending.append(astuple(record))
            if len(self._pending) >= self._batch:
                self.flush()

    def record_event(
        self,
        ts: float,
        account: str,
        region: str,
        event_name: str,
        event_source: str,
        read_only: bool,
        username: str,
        access_key: str,
        resource_name: str | None,
        resource_type: str | None,
        event: dict[str, Any],
    ) -> None:
        with self._lock:
            event_id = event.setdefault("eventID", str(uuid.uuid4()))
            self._pending_events.append(
                (
                    ts,
                    account,
                    region,
                    event_id,
                    event_name,
                    event_source,
                    int(read_only),
                    username,
                    access_key,
                    resource_name,
                    resource_type,
                    json_bytes(event).decode(),  # GetMetricData asks 500 queries: orjson
                )
            )
            if len(self._pending_events) >= self._batch:
                self.flush()

    def record_log(self, key: tuple[str, str, str, str, str], record: str) -> None:
        """An invocation-log record waiting for its S3 object (``key``: account, Region, bucket, prefix, hour)."""
        with self._lock:
            self._pending_logs.append((*key, record))

    def pending_logs(self) -> list[tuple[Any, ...]]:
        """(id, account, Region, bucket, prefix, hour, record) of every waiting record, oldest first."""
        return self.query("SELECT id, account, region, bucket, prefix, hour, record FROM log_pending ORDER BY id")

    def delete_logs(self, through: int) -> None:
        with self._lock:
            self.flush()
            self._db.execute("DELETE FROM log_pending WHERE id <= ?", (through,))

    def delete_log_ids(self, ids: Sequence[int]) -> None:
        """Drop these waiting records (delivered), keeping the ones still within the delivery delay."""
        with self._lock:
            self.flush()
            self._db.executemany("DELETE FROM log_pending WHERE id = ?", [(i,) for i in ids])

    def trail_watermark(self, account: str, trail_arn: str) -> int | None:
        """The last ``calls`` rowid whose data events this trail got; None: it never had a delivery."""
        rows = self.query("SELECT through FROM trail_delivered WHERE account = ? AND trail_arn = ?", (account, trail_arn))
        return int(rows[0][0]) if rows else None

    def set_trail_watermark(self, account: str, trail_arn: str, through: int) -> None:
        with self._lock:
            self.flush()
            self._db.execute(
                "INSERT INTO trail_delivered VALUES (?, ?, ?) "
                "ON CONFLICT (account, trail_arn) DO UPDATE SET through = excluded.through",
                (account, trail_arn, through),
            )

    def flush(self) -> None:
        with self._lock:
            if not self._pending and not self._pending_events and not self._pending_logs:
                return
            self._db.execute("BEGIN")
            if self._pending:
                marks = ",".join("?" * len(CALL_COLUMNS))
                self._db.executemany(f"INSERT INTO calls ({','.join(CALL_COLUMNS)}) VALUES ({marks})", self._pending)
                self._db.executemany(_ROLLUP_UPSERT, _day_rows(self._pending))
            if self._pending_events:
                self._db.executemany("INSERT INTO mgmt_events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", self._pending_events)
            if self._pending_logs:
                self._db.executemany(
                    "INSERT INTO log_pending (account, region, bucket, prefix, hour, record) VALUES (?,?,?,?,?,?)",
                    self._pending_logs,
                )
            self._db.execute("COMMIT")
            self._pending.clear()
            self._pending_events.clear()
            self._pending_logs.clear()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The database, with everything recorded so far visible."""
        with self._lock:
            self.flush()
            yield self._db

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.reading() as db:
            return list(db.execute(sql, args))

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._pending.clear()
            self._pending_events.clear()
            self._pending_logs.clear()
            self._db.execute("DELETE FROM calls")
            self._db.execute("DELETE FROM call_days")
            self._db.execute("DELETE FROM mgmt_events")
            self._db.execute("DELETE FROM log_pending")
            self._db.execute("DELETE FROM trail_delivered")

    def close(self) -> None:
        with self._lock:
            self.flush()
            self._db.close()


_store: TelemetryStore | None = None


def open_store(path: str | Path) -> TelemetryStore:
    global _store
    if _store is not None:
        _store.close()
    _store = TelemetryStore(path)
    return _store


def store() -> TelemetryStore:
    if _store is None:
        raise RuntimeError("telemetry store not opened (the emulator server opens it)")
    return _store


def close_store() -> None:
    global _store
    if _store is not None:
        _store.close()
        _store = None
