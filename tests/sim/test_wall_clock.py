"""The emulator keeps wall-clock time: traffic is history up to now, so clients that build their
windows from ``datetime.now()`` — the AWS AIP workshop's helpers, the AWS CLI, dashboards — see it.

The workshop's calls (aws-samples/sample-bedrock-cost-allocation, labs/lab_helpers) are recreated
here as they are written there, not imported: ``fetch_metrices`` (GetMetricStatistics over the
last 60 minutes per AIP id), ``fetch_bedrock_costs_by_tag`` (Cost Explorer, the last 30 days up to
today, SERVICE "Amazon Bedrock" and a tag filter), ``AIPManager.list_aips``.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
from aipctl.inventory import parse_inventory
from aipctl.plan import apply_plan, make_plan
from aipctl.simulate.traffic import run_traffic
from tests.conftest import REGION

WORKSHOP_INVENTORY = """\
name: workshop
region: eu-central-1
cost_tags: [Application, Owner, Environment, TenantId]
models:
  nova: eu.amazon.nova-pro-v1:0
  haiku: eu.anthropic.claude-haiku-4-5-20251001-v1:0
callers:
  tenant-a:
    owner: marketing
    environment: production
    models: [nova]
    identities: ["arn:aws:iam::*:role/tenant-a-app"]
    tags: {TenantId: tenant-a}
  tenant-b:
    owner: marketing
    environment: production
    models: [haiku]
    identities: ["arn:aws:iam::*:role/tenant-b-app"]
    tags: {TenantId: tenant-b}
"""


def test_workshop_helpers_find_the_history_with_wall_clock_windows(sim, target, session, emulator: str, tmp_path: Path) -> None:
    """Two days of traffic up to now on the wall clock (never moved here), read as the workshop and the CLI read."""
    loaded = parse_inventory(WORKSHOP_INVENTORY, "aipctl.yaml")
    apply_plan(make_plan(loaded, target), target)
    before = dt.datetime.fromisoformat(sim.clock()["now"])
    traffic = run_traffic(loaded, target, days=2, seed=3, calls_per_day=300, bypass=())
    after = dt.datetime.fromisoformat(sim.clock()["now"])
    listed = session.client("bedrock", endpoint_url=emulator).list_inference_profiles(typeEquals="APPLICATION")
    aips = {p["inferenceProfileName"]: p for p in listed["inferenceProfileSummaries"]}  # AIPManager.list_aips

    # the clock
    assert abs((after - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 60, "the emulator's now is the wall clock"
    start = dt.datetime.fromisoformat(traffic.start)
    assert (before - start).total_seconds() == pytest.approx(2 * 86400, abs=5), "the history ends now"
    assert min(p["createdAt"] for p in aips.values()) <= start + dt.timedelta(seconds=1), "the setup predates it"

    aip_id = aips["tenant-a-nova"]["inferenceProfileArn"].rsplit("/", 1)[-1]
    _workshop_cloudwatch(session.client("cloudwatch", endpoint_url=emulator), aip_id)
    _workshop_cost_explorer(session.client("ce", region_name="us-east-1", endpoint_url=emulator))
    _aws_cli_metrics(emulator, aip_id, tmp_path)


def _workshop_cloudwatch(cloudwatch: Any, aip_id: str) -> None:
    """fetch_metrices: the last 60 minutes, 1-minute Sums, ModelId = the AIP's id."""
    end_time = dt.datetime.now(dt.timezone.utc)
    start_time = end_time - dt.timedelta(minutes=60)
    answers = {
        metric: cloudwatch.get_metric_statistics(
            Namespace="AWS/Bedrock",
            MetricName=metric,
            Dimensions=[{"Name": "ModelId", "Value": aip_id}],
            StartTime=start_time,
            EndTime=end_time,
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        for metric in ("Invocations", "InputTokenCount", "OutputTokenCount")
    }
    assert all(answers.values()), {m: len(v) for m, v in answers.items()}
    assert all(start_time - dt.timedelta(minutes=1) <= p["Timestamp"] <= end_time for p in answers["Invocations"])
    assert sum(p["Sum"] for p in answers["InputTokenCount"]) > 0


def _workshop_cost_explorer(ce: Any) -> None:
    """fetch_bedrock_costs_by_tag: 30 days up to today (exclusive), SERVICE Amazon Bedrock and a tag; parse_cost_data."""
    end_date = dt.datetime.now().date()
    start_date = end_date - dt.timedelta(days=30)
    response = ce.get_cost_and_usage(
        TimePeriod={"Start": start_date.strftime("%Y-%m-%d"), "End": end_date.strftime("%Y-%m-%d")},
        Granularity="DAILY",
        Metrics=["BlendedCost", "UsageQuantity"],
        GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}],
        Filter={
            "And": [
                {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Bedrock"]}},
                {"Tags": {"Key": "TenantId", "Values": ["tenant-a"]}},
            ]
        },
    )
    costs = [
        float(g["Metrics"]["BlendedCost"]["Amount"])
        for r in response["ResultsByTime"]
        for g in r["Groups"]
        if g["Keys"][0] == "Amazon Bedrock"
    ]
    assert sum(costs) > 0, "tenant-a's Nova usage older than the 24 h billing lag is billed and tagged"
    other = ce.get_cost_and_usage(
        TimePeriod={"Start": start_date.isoformat(), "End": end_date.isoformat()},
        Granularity="DAILY",
        Metrics=["BlendedCost"],
        Filter={"Tags": {"Key": "TenantId", "Values": ["tenant-b"]}},
    )
    assert sum(float(r["Total"]["BlendedCost"]["Amount"]) for r in other["ResultsByTime"]) > 0


def _aws_cli_metrics(emulator: str, aip_id: str, home: Path) -> None:
    """The unmodified AWS CLI with a window from date(1)."""
    aws = shutil.which("aws") or str(Path(sys.executable).with_name("aws"))
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(home),
        "AWS_ENDPOINT_URL": emulator,
        "AWS_ACCESS_KEY_ID": SIM_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SIM_SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
    }
    script = (
        f'"{aws}" cloudwatch get-metric-statistics --namespace AWS/Bedrock --metric-name Invocations '
        f"--dimensions Name=ModelId,Value={aip_id} --statistics Sum --period 3600 "
        '--start-time "$(date -u -d "-1 day" +%Y-%m-%dT%H:%M:%SZ)" --end-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --output json'
    )
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    points = json.loads(done.stdout)["Datapoints"]
    assert len(points) >= 20 and sum(p["Sum"] for p in points) > 0


def test_clock_advance_moves_mocked_services_too(sim, session, emulator: str) -> None:
    ssm = session.client("ssm", endpoint_url=emulator)
    ssm.put_parameter(Name="/aipctl/now", Value="a", Type="String")
    before = ssm.get_parameter(Name="/aipctl/now")["Parameter"]["LastModifiedDate"]
    sim.advance(2 * 86400)
    ssm.put_parameter(Name="/aipctl/now", Value="b", Type="String", Overwrite=True)
    after = ssm.get_parameter(Name="/aipctl/now")["Parameter"]["LastModifiedDate"]
    assert (after - before).total_seconds() == pytest.approx(2 * 86400, abs=60)


def test_a_request_dated_in_the_future_is_refused(sim, session, emulator: str) -> None:
    from botocore.exceptions import ClientError

    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)).isoformat()
    runtime.meta.events.register(
        "before-send.bedrock-runtime", lambda request, **_: request.headers.__setitem__("X-Aipctl-Sim-Time", later)
    )
    with pytest.raises(ClientError) as exc:
        runtime.converse(modelId="eu.amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "in the future" in exc.value.response["Error"]["Message"]


def test_the_server_holds_a_thousand_keep_alive_connections(sim, emulator: str) -> None:
    host, port = emulator.removeprefix("http://").split(":")
    request = f"GET /_aipctl/health HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n".encode()
    sockets = []
    try:
        for _ in range(1000):
            conn = socket.create_connection((host, int(port)), timeout=30)
            conn.sendall(request)
            sockets.append(conn)
        answered = 0
        for conn in sockets:
            if b"200 OK" in conn.recv(4096):
                answered += 1
        assert answered == 1000
        assert sim.clock()["now"], "the control API still answers with 1,000 connections open"
    finally:
        for conn in sockets:
            conn.close()
