"""The metering ledger on invocation logs the emulator wrote to S3: attribution, cost, idempotency."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from aipctl_sim import telemetry
from tests.conftest import ROOT, traffic_with_logs

CATALOG = {m["modelId"]: m for m in json.loads(Path(ROOT / "src/aipctl_sim/bedrock/catalog.json").read_text())["models"]}


@pytest.fixture
def logged_traffic(target, sim, session, emulator, workdir: Path) -> str:
    return traffic_with_logs(
        target, session, emulator, workdir, bucket="bedrock-logs", prefix="raw", days=0.5, seed=9, calls_per_day=40
    )


def _expected() -> dict[str, tuple[int, Decimal]]:
    rows = telemetry.store().query("SELECT principal_arn, base_model, geo, input_tokens, output_tokens, status FROM calls")
    out: dict[str, tuple[int, Decimal]] = {}
    for principal, model, geo, tin, tout, status in rows:
        caller = principal.rsplit("/", 1)[-1]  # traffic runs each caller under its own session name
        price = CATALOG[model]["prices"]["global" if geo == "global" else "regional"]
        cost = (
            (Decimal(str(price["input"])) * tin + Decimal(str(price.get("output", 0))) * tout) / 1_000_000
            if status == "ok"
            else 0
        )
        calls, total = out.get(caller, (0, Decimal(0)))
        out[caller] = (calls + 1, total + cost)
    return out


def test_ingest_attributes_prices_and_is_idempotent(cli, logged_traffic: str, workdir: Path, session, emulator) -> None:
    first = cli("meter", "ingest", logged_traffic, "--json")
    assert first.code == 0, first.err
    assert first.json["new_records"] == len(telemetry.store().query("SELECT 1 FROM calls")) > 0
    rows = {r["caller"]: r for r in cli("meter", "query", "--by", "caller", "--json").json}
    expected = _expected()
    assert set(rows) == set(expected)
    for caller, (calls, cost) in expected.items():
        assert rows[caller]["calls"] == calls, caller
        assert rows[caller]["cost_usd"] == pytest.approx(float(cost), rel=1e-9), caller
    # the bypasser is attributed by identity, the others by their AIPs
    again = cli("meter", "ingest", logged_traffic, "--json").json
    assert (again["files"], again["new_records"]) == (0, 0) and again["skipped_files"] == first.json["files"]
    # duplicate deliveries (same records under other names) count once
    s3 = session.client("s3", endpoint_url=emulator)
    local = workdir / "copies"
    for n, obj in enumerate(s3.list_objects_v2(Bucket="bedrock-logs")["Contents"]):
        target = local / f"copy{n}.json.gz"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(s3.get_object(Bucket="bedrock-logs", Key=obj["Key"])["Body"].read())
    shutil.copy(next(local.iterdir()), local / "duplicate.json.gz")
    dup = cli("meter", "ingest", str(local), "--json").json
    assert dup["files"] >= 2 and dup["new_records"] == 0
    daily = cli("meter", "query", "--by", "day", "--json").json
    assert sum(r["calls"] for r in daily) == sum(c for c, _ in expected.values()) and "day" in daily[0]


def _record(request_id: str, ts: str, tokens: int) -> dict:
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": ts,
        "accountId": "123456789012",
        "identity": {"arn": "arn:aws:sts::123456789012:assumed-role/somebody/x"},
        "region": "eu-central-1",
        "requestId": request_id,
        "operation": "Converse",
        "modelId": "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
        "input": {"inputContentType": "application/json", "inputTokenCount": tokens},
        "output": {"outputContentType": "application/json", "outputTokenCount": 10},
    }


def test_duplicates_count_once_whether_ids_are_uuids_or_not(cli, workdir: Path) -> None:
    import gzip

    uuid_id = "7f6c2a3e-1b2c-4d5e-8f90-0123456789ab"
    first = [_record(uuid_id, "2026-11-20T10:00:00.000Z", 100), _record("req-not-a-uuid", "2026-11-20T10:00:01.000Z", 200)]
    second = [*first, _record("req-other", "2026-11-20T10:00:02.000Z", 300), first[1]]  # redelivered, and twice in one file
    folder = workdir / "logs"
    folder.mkdir()
    (folder / "a.json.gz").write_bytes(gzip.compress("\n".join(json.dumps(r) for r in first).encode()))
    assert cli("meter", "ingest", str(folder), "--json").json["new_records"] == 2
    (folder / "b.json").write_text("\n".join(json.dumps(r) for r in second))
    again = cli("meter", "ingest", str(folder), "--json").json
    assert (again["read_records"], again["new_records"], again["ledger_records"]) == (4, 1, 3)
    rows = cli("meter", "query", "--by", "caller", "--json").json
    assert [(r["caller"], r["calls"], r["input_tokens"]) for r in rows] == [("unattributed", 3, 600)]


def test_a_local_log_file_that_grows_is_read_again(cli, workdir: Path) -> None:
    """Issue 17.8: files were tracked by path only, so records appended after an ingest were never read."""
    folder = workdir / "logs"
    folder.mkdir()
    log = folder / "invocations.jsonl"
    records = [_record(f"00000000-0000-4000-8000-00000000000{i}", f"2026-11-20T10:00:0{i}.000Z", 100) for i in range(3)]
    log.write_text("\n".join(json.dumps(r) for r in records[:2]) + "\n")
    assert cli("meter", "ingest", str(folder), "--json").json["new_records"] == 2
    unchanged = cli("meter", "ingest", str(folder), "--json").json
    assert (unchanged["files"], unchanged["skipped_files"]) == (0, 1), "an unchanged file is not read again"
    with log.open("a") as handle:
        handle.write(json.dumps(records[2]) + "\n")
    grown = cli("meter", "ingest", str(folder), "--json").json
    assert (grown["files"], grown["read_records"], grown["new_records"], grown["ledger_records"]) == (1, 3, 1, 3)
    rows = cli("meter", "query", "--by", "caller", "--json").json
    assert [(r["caller"], r["calls"], r["input_tokens"]) for r in rows] == [("unattributed", 3, 300)]


def test_a_rewritten_log_file_replaces_its_records(cli, workdir: Path) -> None:
    """Issue 17: a file rewritten in place (corrected token counts, same size or not) corrects the records it
    carries instead of being skipped or adding copies; the hourly rollup follows."""
    import os

    folder = workdir / "logs"
    folder.mkdir()
    log = folder / "invocations.jsonl"
    ids = [f"00000000-0000-4000-8000-00000000001{i}" for i in range(3)]
    log.write_text("\n".join(json.dumps(_record(i, f"2026-11-20T10:00:0{n}.000Z", 100)) for n, i in enumerate(ids)) + "\n")
    assert cli("meter", "ingest", str(folder), "--json").json["new_records"] == 3
    stat = log.stat()
    log.write_text("\n".join(json.dumps(_record(i, f"2026-11-20T10:00:0{n}.000Z", 900)) for n, i in enumerate(ids)) + "\n")
    os.utime(log, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # same size: the modified time tells
    assert log.stat().st_size == stat.st_size
    fixed = cli("meter", "ingest", str(folder), "--json").json
    assert (fixed["files"], fixed["read_records"], fixed["new_records"], fixed["replaced_records"]) == (1, 3, 0, 3)
    assert fixed["ledger_records"] == 3
    rows = cli("meter", "query", "--by", "caller", "--json").json
    assert [(r["caller"], r["calls"], r["input_tokens"]) for r in rows] == [("unattributed", 3, 2700)]
    import duckdb

    con = duckdb.connect(str(workdir / ".aipctl" / "ledger.duckdb"), read_only=True)
    try:  # the hourly rollup the budget watch reads agrees with the records
        assert con.execute("SELECT sum(calls), sum(input_tokens) FROM usage_hourly").fetchone() == (3, 2700)
    finally:
        con.close()
    again = cli("meter", "ingest", str(folder), "--json").json
    assert (again["files"], again["skipped_files"]) == (0, 1), "read once per version"


def test_an_overwritten_log_object_replaces_its_records(cli, session, emulator, workdir: Path) -> None:
    """The same for S3: an object put again under its key (a new ETag) is read again, its records replacing."""
    s3 = session.client("s3", endpoint_url=emulator)
    s3.create_bucket(Bucket="rewritten-logs", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    key = "raw/AWSLogs/123456789012/BedrockModelInvocationLogs/eu-central-1/2026/11/20/10/part.json"
    ids = [f"00000000-0000-4000-8000-00000000002{i}" for i in range(2)]
    for tokens in (100, 400):
        body = "\n".join(json.dumps(_record(i, f"2026-11-20T10:00:0{n}.000Z", tokens)) for n, i in enumerate(ids)) + "\n"
        s3.put_object(Bucket="rewritten-logs", Key=key, Body=body.encode())
        done = cli("meter", "ingest", "s3://rewritten-logs/raw", "--json")
        assert done.code == 0, done.err
    assert (done.json["files"], done.json["new_records"], done.json["replaced_records"], done.json["ledger_records"]) == (
        1,
        0,
        2,
        2,
    )
    rows = cli("meter", "query", "--by", "caller", "--json").json
    assert [(r["calls"], r["input_tokens"]) for r in rows] == [(2, 800)]
    unchanged = cli("meter", "ingest", "s3://rewritten-logs/raw", "--json").json
    assert (unchanged["files"], unchanged["skipped_files"]) == (0, 1)
