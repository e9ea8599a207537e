"""Service Quotas for Bedrock, Cost Explorer's GetTags and GetCostForecast, and what nothing emulates.

Unmodified clients: the AWS CLI from PyPI and plain boto3, against the emulator over HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
from aipctl.inventory import example_inventory, parse_inventory
from aipctl.plan import apply_plan, make_plan
from aipctl.simulate.traffic import run_traffic
from tests.conftest import REGION, SONNET_PROFILE


def _aws(emulator: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    aws = shutil.which("aws") or str(Path(sys.executable).with_name("aws"))
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(home),
        "AWS_ENDPOINT_URL": emulator,
        "AWS_ACCESS_KEY_ID": SIM_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SIM_SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
    }
    return subprocess.run([aws, *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=120)


def test_bedrock_quotas_are_listed_raised_and_enforced(sim, session, emulator: str, bedrock, tmp_path: Path) -> None:
    listed = _aws(emulator, tmp_path, "service-quotas", "list-service-quotas", "--service-code", "bedrock")
    assert listed.returncode == 0, listed.stderr
    quota = {q["QuotaCode"]: q for q in json.loads(listed.stdout)["Quotas"]}["L-40EC9882"]
    assert quota["QuotaName"] == "Inference profiles per account" and quota["Value"] == 1000.0 and quota["Adjustable"]
    sim.set_quotas({"application-inference-profiles": 2})
    quotas = session.client("service-quotas", endpoint_url=emulator)
    assert quotas.get_service_quota(ServiceCode="bedrock", QuotaCode="L-40EC9882")["Quota"]["Value"] == 2.0
    for name in ("a", "b"):
        bedrock.create_inference_profile(inferenceProfileName=name, modelSource={"copyFrom": SONNET_PROFILE})
    with pytest.raises(ClientError) as exc:
        bedrock.create_inference_profile(inferenceProfileName="c", modelSource={"copyFrom": SONNET_PROFILE})
    assert exc.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    asked = quotas.request_service_quota_increase(ServiceCode="bedrock", QuotaCode="L-40EC9882", DesiredValue=3)
    assert asked["RequestedQuota"]["Status"] == "APPROVED" and asked["RequestedQuota"]["DesiredValue"] == 3.0
    again = quotas.get_requested_service_quota_change(RequestId=asked["RequestedQuota"]["Id"])["RequestedQuota"]
    assert again["QuotaCode"] == "L-40EC9882"
    bedrock.create_inference_profile(inferenceProfileName="c", modelSource={"copyFrom": SONNET_PROFILE})
    default = quotas.get_aws_default_service_quota(ServiceCode="bedrock", QuotaCode="L-40EC9882")["Quota"]["Value"]
    assert default == 1000.0, "the AWS default stays what AWS documents"
    with pytest.raises(ClientError) as lower:
        quotas.request_service_quota_increase(ServiceCode="bedrock", QuotaCode="L-40EC9882", DesiredValue=2)
    assert lower.value.response["Error"]["Code"] == "IllegalArgumentException"
    with pytest.raises(ClientError) as unknown:
        quotas.get_service_quota(ServiceCode="bedrock", QuotaCode="L-00000000")
    assert unknown.value.response["Error"]["Code"] == "NoSuchResourceException"


@pytest.fixture
def billed(sim, target, session, emulator: str) -> dict[str, Any]:
    loaded = parse_inventory(example_inventory(), "aipctl.yaml")
    apply_plan(make_plan(loaded, target), target)
    run_traffic(loaded, target, days=4, seed=11, calls_per_day=20)
    return {"ce": session.client("ce", region_name="us-east-1", endpoint_url=emulator), "loaded": loaded}


def test_get_tags_names_the_billed_tag_values(billed: dict[str, Any], emulator: str, tmp_path: Path) -> None:
    today = dt.date.today()
    window = f"Start={today - dt.timedelta(days=10)},End={today}"
    keys = _aws(emulator, tmp_path, "ce", "get-tags", "--time-period", window)
    assert keys.returncode == 0, keys.stderr
    assert {"Application", "Owner", "Environment"} <= set(json.loads(keys.stdout)["Tags"])
    values = billed["ce"].get_tags(
        TimePeriod={"Start": str(today - dt.timedelta(days=10)), "End": str(today)}, TagKey="Application"
    )["Tags"]
    bypasser = "receptionist"  # the traffic's default bypasser calls its model directly: untagged
    assert set(values) == set(billed["loaded"].inventory.callers) - {bypasser}
    searched = billed["ce"].get_tags(
        TimePeriod={"Start": str(today - dt.timedelta(days=10)), "End": str(today)}, TagKey="Application", SearchString="mcp"
    )
    assert set(searched["Tags"]) == {"mcp-whatsapp", "mcp-hosted"}


def test_cost_forecast_follows_the_billed_days(billed: dict[str, Any], emulator: str, tmp_path: Path) -> None:
    today = dt.date.today()
    history = billed["ce"].get_cost_and_usage(
        TimePeriod={"Start": str(today - dt.timedelta(days=14)), "End": str(today)},
        Granularity="DAILY",
        Metrics=["UnblendedCost"],
    )["ResultsByTime"]
    amounts = [Decimal(r["Total"]["UnblendedCost"]["Amount"]) for r in history]
    first = next(i for i, a in enumerate(amounts) if a > 0)
    mean = statistics.fmean(float(a) for a in amounts[first:])
    done = _aws(
        emulator,
        tmp_path,
        "ce",
        "get-cost-forecast",
        "--time-period",
        f"Start={today},End={today + dt.timedelta(days=7)}",
        "--metric",
        "UNBLENDED_COST",
        "--granularity",
        "DAILY",
    )
    assert done.returncode == 0, done.stderr
    forecast = json.loads(done.stdout)
    assert len(forecast["ForecastResultsByTime"]) == 7
    assert float(forecast["Total"]["Amount"]) == pytest.approx(7 * mean, rel=1e-6)
    day = forecast["ForecastResultsByTime"][0]
    assert float(day["PredictionIntervalLowerBound"]) <= float(day["MeanValue"]) <= float(day["PredictionIntervalUpperBound"])
    with pytest.raises(ClientError) as past:
        billed["ce"].get_cost_forecast(
            TimePeriod={"Start": str(today - dt.timedelta(days=3)), "End": str(today)},
            Metric="UNBLENDED_COST",
            Granularity="DAILY",
        )
    assert past.value.response["Error"]["Code"] == "ValidationException"


def test_an_operation_nothing_emulates_is_a_clear_error_answered_once(sim, session, emulator: str, tmp_path: Path) -> None:
    ce = session.client("ce", region_name="us-east-1", endpoint_url=emulator)
    with pytest.raises(ClientError) as exc:
        ce.get_anomalies(DateInterval={"StartDate": str(dt.date.today())})
    error = exc.value.response
    assert error["Error"]["Code"] == "NotImplemented" and "GetAnomalies is not emulated" in error["Error"]["Message"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501 and error["ResponseMetadata"]["RetryAttempts"] == 0
    cli = _aws(emulator, tmp_path, "ce", "get-anomalies", "--date-interval", f"StartDate={dt.date.today()}")
    assert cli.returncode != 0 and "not emulated" in cli.stderr
