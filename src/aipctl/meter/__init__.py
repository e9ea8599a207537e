"""The metering ledger: model invocation logs -> per-request caller, tokens and cost in DuckDB.

``ingest`` reads a local folder, ``s3://bucket/prefix`` or ``logs://LOG_GROUP`` (CloudWatch
Logs); ``query`` answers per caller × day/hour/model. The attribution SQL lives in
:mod:`aipctl.meter.sql` and is also what ``aipctl meter athena`` prints for Amazon Athena.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection as Connection

    from aipctl.aws.bedrock import LiveProfile
    from aipctl.aws.target import Target

from aipctl._exceptions import UsageError
from aipctl.inventory import LoadedInventory
from aipctl.meter.ledger import DEFAULT_LEDGER, IngestResult, Unit, ingest_units, ingested_names, log_cursors, open_ledger, query
from aipctl.meter.sql import Lookups
from aipctl.progress import NO_PROGRESS, Progress

LOG_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")


def _changed(done: Mapping[str, tuple[int | None, str | None]], name: str, size: int | None, version: str) -> bool | None:
    """None: ingested as it is (skip); False: new; True: ingested before in another version (its records replace)."""
    if name not in done:
        return False
    old_size, old_version = done[name]
    if old_version is None:  # ingested before versions were kept: its size alone tells
        return None if size is None or old_size == size else True
    return None if old_version == version else True


def _local_units(source: str, done: Mapping[str, tuple[int | None, str | None]]) -> tuple[list[Unit], int]:
    """The log files under ``source`` not ingested yet, or changed since (modified time or size): read again whole,
    and their records replace the ledger's copies of the same request ids — a file appended to adds its new
    records once, a rewritten one corrects the records it carries."""
    root = Path(source)
    if not root.exists():
        raise UsageError(f"no such folder or file {source!r}")
    paths = sorted(p for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file() and p.name.endswith(LOG_SUFFIXES))
    units, skipped = [], 0
    for path in paths:
        stat = path.stat()
        name, size, version = str(path.resolve()), stat.st_size, f"{stat.st_mtime_ns}:{stat.st_size}"
        changed = _changed(done, name, size, version)
        if changed is None:
            skipped += 1
            continue
        units.append(Unit(name, size, path.read_bytes, path=path, version=version, replaces=changed))
    return units, skipped


def _s3_units(source: str, target: Target, done: Mapping[str, tuple[int | None, str | None]]) -> tuple[list[Unit], int]:
    """The log objects under ``source`` not ingested yet, or overwritten since (another ETag: its records replace)."""
    from aipctl.aws.s3logs import InvocationLogs, parse_s3_uri

    logs = InvocationLogs(target)
    bucket, _ = parse_s3_uri(source)
    units, skipped = [], 0
    for key, etag in logs.versions(source):
        name = f"s3://{bucket}/{key}"
        changed = _changed(done, name, None, etag)
        if changed is None:
            skipped += 1
            continue
        units.append(Unit(name, 64 << 10, partial(logs.object_bytes, source, key), version=etag, replaces=changed))
    return units, skipped


#: How far before its cursor a log stream is read again (late deliveries; duplicates are dropped by request id).
LOG_LOOKBACK_MS = 3600 * 1000


def _logs_units(source: str, target: Target, con: Connection) -> tuple[list[Unit], int]:
    from aipctl.aws.logs import LogEvents

    group = source.removeprefix("logs://")
    if not group:
        raise UsageError("logs:// needs a log group name, e.g. logs:///aws/bedrock/invocations")
    events = LogEvents(target)
    cursors = log_cursors(con, source)
    units, skipped = [], 0
    for stream in events.streams(group):
        cursor = cursors.get(stream.name, 0)
        if stream.last_event_ms and stream.last_event_ms < cursor:
            skipped += 1
            continue
        # Events are read by their timestamp, which is the invocation's, and one may be delivered after a
        # later one: re-read LOG_LOOKBACK_MS before the cursor (the ledger drops request ids it has).
        start = max(0, cursor - LOG_LOOKBACK_MS) if cursor else 0
        end = max(stream.last_event_ms, cursor) + 1
        units.append(
            Unit(
                f"{source}/{stream.name}",
                max(stream.stored_bytes, 64 << 10),
                partial(events.messages, group, stream.name, start, end),
                cursor=(source, stream.name, end),
            )
        )
    return units, skipped


def trail_identities(target: Target, since: dt.timedelta) -> list[tuple[str, str]]:
    """(request id, principal ARN) of runtime calls CloudTrail saw in the last ``since``."""
    from aipctl.aws.cloudtrail import Trail

    end = target.now()
    return [(c.request_id, c.principal_arn) for c in Trail(target).runtime_calls(end - since, end) if c.request_id]


def ingest(
    con: Connection,
    source: str,
    *,
    loaded: LoadedInventory | None = None,
    profiles: Iterable[LiveProfile] = (),
    target: Target | None = None,
    trail: list[tuple[str, str]] | None = None,
    progress: Progress = NO_PROGRESS,
) -> IngestResult:
    """Ingest a local folder or file, ``s3://bucket/prefix`` or ``logs://LOG_GROUP`` (incremental, idempotent).

    Invocation logs (``.json[l][.gz]``) become per-request rows; CUR 2.0 Parquet files found in the
    same source become the bill of record (:mod:`aipctl.meter.cur`), a billing period's newest
    revision replacing the one before.
    """
    from dataclasses import replace

    from aipctl.meter.cur import ingest_cur, local_files, s3_files

    lookups = Lookups.build(loaded, profiles)
    lookups.trail = list(trail or [])
    remote = source.startswith(("s3://", "logs://"))
    cur_files = []
    if not remote:
        units, skipped = _local_units(source, ingested_names(con))
        cur_files = local_files(source)
    elif target is None:
        raise UsageError(f"{source}: an s3:// or logs:// source needs an AWS target")
    elif source.startswith("s3://"):
        units, skipped = _s3_units(source, target, ingested_names(con))
        cur_files = s3_files(source, target)
    else:
        units, skipped = _logs_units(source, target, con)
    cur = ingest_cur(con, cur_files, lookups, loaded, progress=progress) if cur_files else None
    result = ingest_units(con, units, lookups, skipped=skipped, fetch_workers=8 if remote else 2, progress=progress)
    return replace(result, cur=cur)


__all__ = ["DEFAULT_LEDGER", "IngestResult", "Lookups", "ingest", "open_ledger", "query", "trail_identities"]
