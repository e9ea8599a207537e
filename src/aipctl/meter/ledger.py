# ruff: noqa: E501  (the ingest SQL reads better unwrapped)
"""The metering ledger: every model invocation, its caller, tokens and cost, in DuckDB.

Ingest is a pipeline of batches (about 40 MB of compressed logs each). Local files go to
DuckDB's JSON reader as they are; remote ones (S3 objects, CloudWatch Logs events) are fetched
by a background pool into RAM-backed scratch files while DuckDB ingests the batch before. Each
batch is then one transaction:

1. read the batch's JSON lines with DuckDB's reader, attribute and price them with the shared
   SQL (:func:`aipctl.meter.sql.attributed_select`) and append them to ``invocations``, tagged
   with the batch number;
2. remove request ids seen before (in this batch or an earlier one), looking only at ledger rows
   inside the batch's time range: a duplicate delivery carries the same timestamp, and zone maps
   on ``ts`` make that lookup cheap;
3. add the batch to the hourly rollup ``usage_hourly`` and record its files (or CloudWatch Logs
   cursors) as ingested.

A kill at any point loses at most the batch in flight, which the next run ingests again; a
request id never counts twice. Memory is bounded by the batch, not by the ledger (no index on
``request_id``). Request ids are stored as UUIDs (Bedrock's are), the rare other id as text in
``request_key``; duplicates are found by the pair.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection as Connection

    from aipctl.meter.cur import CurResult

from aipctl._exceptions import UsageError
from aipctl.meter.sql import RECORD_COLUMNS, Lookups, attributed_select
from aipctl.progress import NO_PROGRESS, Progress

DEFAULT_LEDGER = ".aipctl/ledger.duckdb"
SCHEMA_VERSION = "3"
BATCH_BYTES = 40 << 20  # compressed, about 1M records; DuckDB streams a batch, memory does not grow with it
BATCH_UNITS = 512
SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS invocations (
    request_id UUID,                  -- Bedrock's requestId (a UUID: 16 bytes, 3x cheaper to store than text)
    request_key VARCHAR,              -- the id as text, only when it is not a UUID
    ts TIMESTAMPTZ NOT NULL,
    account VARCHAR,
    region VARCHAR,
    operation VARCHAR,
    model_id VARCHAR,
    identity_arn VARCHAR,
    caller VARCHAR NOT NULL,
    attributed_by VARCHAR NOT NULL,   -- aip | identity | none
    base_model VARCHAR,
    geo VARCHAR,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_read INTEGER,
    cache_write INTEGER,
    error_code VARCHAR,
    cost_usd DOUBLE,
    batch BIGINT NOT NULL,            -- the ingest transaction that added the row
    tenant VARCHAR                    -- the caller's tenant (its STS session name), where it has tenants
);
ALTER TABLE invocations ADD COLUMN IF NOT EXISTS tenant VARCHAR;
ALTER TABLE invocations ADD COLUMN IF NOT EXISTS cache_write_1h INTEGER;  -- of cache_write: 1-hour TTL (NULL: none)
ALTER TABLE invocations ADD COLUMN IF NOT EXISTS service_tier VARCHAR;    -- priority | flex as the log says (NULL: standard)
ALTER TABLE invocations ADD COLUMN IF NOT EXISTS cost_max_usd DOUBLE;     -- when TTLs are unknown: all writes 1-hour
CREATE TABLE IF NOT EXISTS usage_hourly (
    caller VARCHAR NOT NULL,
    hour TIMESTAMPTZ NOT NULL,
    base_model VARCHAR NOT NULL,
    calls BIGINT,
    errors BIGINT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cache_read BIGINT,
    cache_write BIGINT,
    cost_usd DOUBLE,
    PRIMARY KEY (caller, hour, base_model)
);
ALTER TABLE usage_hourly ADD COLUMN IF NOT EXISTS unpriced BIGINT;      -- successful calls without a price
ALTER TABLE usage_hourly ADD COLUMN IF NOT EXISTS cost_max_usd DOUBLE;
CREATE TABLE IF NOT EXISTS ingested_files (name VARCHAR PRIMARY KEY, size BIGINT, ingested_at TIMESTAMPTZ);
ALTER TABLE ingested_files ADD COLUMN IF NOT EXISTS version VARCHAR;     -- mtime:size of a file, an object's ETag
CREATE TABLE IF NOT EXISTS log_cursors (source VARCHAR, stream VARCHAR, last_ms BIGINT, PRIMARY KEY (source, stream));
"""


@dataclass(frozen=True)
class IngestResult:
    files: int
    skipped_files: int
    records: int
    new_records: int
    read_records: int = 0
    #: What a CUR 2.0 source added (None: the source held no CUR files).
    cur: CurResult | None = None
    #: Records of a changed file or object that replaced the ledger's earlier copies of them.
    replaced_records: int = 0


@dataclass(frozen=True)
class Unit:
    """One piece of input: a file, an S3 object, or new events of one CloudWatch Logs stream."""

    name: str
    size: int
    fetch: Callable[[], bytes]
    cursor: tuple[str, str, int] | None = None  # (source, stream, last event ms) for CloudWatch Logs
    path: Path | None = None  # a local file DuckDB reads (and decompresses) itself
    version: str | None = None  # what tells a changed file or object apart (mtime and size, ETag)
    #: Ingested before in another version: its records replace the ledger's earlier copies of their request ids.
    replaces: bool = False


def open_ledger(path: str | os.PathLike[str] = DEFAULT_LEDGER, *, memory_limit: str | None = None) -> Connection:
    """Open (or create) the ledger; ``AIPCTL_METER_MEMORY`` caps DuckDB's memory (default 256MB)."""
    import duckdb

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        raise UsageError(f"cannot open the ledger {path}: {exc}") from None
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{memory_limit or os.environ.get('AIPCTL_METER_MEMORY', '256MB')}'")
    con.execute("SET preserve_insertion_order = false")
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()}
    if "invocations" in tables:
        version = (
            _one(con.execute("SELECT value FROM ledger_meta WHERE key = 'schema_version'")) if "ledger_meta" in tables else None
        )
        if version is None or version[0] != SCHEMA_VERSION:
            found = version[0] if version else "1"
            raise UsageError(
                f"{path} was written by an earlier aipctl (ledger schema {found}, now {SCHEMA_VERSION}); "
                "move it away and ingest again (the logs are the source of truth)"
            )
    con.execute("BEGIN TRANSACTION")  # a kill while creating leaves no half-made ledger
    con.execute(SCHEMA)
    con.execute("INSERT OR IGNORE INTO ledger_meta VALUES ('schema_version', ?), ('next_batch', '1')", [SCHEMA_VERSION])
    con.execute("COMMIT")
    return con


# ---------------------------------------------------------------------------------- staging
def _scratch_root() -> Path:
    shm = Path("/dev/shm")
    root = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    for stale in root.glob("aipctl-meter-*"):  # left behind by a killed ingest
        with contextlib.suppress(ValueError, OSError):
            pid = int(stale.name.rsplit("-", 1)[1])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                shutil.rmtree(stale, ignore_errors=True)
    return root


class _Stager:
    """Fetches and decompresses a batch of units into scratch files, in worker threads."""

    def __init__(self, root: Path, workers: int) -> None:
        self.dir = root / f"aipctl-meter-{os.getpid()}"
        self.dir.mkdir(exist_ok=True)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aipctl-meter")
        self.serial = 0

    def _one(self, unit: Unit, path: Path) -> Path | None:
        if unit.path is not None:
            return unit.path
        data = unit.fetch()
        if not data.strip():
            return None
        if data[:2] == b"\x1f\x8b":  # DuckDB decompresses by file name (measured faster than staging inflated data)
            path = path.with_suffix(".json.gz")
        path.write_bytes(data)
        return path

    def stage(self, units: Sequence[Unit]) -> list[Path]:
        self.serial += 1
        paths = [self.dir / f"{self.serial}-{i}.json" for i in range(len(units))]
        return [p for p in self.pool.map(self._one, units, paths) if p is not None]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def batch_bytes() -> int:
    """Compressed input per transaction; ``AIPCTL_METER_BATCH_MB`` overrides (fractions allowed)."""
    raw = os.environ.get("AIPCTL_METER_BATCH_MB")
    if not raw:
        return BATCH_BYTES
    try:
        return max(1, int(float(raw) * 2**20))
    except ValueError:
        raise UsageError(f"AIPCTL_METER_BATCH_MB={raw!r} is not a number") from None


def _batches(units: Sequence[Unit]) -> Iterator[list[Unit]]:
    batch: list[Unit] = []
    size = 0
    limit = batch_bytes()
    for unit in units:
        batch.append(unit)
        size += unit.size
        if size >= limit or len(batch) >= BATCH_UNITS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


# ---------------------------------------------------------------------------------- ingest
def _one(result: Connection) -> tuple[Any, ...]:
    """The single row of an aggregate query (DuckDB types fetchone() as optional)."""
    row = result.fetchone()
    if row is None:
        raise RuntimeError("the ledger answered an aggregate query with no row")
    return row


def read_logs_sql(paths: Sequence[Path]) -> str:
    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    columns = ", ".join(f"\"{name}\": '{kind}'" for name, kind in RECORD_COLUMNS.items())
    return f"read_json([{files}], format = 'newline_delimited', ignore_errors = true, columns = {{{columns}}})"


def _drop_earlier_copies(con: Connection, batch: int) -> int:
    """Delete the rows of earlier batches whose request ids this batch carries again (a rewritten file's records
    replace them), taking them out of ``usage_hourly`` first; returns how many."""
    ids = f"hash(request_id, request_key) IN (SELECT hash(request_id, request_key) FROM invocations WHERE batch = {batch})"
    con.execute(f"""
        UPDATE usage_hourly AS u SET calls = u.calls - d.calls, errors = u.errors - d.errors,
            input_tokens = u.input_tokens - d.input_tokens, output_tokens = u.output_tokens - d.output_tokens,
            cache_read = u.cache_read - d.cache_read, cache_write = u.cache_write - d.cache_write,
            cost_usd = u.cost_usd - d.cost_usd, unpriced = coalesce(u.unpriced, 0) - d.unpriced,
            cost_max_usd = coalesce(u.cost_max_usd, u.cost_usd) - d.cost_max_usd
        FROM (
            SELECT caller, date_trunc('hour', ts) AS hour, coalesce(base_model, '') AS base_model, count(*) AS calls,
                   count(error_code) AS errors, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
                   sum(cache_read) AS cache_read, sum(cache_write) AS cache_write, sum(coalesce(cost_usd, 0)) AS cost_usd,
                   count(*) FILTER (WHERE cost_usd IS NULL AND error_code IS NULL) AS unpriced,
                   sum(coalesce(cost_max_usd, cost_usd, 0)) AS cost_max_usd
            FROM invocations WHERE batch < {batch} AND {ids} GROUP BY ALL
        ) AS d
        WHERE u.caller = d.caller AND u.hour = d.hour AND u.base_model = d.base_model
    """)
    dropped = _one(con.execute(f"DELETE FROM invocations WHERE batch < {batch} AND {ids}"))[0]
    return int(dropped)


def _ingest_batch(
    con: Connection, units: Sequence[Unit], paths: Sequence[Path], lookups: Lookups, *, replaces: bool = False
) -> tuple[int, int, int]:
    """One transaction: returns (records read, records new to the ledger, earlier copies replaced)."""
    con.execute("BEGIN TRANSACTION")
    try:
        read = fresh = replaced = 0
        if paths:
            batch = _one(con.execute("SELECT CAST(value AS BIGINT) FROM ledger_meta WHERE key = 'next_batch'"))[0]
            con.execute("UPDATE ledger_meta SET value = CAST(? AS VARCHAR) WHERE key = 'next_batch'", [batch + 1])
            select = attributed_select(read_logs_sql(paths), lookups)
            # Straight into the ledger, tagged with the batch number; the batch is then checked
            # for request ids seen before (zone maps on ``batch`` and ``ts`` keep that cheap).
            con.execute(
                "INSERT INTO invocations BY NAME SELECT TRY_CAST(request_id AS UUID) AS request_id, "
                "CASE WHEN TRY_CAST(request_id AS UUID) IS NULL THEN request_id END AS request_key, "
                f"* EXCLUDE (request_id) REPLACE (CAST(ts AS TIMESTAMPTZ) AS ts), {batch} AS batch FROM ({select})"
            )
            read, unique, lo, hi = _one(
                con.execute(
                    "SELECT count(*), count(DISTINCT hash(request_id, request_key)), min(ts)::VARCHAR, max(ts)::VARCHAR "
                    "FROM invocations WHERE batch = ?",
                    [batch],
                )
            )
            if replaces and read:  # a changed file or object: its records win over the copies the ledger has
                replaced = _drop_earlier_copies(con, batch)
            # A duplicate delivery carries the same timestamp, so earlier copies lie in [lo, hi].
            earlier = (
                _one(
                    con.execute(
                        f"SELECT count(*) FROM invocations WHERE batch < {batch} AND ts BETWEEN '{lo}'::TIMESTAMPTZ AND '{hi}'::TIMESTAMPTZ "
                        f"AND hash(request_id, request_key) IN (SELECT hash(request_id, request_key) FROM invocations WHERE batch = {batch})"
                    )
                )[0]
                if read
                else 0
            )
            fresh = read - replaced
            if earlier or unique < read:  # (a hash collision only costs this exact pass)
                fresh -= _one(
                    con.execute(f"""
                    DELETE FROM invocations WHERE rowid IN (
                        SELECT rowid FROM (
                            SELECT rowid, batch,
                                   row_number() OVER (PARTITION BY request_id, request_key ORDER BY batch, rowid) AS copy
                            FROM invocations
                            WHERE ts BETWEEN '{lo}'::TIMESTAMPTZ AND '{hi}'::TIMESTAMPTZ
                              AND hash(request_id, request_key) IN (
                                  SELECT hash(request_id, request_key) FROM invocations WHERE batch = {batch})
                        ) WHERE copy > 1 AND batch = {batch})
                """)
                )[0]
            con.execute(f"""
                INSERT INTO usage_hourly (caller, hour, base_model, calls, errors, input_tokens, output_tokens, cache_read,
                                          cache_write, cost_usd, unpriced, cost_max_usd)
                SELECT caller, date_trunc('hour', ts), coalesce(base_model, ''), count(*), count(error_code),
                       sum(input_tokens), sum(output_tokens), sum(cache_read), sum(cache_write), sum(coalesce(cost_usd, 0)),
                       count(*) FILTER (WHERE cost_usd IS NULL AND error_code IS NULL), sum(coalesce(cost_max_usd, cost_usd, 0))
                FROM invocations WHERE batch = {batch} GROUP BY ALL
                ON CONFLICT (caller, hour, base_model) DO UPDATE SET
                    calls = calls + excluded.calls, errors = errors + excluded.errors,
                    input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
                    cache_read = cache_read + excluded.cache_read, cache_write = cache_write + excluded.cache_write,
                    cost_usd = cost_usd + excluded.cost_usd, unpriced = coalesce(unpriced, 0) + excluded.unpriced,
                    cost_max_usd = coalesce(cost_max_usd, cost_usd) + excluded.cost_max_usd
            """)
        files = [(u.name, u.size, u.version) for u in units if u.cursor is None]
        if files:
            con.executemany(
                "INSERT OR REPLACE INTO ingested_files (name, size, ingested_at, version) VALUES (?, ?, now(), ?)", files
            )
        cursors = [u.cursor for u in units if u.cursor is not None]
        if cursors:
            con.executemany("INSERT OR REPLACE INTO log_cursors VALUES (?, ?, ?)", cursors)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return int(read), int(fresh), replaced


def ingest_units(
    con: Connection,
    units: Sequence[Unit],
    lookups: Lookups,
    *,
    skipped: int = 0,
    fetch_workers: int = 2,
    progress: Progress = NO_PROGRESS,
) -> IngestResult:
    """Ingest ``units`` in batches, staging batch k+1 while batch k is in DuckDB."""
    # a changed file's records replace earlier copies: such files go in batches of their own
    batches = [(b, False) for b in _batches([u for u in units if not u.replaces])]
    batches += [(b, True) for b in _batches([u for u in units if u.replaces])]
    # The lookups are tiny; DuckDB would otherwise hash the batch (its size unknown before reading) instead.
    with contextlib.suppress(Exception):  # an optimizer of that name exists since DuckDB 1.1; only speed depends on it
        con.execute("SET disabled_optimizers = 'build_side_probe_side'")
    stager = _Stager(_scratch_root(), fetch_workers)
    done = read_total = new_total = replaced_total = 0
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aipctl-stage") as ahead:
            pending = ahead.submit(stager.stage, batches[0][0]) if batches else None
            for index, (batch, replaces) in enumerate(batches):
                assert pending is not None
                paths = pending.result()
                pending = ahead.submit(stager.stage, batches[index + 1][0]) if index + 1 < len(batches) else None
                read, fresh, replaced = _ingest_batch(con, batch, paths, lookups, replaces=replaces)
                replaced_total += replaced
                for path in paths:
                    if path.parent == stager.dir:
                        path.unlink(missing_ok=True)
                done += len(batch)
                read_total += read
                new_total += fresh
                progress("ingesting", done, len(units))
    finally:
        stager.close()
        con.execute("RESET disabled_optimizers")
    total = _one(con.execute("SELECT count(*) FROM invocations"))[0]
    files = sum(1 for u in units if u.cursor is None)
    return IngestResult(files, skipped, int(total), new_total, read_total, replaced_records=replaced_total)


def ingested_names(con: Connection) -> dict[str, tuple[int | None, str | None]]:
    """Every file or object ingested so far, with its size and version then (None: ingested before versions)."""
    return {row[0]: (row[1], row[2]) for row in con.execute("SELECT name, size, version FROM ingested_files").fetchall()}


def log_cursors(con: Connection, source: str) -> dict[str, int]:
    return {s: int(ms) for s, ms in con.execute("SELECT stream, last_ms FROM log_cursors WHERE source = ?", [source]).fetchall()}


# ---------------------------------------------------------------------------------- query
GROUPS = {
    "caller": [],
    "day": ["strftime(hour, '%Y-%m-%d') AS day"],
    "hour": ["strftime(hour, '%Y-%m-%dT%H:00Z') AS hour"],
    "model": ["base_model AS model"],
}


class UsageRow(TypedDict, total=False):
    """A row of :func:`query`: the caller, the grouping key (``day``, ``hour`` or ``model``) and the sums."""

    caller: str
    day: str
    hour: str
    model: str
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float | None
    #: Successful calls of models, Regions or tiers the price book has no price for (not in ``cost_usd``).
    unpriced_calls: int
    #: The cost if every cache write of unknown TTL (a log without bodies) was a 1-hour write.
    cost_max_usd: float | None


def query(
    con: Connection,
    by: str = "caller",
    since: dt.datetime | None = None,
    caller: str | None = None,
    top: int | None = None,
) -> list[UsageRow]:
    """Calls, tokens and cost grouped by caller (and ``day``/``hour``/``model``), from the hourly rollup."""
    if by not in GROUPS:
        raise UsageError(f"--by {by}: use caller, day, hour or model")
    keys = GROUPS[by]
    where: list[str] = []
    params: list[object] = []
    if since is not None:
        where.append("hour >= date_trunc('hour', ?::TIMESTAMPTZ)")
        params.append(since)
    if caller is not None:
        where.append("caller = ?")
        params.append(caller)
    sql = (
        f"SELECT {', '.join(['caller', *keys])}, sum(calls)::BIGINT AS calls, sum(errors)::BIGINT AS errors, "
        "sum(input_tokens)::BIGINT AS input_tokens, sum(output_tokens)::BIGINT AS output_tokens, "
        "sum(cache_read)::BIGINT AS cache_read_tokens, sum(cache_write)::BIGINT AS cache_write_tokens, "
        "round(sum(cost_usd), 10) AS cost_usd, coalesce(sum(unpriced), 0)::BIGINT AS unpriced_calls, "
        "round(sum(coalesce(cost_max_usd, cost_usd)), 10) AS cost_max_usd "
        f"FROM usage_hourly {'WHERE ' + ' AND '.join(where) if where else ''} "
        f"GROUP BY ALL ORDER BY {'cost_usd DESC, caller' if by in ('caller', 'model') else '2, cost_usd DESC, caller'}"
        + (f" LIMIT {int(top)}" if top else "")
    )
    rows = con.execute(sql, params)
    columns = [d[0] for d in rows.description]
    return [cast(UsageRow, dict(zip(columns, row, strict=True))) for row in rows.fetchall()]
