"""Benchmark of ``aipctl report`` at scale: N callers × D days of recorded calls.

The AIPs are created with ``aipctl apply`` (embedded emulator); the calls are written straight into
the emulator's telemetry store (recording 1 M calls through boto3 would take the benchmark half an
hour and measure the emulator, not the report). Then ``aipctl report --since Dd --json`` runs in its
own process. Baseline, same state: ``aipctl plan`` (start-up plus reading every AIP and its tags),
the fixed cost any command pays. Also reported: how long ``aipctl verify`` would take to read the
same calls from CloudTrail at 2 requests/s (50 events each), which it announces before reading.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aipctl._exceptions import AipctlError
from benchmarks.foundation import expected_profiles, inventory_text


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "aipctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=3600,
        env=env or {k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    return time.perf_counter() - started, done


def _write_calls(state: Path, profiles: list[dict[str, Any]], days: int, per_day: int, now: float) -> int:
    from aipctl_sim.telemetry import CallRecord, TelemetryStore

    store = TelemetryStore(state / "sim" / "telemetry.sqlite")
    rng = random.Random(1)
    count = 0
    for profile in profiles:
        caller, source = profile["caller"], profile["model_source"]
        geo, model = source.split(".", 1)
        for day in range(days):
            for _ in range(per_day):
                ts = now - (day + rng.random()) * 86400
                store.record_call(
                    CallRecord(
                        ts=ts,
                        account="123456789012",
                        region="eu-central-1",
                        request_id=str(uuid.uuid4()),
                        operation="Converse",
                        model_id=profile["arn"],
                        metric_id=profile["profile_id"],
                        aip_arn=profile["arn"],
                        base_model=model,
                        geo=geo,
                        identity_type="AssumedRole",
                        principal_arn=f"arn:aws:sts::123456789012:assumed-role/{caller}/{caller}",
                        principal_id="AROA:" + caller,
                        access_key="ASIA",
                        username=caller,
                        role_arn=None,
                        status="ok",
                        input_tokens=rng.randint(200, 4000),
                        output_tokens=rng.randint(50, 800),
                        cache_read=0,
                        cache_write=0,
                        latency_ms=rng.randint(300, 3000),
                        cost_tags=json.dumps({"Application": caller}),
                    )
                )
                count += 1
    store.close()
    return count


#: Served reports per codec: five, not three, because a run that crosses a clock minute pays the emulator's Cost
#: Explorer recomputation (its answers are kept per minute), and three runs let one such run move the median.
SERVED_RUNS = 5


def _served(work: Path, days: int) -> tuple[float, float, float]:
    """Median report, plan and botocore-codec report seconds against ``aipctl sim serve`` in its own process:
    the emulator's work off the client's CPU (and GIL), as AWS's is. The embedded figure is the sum of both.
    The third figure is the same report with botocore's own JSON codec (``AIPCTL_COMPILED_CODEC=0``), run
    alternately with the first, so the codec's share is measured on the same state and machine load."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "aipctl", "sim", "serve", "--port", "0", "--durability", "snapshot"],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # "aipctl sim serving on http://127.0.0.1:PORT (state: ...)"
        url = next((word for word in first.split() if word.startswith("http://")), None)
        if url is None:
            raise AipctlError(f"aipctl sim serve did not start: {first!r}")
        reports, plans, plain = [], [], []
        report = ("--endpoint-url", url, "report", "--since", f"{days}d", "--json")
        _run(*report, cwd=work, env=env)  # the emulator's first answers fill its caches: not measured
        for _ in range(SERVED_RUNS):
            seconds, done = _run(*report, cwd=work, env=env)
            if done.returncode != 0:
                raise AipctlError(f"report against the served emulator failed: {done.stderr[-2000:]}")
            reports.append(seconds)
            plain.append(_run(*report, cwd=work, env={**env, "AIPCTL_COMPILED_CODEC": "0"})[0])
            plans.append(_run("--endpoint-url", url, "plan", cwd=work, env=env)[0])
        return round(statistics.median(reports), 2), round(statistics.median(plans), 2), round(statistics.median(plain), 2)
    finally:
        server.terminate()
        server.wait(timeout=30)


def run(callers: int = 1000, days: int = 30, per_day: int = 10) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aipctl-bench-report-") as tmp:
        work = Path(tmp)
        (work / "aipctl.yaml").write_text(inventory_text(callers))
        _, done = _run("sim", "quota", "application-inference-profiles", str(expected_profiles(callers) * 2), cwd=work)
        _, done = _run("apply", "--yes", cwd=work)
        if done.returncode != 0:
            raise AipctlError(f"setup apply failed: {done.stderr[-2000:]}")
        profiles = json.loads(_run("list", "--json", cwd=work)[1].stdout)
        now = dt.datetime.fromisoformat(_run("sim", "clock", cwd=work)[1].stdout.strip()).timestamp()
        started = time.perf_counter()
        calls = _write_calls(work / ".aipctl", profiles, days, per_day, now)
        write_s = time.perf_counter() - started
        report_runs, plan_runs = [], []
        for _ in range(3):
            seconds, done = _run("report", "--since", f"{days}d", "--json", cwd=work)
            if done.returncode != 0:
                raise AipctlError(f"report failed: {done.stderr[-2000:]}")
            report_runs.append(seconds)
            plan_runs.append(_run("plan", cwd=work)[0])
        data = json.loads(done.stdout)
        served_report, served_plan, served_plain = _served(work, days)
        billed = sum(c["billed_usd"] for c in data["callers"])
        return {
            "callers": callers,
            "aips": len(profiles),
            "days": days,
            "calls": calls,
            "setup_write_s": round(write_s, 1),
            "report_s": round(statistics.median(report_runs), 2),
            "baseline_plan_s": round(statistics.median(plan_runs), 2),
            "report_vs_plan": round(statistics.median(report_runs) / statistics.median(plan_runs), 2),
            "served_report_s": served_report,
            "served_baseline_plan_s": served_plan,
            "served_report_botocore_codec_s": served_plain,
            "served_codec_speedup": round(served_plain / served_report, 2),
            "callers_with_cost": sum(1 for c in data["callers"] if c["billed_usd"] > 0),
            "billed_usd": round(billed, 2),
            "verify_cloudtrail_estimate_min": round(calls / 50 / 2 / 60, 1),
        }
