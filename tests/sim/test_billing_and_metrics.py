"""Cost Explorer and CloudWatch over emulated usage; expected figures computed here from the usage
each call returned and the catalog's prices, independently of the emulator's billing code."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import ROOT, SONNET_PROFILE

CATALOG = json.loads(Path(ROOT / "src/aipctl_sim/bedrock/catalog.json").read_text())
PRICES = {m["modelId"]: m["prices"] for m in CATALOG["models"]}
MESSAGES = [{"role": "user", "content": [{"text": "How much did we spend on the chat assistant?"}]}]
SONNET = "anthropic.claude-sonnet-4-6"


def cost(usage: dict, model: str, variant: str) -> Decimal:
    price = PRICES[model][variant]
    total = Decimal(str(price["input"])) * usage["inputTokens"] + Decimal(str(price["output"])) * usage["outputTokens"]
    return total / Decimal(1_000_000)


@pytest.fixture
def clients(session, emulator):
    return (
        session.client("bedrock-runtime", endpoint_url=emulator),
        session.client("ce", region_name="us-east-1", endpoint_url=emulator),
        session.client("cloudwatch", endpoint_url=emulator),
    )


@pytest.fixture
def aip(bedrock) -> str:
    return bedrock.create_inference_profile(
        inferenceProfileName="chat-sonnet",
        modelSource={"copyFrom": SONNET_PROFILE},
        tags=[{"key": "Application", "value": "chat"}, {"key": "Owner", "value": "team-a"}],
    )["inferenceProfileArn"]


def _window(sim, back_days: int = 1) -> dict:
    today = dt.datetime.fromisoformat(sim.clock()["now"]).date()
    return {
        "TimePeriod": {"Start": str(today - dt.timedelta(days=back_days)), "End": str(today + dt.timedelta(days=3))},
        "Granularity": "DAILY",
    }


def _groups(answer: dict) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for period in answer["ResultsByTime"]:
        for group in period["Groups"]:
            key = "|".join(group["Keys"])
            amount = next(iter(group["Metrics"].values()))["Amount"]
            out[key] = out.get(key, Decimal(0)) + Decimal(amount)
    return out


def test_cost_by_caller_tag_is_not_retroactive_and_lags(clients, aip: str, sim) -> None:
    runtime, ce, _ = clients
    before = runtime.converse(modelId=aip, messages=MESSAGES)["usage"]  # tag not active yet
    ce.update_cost_allocation_tags_status(CostAllocationTagsStatus=[{"TagKey": "Application", "Status": "Active"}])
    tagged = [runtime.converse(modelId=aip, messages=MESSAGES, inferenceConfig={"maxTokens": 50 + i})["usage"] for i in range(4)]
    bypass = runtime.converse(modelId="global.anthropic.claude-sonnet-4-6", messages=MESSAGES)["usage"]
    window = _window(sim, back_days=0)  # today, from before the advance: the day the usage lies on
    query = {**window, "Metrics": ["UnblendedCost", "UsageQuantity"], "GroupBy": [{"Type": "TAG", "Key": "Application"}]}
    assert _groups(ce.get_cost_and_usage(**query)) == {}, "usage shows only after the billing lag"
    sim.advance(25 * 3600)
    groups = _groups(ce.get_cost_and_usage(**query))
    expected_tagged = sum((cost(u, SONNET, "regional") for u in tagged), Decimal(0))
    expected_untagged = cost(before, SONNET, "regional") + cost(bypass, SONNET, "global")
    assert groups["Application$chat"] == expected_tagged.quantize(Decimal("1e-10")).normalize()
    assert groups["Application$"] == expected_untagged.quantize(Decimal("1e-10")).normalize()
    owner = _groups(ce.get_cost_and_usage(**{**query, "GroupBy": [{"Type": "TAG", "Key": "Owner"}]}))
    assert set(owner) == {"Owner$"}, "Owner was never activated"


def test_the_runbook_query_filters_by_service_and_groups_by_tag(clients, aip: str, sim) -> None:
    runtime, ce, _ = clients
    ce.update_cost_allocation_tags_status(CostAllocationTagsStatus=[{"TagKey": "Application", "Status": "Active"}])
    usage = runtime.converse(modelId=aip, messages=MESSAGES)["usage"]
    runtime.converse(modelId="eu.amazon.nova-lite-v1:0", messages=MESSAGES)  # other SERVICE: Amazon Bedrock
    sim.advance(25 * 3600)
    # two days back: after 23:00 UTC, usage from before a 25 h advance lies on the day before yesterday
    answer = ce.get_cost_and_usage(
        **_window(sim, back_days=2),
        Metrics=["UnblendedCost", "UsageQuantity"],
        GroupBy=[{"Type": "TAG", "Key": "Application"}],
        Filter={"Dimensions": {"Key": "SERVICE", "Values": ["Claude Sonnet 4.6 (Amazon Bedrock Edition)"]}},
    )
    assert _groups(answer) == {"Application$chat": cost(usage, SONNET, "regional").quantize(Decimal("1e-10")).normalize()}
    services = _groups(
        ce.get_cost_and_usage(
            **_window(sim, back_days=2), Metrics=["UnblendedCost"], GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}]
        )
    )
    assert set(services) == {"Claude Sonnet 4.6 (Amazon Bedrock Edition)", "Amazon Bedrock"}
    usage_types = _groups(
        ce.get_cost_and_usage(
            **_window(sim, back_days=2),
            Metrics=["UsageQuantity"],
            GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            Filter={"Not": {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Bedrock"]}}},
        )
    )
    # the Price List's usage types; Marketplace usage is counted in millions of tokens
    assert usage_types == {
        "EUC1-MP:EUC1_InputTokenCount-Units": Decimal(usage["inputTokens"]) / 1_000_000,
        "EUC1-MP:EUC1_OutputTokenCount-Units": Decimal(usage["outputTokens"]) / 1_000_000,
    }


def test_monthly_total_paging_and_validation(clients, aip: str, sim) -> None:
    runtime, ce, _ = clients
    for _ in range(3):
        runtime.converse(modelId=aip, messages=MESSAGES)
        sim.advance(86400)
    sim.advance(86400)
    monthly = ce.get_cost_and_usage(**{**_window(sim), "Granularity": "MONTHLY"}, Metrics=["BlendedCost"])
    assert all("Total" in r and r["Groups"] == [] for r in monthly["ResultsByTime"])
    sim.set_settings(ce_page_groups=1)
    window = {"TimePeriod": {"Start": _window(sim)["TimePeriod"]["Start"], "End": _window(sim)["TimePeriod"]["End"]}}
    daily = {**window, "Granularity": "DAILY", "Metrics": ["UnblendedCost"], "GroupBy": [{"Type": "TAG", "Key": "Application"}]}
    pages, token = 0, None
    while True:
        answer = ce.get_cost_and_usage(**daily, **({"NextPageToken": token} if token else {}))
        pages += 1
        token = answer.get("NextPageToken")
        if not token:
            break
    assert pages == 4
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as exc:
        ce.get_cost_and_usage(**daily, Filter={"Dimensions": {"Key": "COLOUR", "Values": ["x"]}})
    assert exc.value.response["Error"]["Code"] == "ValidationException"


def test_cloudwatch_metrics_per_aip(clients, aip: str, sim) -> None:
    runtime, _, cloudwatch = clients
    usages = [
        runtime.converse(modelId=aip, messages=MESSAGES, inferenceConfig={"maxTokens": 20 + 10 * i})["usage"] for i in range(5)
    ]
    runtime.converse(modelId="eu.anthropic.claude-sonnet-4-6", messages=MESSAGES)  # another ModelId
    now = dt.datetime.fromisoformat(sim.clock()["now"])
    profile_id = aip.rsplit("/", 1)[1]
    window = {"StartTime": now - dt.timedelta(hours=1), "EndTime": now + dt.timedelta(minutes=1)}
    dims = [{"Name": "ModelId", "Value": profile_id}]
    stats = cloudwatch.get_metric_statistics(
        Namespace="AWS/Bedrock",
        MetricName="OutputTokenCount",
        Dimensions=dims,
        Period=7200,
        Statistics=["Sum", "SampleCount"],
        **window,
    )["Datapoints"]
    assert sum(p["Sum"] for p in stats) == sum(u["outputTokens"] for u in usages)
    assert sum(p["SampleCount"] for p in stats) == 5
    latency = cloudwatch.get_metric_statistics(
        Namespace="AWS/Bedrock",
        MetricName="InvocationLatency",
        Dimensions=dims,
        Period=7200,
        ExtendedStatistics=["p50", "p99"],
        **window,
    )["Datapoints"]
    latencies = sorted(int(150 + 6 * u["outputTokens"] + 0.02 * u["inputTokens"]) for u in usages)
    assert latency[0]["ExtendedStatistics"] == {"p50": latencies[2], "p99": latencies[4]}
    data = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "inv",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/Bedrock", "MetricName": "Invocations"},
                    "Period": 7200,
                    "Stat": "Sum",
                },
            }
        ],
        **window,
    )["MetricDataResults"]
    assert sum(data[0]["Values"]) == 6, "without dimensions: every model"
    ids = {
        d["Dimensions"][0]["Value"] for d in cloudwatch.list_metrics(Namespace="AWS/Bedrock", MetricName="Invocations")["Metrics"]
    }
    assert ids == {profile_id, "eu.anthropic.claude-sonnet-4-6"}


def test_throttles_and_client_errors_are_counted(clients, aip: str, sim, session, emulator) -> None:
    _, _, cloudwatch = clients
    from botocore.config import Config
    from botocore.exceptions import ClientError

    runtime = session.client(
        "bedrock-runtime", endpoint_url=emulator, config=Config(retries={"total_max_attempts": 1, "mode": "standard"})
    )
    sim.set_faults([{"service": "bedrock-runtime", "throttle_rate": 1.0}])
    for _ in range(2):
        with pytest.raises(ClientError):
            runtime.converse(modelId=aip, messages=MESSAGES)
    sim.set_faults([])
    with pytest.raises(ClientError):
        runtime.invoke_model(modelId=aip, body=b"{}")
    now = dt.datetime.fromisoformat(sim.clock()["now"])
    window = {"StartTime": now - dt.timedelta(hours=1), "EndTime": now + dt.timedelta(minutes=1), "Period": 7200}
    dims = [{"Name": "ModelId", "Value": aip.rsplit("/", 1)[1]}]

    def total(metric: str) -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Bedrock", MetricName=metric, Dimensions=dims, Statistics=["Sum"], **window
        )
        return sum(p["Sum"] for p in points["Datapoints"])

    assert (total("InvocationThrottles"), total("InvocationClientErrors"), total("Invocations")) == (2, 1, 0)
