"""Ledger sources beyond S3 (CloudWatch Logs, CloudTrail identities), the Athena SQL and the report."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from aipctl_sim import telemetry
from tests.conftest import traffic_with_logs

GROUP = "/aws/bedrock/invocations"


@pytest.fixture
def both_logs(target, sim, session, emulator, workdir: Path) -> str:
    session.client("logs", endpoint_url=emulator).create_log_group(logGroupName=GROUP)
    return traffic_with_logs(
        target, session, emulator, workdir, bucket="logs-both", prefix="p", days=0.3, seed=4, calls_per_day=40, log_group=GROUP
    )


def _by_caller(cli, ledger: str) -> dict[str, dict]:
    result = cli("meter", "query", "--by", "caller", "--ledger", ledger, "--json")
    assert result.code == 0, result.err
    return {r["caller"]: r for r in result.json}


def test_cloudwatch_logs_source_matches_s3_and_is_incremental(cli, both_logs: str, target, sim) -> None:
    from aipctl.inventory import load_inventory
    from aipctl.simulate.traffic import run_traffic

    from_logs = cli("meter", "ingest", f"logs://{GROUP}", "--ledger", "cw.duckdb", "--json")
    assert from_logs.code == 0, from_logs.err
    calls = len(telemetry.store().query("SELECT 1 FROM calls"))
    assert from_logs.json["new_records"] == calls > 0
    assert cli("meter", "ingest", both_logs, "--ledger", "s3.duckdb", "--json").json["new_records"] == calls
    assert _by_caller(cli, "cw.duckdb") == _by_caller(cli, "s3.duckdb")
    # nothing new: re-reading the stream from its cursor adds nothing
    assert cli("meter", "ingest", f"logs://{GROUP}", "--ledger", "cw.duckdb", "--json").json["new_records"] == 0
    # more traffic: only the new events are added
    sim.advance(7200)
    run_traffic(load_inventory("aipctl.yaml"), target, days=0.1, seed=5, calls_per_day=40)
    more = len(telemetry.store().query("SELECT 1 FROM calls")) - calls
    again = cli("meter", "ingest", f"logs://{GROUP}", "--ledger", "cw.duckdb", "--json").json
    assert again["new_records"] == more > 0 and again["ledger_records"] == calls + more


def test_cloudtrail_fills_missing_identities(cli, both_logs: str, session, emulator, workdir: Path, sim) -> None:
    sim.set_settings(cloudtrail_lookup_rps=0)
    s3 = session.client("s3", endpoint_url=emulator)
    stripped = workdir / "stripped"
    stripped.mkdir()
    for n, obj in enumerate(s3.list_objects_v2(Bucket="logs-both")["Contents"]):
        lines = gzip.decompress(s3.get_object(Bucket="logs-both", Key=obj["Key"])["Body"].read()).splitlines()
        records = [json.loads(line) for line in lines]
        for record in records:
            record.pop("identity")
        (stripped / f"{n}.json.gz").write_bytes(gzip.compress("\n".join(json.dumps(r) for r in records).encode()))
    complete = cli("meter", "ingest", both_logs, "--ledger", "complete.duckdb", "--json")
    assert complete.code == 0
    bare = cli("meter", "ingest", str(stripped), "--ledger", "bare.duckdb", "--json")
    assert bare.json["new_records"] == complete.json["new_records"]
    expected, without = _by_caller(cli, "complete.duckdb"), _by_caller(cli, "bare.duckdb")
    # the bypasser (no AIP) is attributed only through its identity
    bypassers = {c for c, row in expected.items() if c != "unattributed"} - set(without)
    assert bypassers and "unattributed" in without
    joined = cli("meter", "ingest", str(stripped), "--ledger", "joined.duckdb", "--cloudtrail-since", "2d", "--json")
    assert joined.code == 0, joined.err
    assert _by_caller(cli, "joined.duckdb") == expected


def test_athena_sql_is_the_ledger_sql(cli, both_logs: str, target, session, emulator, workdir: Path) -> None:
    import duckdb
    import sqlglot

    from aipctl.aws.live import read_live_state
    from aipctl.inventory import load_inventory
    from aipctl.meter.ledger import read_logs_sql
    from aipctl.meter.sql import Lookups, attributed_select, report_select

    result = cli("meter", "athena", "--logs", both_logs, "--by", "caller", "--json")
    assert result.code == 0, result.err
    ddl, query = result.json["ddl"], result.json["query"]
    assert "projection.dt.format' = 'yyyy/MM/dd/HH'" in ddl and "/AWSLogs/123456789012/BedrockModelInvocationLogs/" in ddl
    assert isinstance(sqlglot.parse_one(ddl, read="athena"), sqlglot.exp.Create)
    parsed = sqlglot.parse_one(query, read="trino")
    assert "bedrock_invocation_logs" in {t.name for t in parsed.find_all(sqlglot.exp.Table)}
    # the same statement, run on DuckDB over the very logs, equals the ledger
    assert cli("meter", "ingest", both_logs, "--json").code == 0
    lookups = Lookups.build(load_inventory("aipctl.yaml"), read_live_state(target).profiles)
    rows = cli("meter", "query", "--by", "caller", "--json").json
    local = workdir / "logs-local"
    local.mkdir()
    s3 = session.client("s3", endpoint_url=emulator)
    for n, obj in enumerate(s3.list_objects_v2(Bucket="logs-both")["Contents"]):
        (local / f"{n}.json.gz").write_bytes(s3.get_object(Bucket="logs-both", Key=obj["Key"])["Body"].read())
    con = duckdb.connect()
    # the view declares the columns, as the Athena table does
    con.execute(f"CREATE VIEW bedrock_invocation_logs AS SELECT * FROM {read_logs_sql(sorted(local.iterdir()))}")
    expected = {r["caller"]: (r["calls"], round(r["cost_usd"], 9)) for r in rows}
    answer = con.execute(report_select(f"({attributed_select('bedrock_invocation_logs', lookups)})", "caller")).fetchall()
    assert {r[0]: (r[1], round(r[6], 9)) for r in answer} == expected
    # and the Athena text itself, read back as Trino, computes the same numbers
    back = sqlglot.transpile(query, read="trino", write="duckdb")[0]
    assert {r[0]: (r[1], round(r[6], 9)) for r in con.execute(back).fetchall()} == expected


def test_report_reads_the_ledger_as_third_source(cli, both_logs: str, sim) -> None:
    assert cli("meter", "ingest", both_logs, "--json").code == 0
    metered = _by_caller(cli, ".aipctl/ledger.duckdb")
    sim.advance(86400)
    report = cli("report", "--since", "3d", "--json")
    assert report.code == 0, report.err
    data = report.json
    assert data["sources"] == ["cost_explorer", "cloudwatch", "cost_explorer_principals", "ledger"]
    for row in data["callers"]:
        assert row["metered_usd"] == pytest.approx(metered.get(row["caller"], {}).get("cost_usd", 0.0), abs=1e-6)
        if row["caller"] in metered:
            assert row["metered_calls"] == metered[row["caller"]]["calls"]
    assert data["total_metered_usd"] > 0
    top = cli("meter", "query", "--top", "2", "--csv", "-")
    assert top.code == 0 and top.out.splitlines()[0].startswith("caller,calls") and len(top.out.splitlines()) == 3


def test_meter_athena_run_equals_the_ledger(cli, both_logs: str) -> None:
    """The emulator executes Athena's SQL (transpiled back to DuckDB) over the emulated S3."""
    assert cli("meter", "ingest", both_logs, "--json").code == 0
    ledger = {r["caller"]: r for r in cli("meter", "query", "--by", "caller", "--json").json}
    missing_output = cli("meter", "athena", "--logs", both_logs, "--run")
    assert missing_output.code == 2 and "--output" in missing_output.err
    ran = cli("meter", "athena", "--logs", both_logs, "--run", "--output", "s3://logs-both/athena-results/", "--json")
    assert ran.code == 0, ran.err
    athena = {r["caller"]: r for r in ran.json}
    assert set(athena) == set(ledger)
    for caller, row in ledger.items():
        assert athena[caller]["calls"] == row["calls"] and athena[caller]["input_tokens"] == row["input_tokens"]
        assert athena[caller]["cost_usd"] == pytest.approx(row["cost_usd"], rel=1e-9)
    by_day = cli("meter", "athena", "--logs", both_logs, "--run", "--by", "day", "--output", "s3://logs-both/r/", "--json")
    assert by_day.code == 0 and all(len(r["day"]) == 10 for r in by_day.json)


def test_meter_follow_ingests_calls_as_their_logs_arrive(cli, sim, session, emulator, workdir: Path) -> None:
    """Issue 20: the ledger saw a call only after someone ran `meter ingest`. `meter follow` polls: each batch of
    calls shows up within a poll, once (JSON Lines on stdout), and it stops after --max-polls."""
    import json
    import subprocess
    import sys
    import time

    from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
    from tests.conftest import MINIMAL_INVENTORY, aipctl_subprocess_env, log_destinations

    log_destinations(lambda s: session.client(s, endpoint_url=emulator), "follow-logs", "raw")
    bedrock = session.client("bedrock", endpoint_url=emulator)
    bedrock.put_model_invocation_logging_configuration(
        loggingConfig={"s3Config": {"bucketName": "follow-logs", "keyPrefix": "raw"}, "textDataDeliveryEnabled": False}
    )
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0
    arn = next(
        p["inferenceProfileArn"]
        for p in bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
        if p["inferenceProfileName"] == "chat-sonnet"
    )
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    env = aipctl_subprocess_env(AWS_ACCESS_KEY_ID=SIM_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SIM_SECRET_KEY)
    follow = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aipctl",
            "--endpoint-url",
            emulator,
            "meter",
            "follow",
            "s3://follow-logs/raw",
            "--interval",
            "0.5",
            "--max-polls",
            "12",
            "--ledger",
            "ledger.duckdb",
            "--json",
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for wave in (3, 2):
            for _ in range(wave):
                runtime.converse(modelId=arn, messages=[{"role": "user", "content": [{"text": "follow me"}]}])
            session.client("s3", endpoint_url=emulator).list_objects_v2(Bucket="follow-logs")  # delivers waiting records
            time.sleep(2.0)
        out, err = follow.communicate(timeout=120)
    finally:
        follow.kill()
    assert follow.returncode == 0, err
    polls = [json.loads(line) for line in out.splitlines() if line.strip()]
    # each wave lands within a poll or two of its calls (a poll may fall between two calls of a wave)
    assert sum(p["new_records"] for p in polls) == 5 and len(polls) >= 2, polls
    assert polls[-1]["ledger_records"] == 5 and "12 poll(s), 5 new record(s)" in err
