"""``aipctl discover`` at scale: over N invocation-log records (the ledger source) and over M CloudTrail events.

Ledger: N records of 500 roles (4 session names each) and 6 models are written straight into a ledger's
``invocations`` table (ingesting them is ``aipctl bench meter``'s subject, not this one's). Measured:
``aipctl discover --source ledger --json`` in its own process (time, peak RSS). Baseline in the same run:
the bare DuckDB aggregate discover's query amounts to, in this process.

CloudTrail: M calls of 200 roles are written into the emulator's telemetry (as ``aipctl bench report`` does), the
emulator serves in a process of its own with LookupEvents unthrottled, and ``aipctl discover --source cloudtrail``
reads them all (M/50 pages for Converse plus one request per other event name). Baseline: a bare boto3 loop
over the same pages (no classification). Also reported: what the reading takes at AWS's 2 requests/s.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aipctl._exceptions import AipctlError
from benchmarks.foundation import _env, _Served

ACCOUNT = "123456789012"
MODELS = (
    "eu.anthropic.claude-sonnet-4-6",
    "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
    "eu.amazon.nova-pro-v1:0",
    "eu.amazon.nova-lite-v1:0",
    "amazon.titan-embed-text-v2:0",
    "eu.meta.llama3-2-3b-instruct-v1:0",
)


def _measured(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str, str]:
    """(seconds, peak RSS in MB, stdout, stderr) of ``aipctl ARGS`` in its own process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "aipctl", *args], cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise AipctlError(f"aipctl {' '.join(args)} failed ({proc.returncode}): {stderr[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, stdout, stderr


def _ledger(path: Path, records: int, now: dt.datetime) -> None:
    from aipctl.meter import open_ledger

    con = open_ledger(path, memory_limit="1GB")
    models = ", ".join(f"'{m}'" for m in MODELS)
    con.execute(
        f"""INSERT INTO invocations (request_id, ts, account, region, operation, model_id, identity_arn, caller, attributed_by,
        base_model, input_tokens, output_tokens, cache_read, cache_write, error_code, cost_usd, batch)
        SELECT uuid(), ?::TIMESTAMPTZ - to_seconds(CAST(hash(i) % 2592000 AS BIGINT)), '{ACCOUNT}', 'eu-central-1', 'Converse',
               list_extract([{models}], CAST(1 + hash(i * 7) % {len(MODELS)} AS INTEGER)),
               'arn:aws:sts::{ACCOUNT}:assumed-role/app-' || (i % 500) || '/s' || (i % 4),
               'unattributed', 'none', 'model', 200 + i % 3000, 50 + i % 700, 0, 0,
               CASE WHEN i % 97 = 0 THEN 'ThrottlingException' END, (200 + i % 3000) * 3e-6 + (50 + i % 700) * 15e-6, 1
        FROM range({records}) AS t(i)""",
        [now],
    )
    con.close()


def _bare_scan(path: Path, start: dt.datetime, end: dt.datetime) -> tuple[float, int]:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute(
        "SELECT identity_arn, model_id, count(*), count(error_code), min(ts), max(ts), sum(input_tokens), "
        "sum(output_tokens), sum(cost_usd) FROM invocations WHERE ts >= ? AND ts < ? GROUP BY 1, 2",
        [start, end],
    ).fetchall()
    con.close()
    return time.perf_counter() - started, len(rows)


def _write_calls(state: Path, calls: int, now: float) -> None:
    from aipctl_sim.telemetry import CallRecord, TelemetryStore

    store = TelemetryStore(state / "sim" / "telemetry.sqlite", batch=20_000)
    rng = random.Random(3)
    for i in range(calls):
        role = f"svc-{i % 200}"
        model = MODELS[i % len(MODELS)]
        store.record_call(
            CallRecord(
                ts=now - rng.random() * 6 * 86400,
                account=ACCOUNT,
                region="eu-central-1",
                request_id=str(uuid.uuid4()),
                operation="Converse",
                model_id=model,
                metric_id=model,
                aip_arn=None,
                base_model=model.split(".", 1)[-1],
                geo="eu" if model.startswith("eu.") else None,
                identity_type="AssumedRole",
                principal_arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/task-{i % 3}",
                principal_id=f"AROA{i % 200}:task",
                access_key="ASIA",
                username=f"task-{i % 3}",
                role_arn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
                status="ok",
                input_tokens=500,
                output_tokens=100,
                cache_read=0,
                cache_write=0,
                latency_ms=800,
                cost_tags=None,
            )
        )
    store.close()


def _bare_lookup(url: str, start: dt.datetime, end: dt.datetime) -> tuple[float, int]:
    import boto3

    from aipctl.aws.cloudtrail import RUNTIME_EVENTS
    from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY

    client = boto3.client(
        "cloudtrail",
        region_name="eu-central-1",
        endpoint_url=url,
        aws_access_key_id=SIM_ACCESS_KEY,
        aws_secret_access_key=SIM_SECRET_KEY,
    )
    started, events = time.perf_counter(), 0
    for name in RUNTIME_EVENTS:
        kwargs: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}],
            "StartTime": start,
            "EndTime": end,
            "MaxResults": 50,
        }
        while True:
            page = client.lookup_events(**kwargs)
            events += len(page["Events"])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return time.perf_counter() - started, events


def run(records: int = 1_000_000, events: int = 100_000, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aipctl-bench-discover-") as tmp:
        work = Path(tmp)
        env = _env(AIPCTL_CLOUDTRAIL_RPS="0")
        now = dt.datetime.now(dt.timezone.utc)
        # -- the ledger source
        ledger = work / "ledger.duckdb"
        progress(f"writing {records:,} invocation records into a ledger")
        _ledger(ledger, records, now)
        progress("discover --source ledger")
        args = ["--state-dir", str(work / "state-ledger"), "discover", "--source", "ledger", "--ledger", str(ledger)]
        seconds, rss, stdout, _ = _measured([*args, "--since", "31d", "--json"], work, env)
        found = json.loads(stdout)
        scan, groups = _bare_scan(ledger, now - dt.timedelta(days=31), now + dt.timedelta(seconds=1))
        if sum(i["calls"] for i in found) != records:
            raise AipctlError(f"discover counted {sum(i['calls'] for i in found):,} of {records:,} records")
        ledger_part = {
            "records": records,
            "identities": len(found),
            "seconds": round(seconds, 2),
            "peak_rss_mb": round(rss, 1),
            "records_per_s": round(records / seconds),
            "baseline_bare_duckdb_aggregate_s": round(scan, 3),
            "baseline_groups": groups,
            "ratio_to_baseline": round(seconds / scan, 1) if scan else None,
        }
        # -- the CloudTrail source
        state = work / "state-trail"
        (state / "sim").mkdir(parents=True)
        progress(f"writing {events:,} CloudTrail-visible calls into the emulator's telemetry")
        _write_calls(state, events, now.timestamp())
        served = _Served(state, "--durability", "snapshot")
        if not served.url:
            raise AipctlError("aipctl sim serve did not start")
        try:
            served.control().set_settings(cloudtrail_lookup_rps=0)
            progress("discover --source cloudtrail (LookupEvents unthrottled)")
            seconds, rss, stdout, _ = _measured(
                ["--endpoint-url", served.url, "discover", "--source", "cloudtrail", "--since", "7d", "--json"], work, env
            )
            found = json.loads(stdout)
            progress("baseline: a bare LookupEvents loop over the same pages")
            bare, read = _bare_lookup(served.url, now - dt.timedelta(days=7), now + dt.timedelta(minutes=5))
        finally:
            served.proc.terminate()
            served.proc.wait(timeout=30)
        if sum(i["calls"] for i in found) != events:
            raise AipctlError(f"discover counted {sum(i['calls'] for i in found):,} of {events:,} CloudTrail events")
        requests = -(-events // 50)
        trail_part = {
            "events": events,
            "identities": len(found),
            "seconds": round(seconds, 2),
            "peak_rss_mb": round(rss, 1),
            "events_per_s": round(events / seconds),
            "baseline_bare_lookup_loop_s": round(bare, 2),
            "baseline_events": read,
            "ratio_to_baseline": round(seconds / bare, 2) if bare else None,
            "on_aws_at_2_requests_per_s_s": round(requests / 2),
        }
    return {"benchmark": "discover", "ledger": ledger_part, "cloudtrail": trail_part}
