# ruff: noqa: E501  (the generator SQL reads better unwrapped)
"""``aipctl bench meter``: ledger ingest against a plain Python loop and a bare DuckDB scan.

Generates N schema-1.0 invocation-log records (metadata only, as with text data delivery off)
as gzip JSON lines in hour-sized files, then measures in one run:

- ``plain_loop``: gzip + ``json.loads`` + a dict aggregation per modelId, in Python;
- ``duckdb_scan``: ``count(*)`` over ``read_json`` of the same files;
- ``ingest``: aipctl's full ingest (attribution, pricing, dedup, rollup) into a new ledger, in a
  child process whose peak RSS is reported, followed by a per-tenant daily query.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aipctl.progress import NO_PROGRESS, Progress
from benchmarks import child

ACCOUNT = "123456789012"
REGION = "us-east-1"
MODELS = ("anthropic.claude-sonnet-4-6", "us.anthropic.claude-haiku-4-5-20251001-v1:0", "amazon.nova-lite-v1:0")


def _aip_arn(caller: int, model: int) -> str:
    return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:application-inference-profile/b{caller:05d}m{model}abcde"


def _profiles(callers: int) -> list[Any]:
    from aipctl.aws.bedrock import LiveProfile
    from aipctl.inventory import rules

    out = []
    for c in range(callers):
        for m, source in enumerate(MODELS):
            arn = _aip_arn(c, m)
            tags = {rules.TAG_CALLER: f"tenant-{c:05d}", rules.TAG_SOURCE: source}
            out.append(LiveProfile(arn, arn.rsplit("/", 1)[1], f"tenant-{c:05d}-{m}", (), "ACTIVE", None, tags))
    return out


def generate(folder: Path, records: int, *, callers: int = 50, per_file: int = 250_000, days: int = 30) -> list[Path]:
    """N records spread over ``days`` in time order, one gzip file per ``per_file`` records.

    Request ids are unique; 1 % of calls bypass the AIP (a foundation model id; attributed by
    identity) and 0.5 % fail (cost 0). DuckDB writes the JSON; two threads gzip it (ISA-L if installed).
    """
    import duckdb

    try:  # ISA-L compresses ~10x faster than zlib when it is installed (pip install isal)
        from isal.igzip import compress
    except ImportError:
        from gzip import compress  # type: ignore[assignment]

    folder.mkdir(parents=True, exist_ok=True)
    files = max(1, -(-records // per_file))
    step_ms = max(1, days * 86_400_000 // max(records, 1))
    con = duckdb.connect()
    con.execute("SET threads = 2")
    models = "[" + ", ".join(f"'{m}'" for m in MODELS) + "]"

    def write(index: int) -> Path:
        start, count = index * per_file, min(per_file, records - index * per_file)
        raw = folder / f"part-{index:05d}.json"
        cursor = con.cursor()
        cursor.execute(f"""
            COPY (
              SELECT 'ModelInvocationLog' AS schemaType, '1.0' AS schemaVersion,
                strftime(TIMESTAMP '2026-10-01' + to_milliseconds(i * {step_ms}), '%Y-%m-%dT%H:%M:%S.%gZ') AS "timestamp",
                '{ACCOUNT}' AS accountId,
                {{'arn': 'arn:aws:sts::{ACCOUNT}:assumed-role/tenant-' || lpad(((i * 7919) % {callers})::VARCHAR, 5, '0') || '-role/s' || (i % 8)}} AS identity,
                '{REGION}' AS region,
                printf('%08x-%04x-4%03x-8%03x-%012x', hash(i) % 4294967296, (i >> 32) % 65536, i % 4096, (i >> 12) % 4096, i) AS requestId,
                CASE WHEN i % 3 = 0 THEN 'InvokeModel' ELSE 'Converse' END AS operation,
                CASE WHEN i % 100 = 42 THEN {models}[1 + i % 3]
                     ELSE 'arn:aws:bedrock:{REGION}:{ACCOUNT}:application-inference-profile/b' || lpad(((i * 7919) % {callers})::VARCHAR, 5, '0')
                          || 'm' || (i % 3) || 'abcde' END AS modelId,
                '{REGION}' AS inferenceRegion,
                {{'inputContentType': 'application/json', 'inputTokenCount': 20 + (i * 31) % 4000,
                  'cacheReadInputTokenCount': CASE WHEN i % 10 = 0 THEN 1024 ELSE 0 END, 'cacheWriteInputTokenCount': 0}} AS input,
                {{'outputContentType': 'application/json', 'outputTokenCount': 5 + (i * 17) % 900}} AS output,
                CASE WHEN i % 200 = 7 THEN 'ThrottlingException' END AS errorCode
              FROM range({start}, {start + count}) AS t(i)
            ) TO '{raw}' (FORMAT json)
        """)
        target = raw.with_suffix(".json.gz")
        target.write_bytes(compress(raw.read_bytes(), compresslevel=1))
        raw.unlink()
        return target

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(write, range(files)))


def plain_loop(paths: list[Path], min_seconds: float = 3.0) -> tuple[float, int]:
    """Records/s of the obvious Python ingest (stops after ``min_seconds`` worth of whole files)."""
    started = time.perf_counter()
    totals: dict[str, list[int]] = {}
    count = 0
    for path in paths:
        with gzip.open(path, "rt") as handle:
            for line in handle:
                record = json.loads(line)
                count += 1
                row = totals.get(record["modelId"])
                if row is None:
                    totals[record["modelId"]] = [1, record["input"]["inputTokenCount"], record["output"]["outputTokenCount"]]
                else:
                    row[0] += 1
                    row[1] += record["input"]["inputTokenCount"]
                    row[2] += record["output"]["outputTokenCount"]
        if time.perf_counter() - started >= min_seconds:
            break
    return count / (time.perf_counter() - started), count


def duckdb_scan(paths: list[Path]) -> tuple[float, int]:
    import duckdb

    con = duckdb.connect()
    files = ", ".join(f"'{p}'" for p in paths)
    started = time.perf_counter()
    row = con.execute(f"SELECT count(*) FROM read_json([{files}], format = 'newline_delimited')").fetchone()
    assert row is not None
    return row[0] / (time.perf_counter() - started), int(row[0])


def _probe(folder: str, ledger: str, callers: int) -> dict[str, Any]:
    """Runs in a child process: full ingest into a new ledger, then the per-tenant daily query."""
    from aipctl.meter import Lookups
    from aipctl.meter.ledger import Unit, ingest_units, open_ledger, query

    paths = sorted(Path(folder).glob("*.json.gz"))
    units = [Unit(str(p), p.stat().st_size, p.read_bytes, path=p) for p in paths]
    lookups = Lookups.build(None, _profiles(callers))
    con = open_ledger(ledger)
    started = time.perf_counter()
    result = ingest_units(con, units, lookups)
    seconds = time.perf_counter() - started
    ingest_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tenant = "tenant-00007"
    started = time.perf_counter()
    daily = query(con, "day", caller=tenant)
    rollup_s = time.perf_counter() - started
    started = time.perf_counter()
    raw = con.execute(
        "SELECT CAST(ts AS DATE) AS day, count(*), sum(cost_usd) FROM invocations WHERE caller = ? GROUP BY ALL", [tenant]
    ).fetchall()
    raw_s = time.perf_counter() - started
    assert sum(r["calls"] for r in daily) == sum(r[1] for r in raw), "rollup and raw table agree"
    return {
        "ingest_seconds": seconds,
        "ingested": result.new_records,
        "read": result.read_records,
        "query_daily_rollup_s": rollup_s,
        "query_daily_raw_s": raw_s,
        "query_days": len(daily),
        "peak_rss_mb": ingest_rss,
        "peak_rss_with_queries_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "ledger_mb": os.path.getsize(ledger) / 2**20,
    }


def run(
    records: int = 10_000_000,
    *,
    callers: int = 50,
    folder: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aipctl-bench-meter-") as tmp:
        data = Path(folder) if folder else Path(tmp) / "logs"
        paths = sorted(data.glob("*.json.gz")) if data.exists() else []
        reuse = len(paths) > 0 and folder is not None
        started = time.perf_counter()
        if not reuse:
            progress(f"generating {records:,} records")
            _child("generate", str(records), data.as_posix(), str(callers))
            paths = sorted(data.glob("*.json.gz"))
        generated_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in paths)
        # The ingest runs first, in a child of this still-small process: a child's peak RSS starts
        # at its parent's RSS when forked, and the scan below grows this process.
        progress("aipctl ingest")
        probe = _child("ingest", data.as_posix(), (Path(tmp) / "ledger.duckdb").as_posix(), str(callers))
        progress("plain Python loop")
        loop_rps, loop_n = plain_loop(paths)
        progress("DuckDB scan")
        scan_rps, total = duckdb_scan(paths)
    ingest_rps = probe["read"] / probe["ingest_seconds"]
    return {
        "records": total,
        "files": len(paths),
        "compressed_mb": round(size / 2**20, 1),
        "generated_s": round(generated_s, 1) if not reuse else None,
        "plain_loop_rps": round(loop_rps),
        "plain_loop_records_timed": loop_n,
        "duckdb_scan_rps": round(scan_rps),
        "ingest_rps": round(ingest_rps),
        "ingest_seconds": round(probe["ingest_seconds"], 2),
        "ingested_records": probe["ingested"],
        "ingest_vs_scan": round(ingest_rps / scan_rps, 2),
        "ingest_vs_plain_loop": round(ingest_rps / loop_rps, 1),
        "peak_rss_mb": round(probe["peak_rss_mb"], 1),
        "peak_rss_with_queries_mb": round(probe["peak_rss_with_queries_mb"], 1),
        "ledger_mb": round(probe["ledger_mb"], 1),
        "query_daily_rollup_s": round(probe["query_daily_rollup_s"], 4),
        "query_daily_raw_s": round(probe["query_daily_raw_s"], 4),
        "targets": {
            "ingest_rps": 2_000_000,
            "ingest_vs_scan": 0.5,
            "ingest_vs_plain_loop": 10,
            "peak_rss_mb_at_100m": 1024,
            "query_s": 1.0,
        },
    }


def _child(mode: str, *args: str) -> dict[str, Any]:
    argv, env = child("meter", mode, *args)
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout))


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        made = generate(Path(sys.argv[3]), int(sys.argv[2]), callers=int(sys.argv[4]))
        print(json.dumps({"files": len(made)}))
    else:
        print(json.dumps(_probe(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
