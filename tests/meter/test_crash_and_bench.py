"""kill -9 during ingest loses nothing and counts nothing twice; the benchmark's shape and correctness."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import duckdb

from benchmarks.meter import generate
from tests.conftest import AIPCTL, aipctl_subprocess_env, run_aipctl

RECORDS = 240_000


def _ledger_counts(path: Path) -> tuple[int, int, int, int]:
    con = duckdb.connect(str(path), read_only=True)
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'invocations'").fetchone()[0]:
        return (0, 0, 0, 0)  # killed before the schema was committed
    rows, distinct, tokens = con.execute(
        "SELECT count(*), count(DISTINCT (request_id, request_key)), sum(input_tokens) FROM invocations"
    ).fetchone()
    rolled = con.execute("SELECT coalesce(sum(calls), 0) FROM usage_hourly").fetchone()[0]
    con.close()
    return int(rows), int(distinct), int(tokens or 0), int(rolled)


def _size(ledger: Path) -> int:
    """The ledger's bytes on disk, its WAL included (which DuckDB removes at a checkpoint, maybe mid-glob)."""
    total = 0
    for path in ledger.parent.glob(ledger.name + "*"):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total


def test_kill_minus_nine_then_rerun_counts_each_record_once(emulator: str, workdir: Path) -> None:
    logs = workdir / "logs"
    paths = generate(logs, RECORDS, callers=12, per_file=8_000, days=3)
    expected_tokens = (
        duckdb.connect()
        .execute(f"SELECT sum(input.inputTokenCount) FROM read_json({[str(p) for p in paths]}, format = 'newline_delimited')")
        .fetchone()[0]
    )
    ledger = workdir / "ledger.duckdb"
    env = aipctl_subprocess_env(AIPCTL_METER_BATCH_MB="0.1")  # one file per transaction
    command = [*AIPCTL, f"--endpoint-url={emulator}", "meter", "ingest", str(logs), "--ledger", str(ledger), "--json"]
    partial_counts = []
    for delay in (0.0, 0.05, 0.13):
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before = _size(ledger)
        while _size(ledger) == before and process.poll() is None:  # until a batch is being written
            time.sleep(0.005)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
        if ledger.exists():
            rows, distinct, _, rolled = _ledger_counts(ledger)
            assert rows == distinct == rolled  # consistent after every kill
            partial_counts.append(rows)
    assert any(0 < n < RECORDS for n in partial_counts), f"no kill landed mid-ingest: {partial_counts}"
    final = run_aipctl(
        "--endpoint-url", emulator, "meter", "ingest", str(logs), "--ledger", str(ledger), "--json", cwd=workdir, env=env
    )
    assert final.returncode == 0, final.stderr
    assert _ledger_counts(ledger) == (RECORDS, RECORDS, expected_tokens, RECORDS)


def test_bench_meter_reports_the_three_rates(workdir: Path) -> None:
    result = run_aipctl("bench", "meter", "--records", "30000", "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    import json

    data = json.loads(result.stdout)
    assert data["records"] == data["ingested_records"] == 30_000
    for key in ("plain_loop_rps", "duckdb_scan_rps", "ingest_rps", "peak_rss_mb"):
        assert data[key] > 0, key
    assert data["ingest_vs_scan"] == round(data["ingest_rps"] / data["duckdb_scan_rps"], 2)
