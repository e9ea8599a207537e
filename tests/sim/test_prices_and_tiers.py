"""The emulator's Price List API, service tiers, 1-hour cache writes and what the bill makes of them.

Expected costs are worked out here from the Price List the emulator serves (read over HTTP with boto3's
``pricing`` client), never from the emulator's billing code.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import REGION

HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
NOVA_PRO = "amazon.nova-pro-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Summarise yesterday's spend per team."}]}]
LONG_SYSTEM = "policy " * 1200  # 8,400 characters = 2,100 tokens: a cacheable prefix


@pytest.fixture
def pricing(session: Any, emulator: str) -> Any:
    return session.client("pricing", region_name="us-east-1", endpoint_url=emulator)


@pytest.fixture
def runtime(session: Any, emulator: str) -> Any:
    return session.client("bedrock-runtime", endpoint_url=emulator)


@pytest.fixture
def ce(session: Any, emulator: str) -> Any:
    return session.client("ce", region_name="us-east-1", endpoint_url=emulator)


HAIKU_SERVICE = "Claude Haiku 4.5 (Amazon Bedrock Edition)"


def price_list(pricing: Any, code: str, region: str, **match: str) -> dict[str, tuple[Decimal, str]]:
    """usagetype -> (USD per unit, unit) of the products of ``code`` in ``region`` (and ``match``'s attributes),
    paging as a client must. Marketplace usage types do not name the model: its ``servicename`` does."""
    out: dict[str, tuple[Decimal, str]] = {}
    filters = [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in {"regionCode": region, **match}.items()]
    pages = pricing.get_paginator("get_products").paginate(ServiceCode=code, Filters=filters)
    for page in pages:
        assert page["FormatVersion"] == "aws_v1"
        for raw in page["PriceList"]:
            item = json.loads(raw)
            (term,) = item["terms"]["OnDemand"].values()
            (dimension,) = term["priceDimensions"].values()
            out[item["product"]["attributes"]["usagetype"]] = (Decimal(dimension["pricePerUnit"]["USD"]), dimension["unit"])
    return out


def per_token(entry: tuple[Decimal, str]) -> Decimal:
    price, unit = entry
    return price / {"1M tokens": 1_000_000, "1K tokens": 1_000}[unit]


def test_the_price_list_has_every_dimension_in_aws_grammar(pricing: Any) -> None:
    everything = pricing.get_paginator("get_products").paginate(ServiceCode="AmazonBedrockFoundationModels")
    assert sum(len(page["PriceList"]) for page in everything) > 1000, "paged through all of it"
    # Claude Haiku 4.5: in-Region input, 5-minute and 1-hour cache writes, global route, batch
    haiku = price_list(pricing, "AmazonBedrockFoundationModels", "us-east-1", servicename=HAIKU_SERVICE)
    assert {"USE1-MP:USE1_CacheWrite1hInputTokenCount-Units", "USE1-MP:USE1_InputTokenCount_Global_Batch-Units"} <= set(haiku)
    assert haiku["USE1-MP:USE1_InputTokenCount-Units"] == (Decimal("1.1"), "1M tokens")
    first_party_east = price_list(pricing, "AmazonBedrock", "us-east-1")
    first_party_tokyo = price_list(pricing, "AmazonBedrock", "ap-northeast-1")
    east = first_party_east["USE1-NovaPro-input-tokens"]
    tokyo = first_party_tokyo["APN1-NovaPro-input-tokens"]
    assert east[1] == "1K tokens" and tokyo[0] > east[0], "a Region premium"
    assert (
        first_party_east["USE1-NovaPro-input-tokens-flex"][0]
        < east[0]
        < first_party_east["USE1-NovaPro-input-tokens-priority"][0]
    )
    assert "USE1-NovaLite-input-tokens-flex" not in first_party_east, "tiers exist for some models only"
    services = pricing.describe_services(ServiceCode="AmazonBedrock")["Services"]
    assert {"usagetype", "regionCode", "model", "service_tier"} <= set(services[0]["AttributeNames"])
    values = pricing.get_attribute_values(ServiceCode="AmazonBedrock", AttributeName="service_tier")["AttributeValues"]
    assert {v["Value"] for v in values} == {"standard", "priority", "flex"}
    with pytest.raises(ClientError) as missing:
        pricing.get_products(ServiceCode="AmazonEC2")
    assert missing.value.response["Error"]["Code"] == "NotFoundException"


def test_service_tiers_are_served_where_the_model_has_them(runtime: Any) -> None:
    flex = runtime.converse(modelId=NOVA_PRO, messages=MESSAGES, serviceTier={"type": "flex"})
    assert flex["serviceTier"] == {"type": "flex"}
    invoked = runtime.invoke_model(
        modelId=NOVA_PRO,
        body=json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        serviceTier="priority",
    )
    assert invoked["serviceTier"] == "priority"
    assert "serviceTier" not in runtime.converse(modelId=NOVA_PRO, messages=MESSAGES), "not asked, not echoed"
    for model, tier, message in (
        (f"eu.{HAIKU}", "flex", "does not support the flex service tier"),
        ("amazon.nova-lite-v1:0", "priority", "does not support the priority service tier"),
        (NOVA_PRO, "reserved", "Reservation not found."),
    ):
        with pytest.raises(ClientError) as refused:
            runtime.converse(modelId=model, messages=MESSAGES, serviceTier={"type": tier})
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert message in refused.value.response["Error"]["Message"]


def test_one_hour_cache_points_outlive_five_minutes(runtime: Any, sim: Any) -> None:
    system = [{"text": LONG_SYSTEM}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
    first = runtime.converse(modelId=f"eu.{HAIKU}", messages=MESSAGES, system=system)["usage"]
    assert first["cacheWriteInputTokens"] == 2100 and first["cacheDetails"] == [{"ttl": "1h", "inputTokens": 2100}]
    sim.advance(30 * 60)
    later = runtime.converse(modelId=f"eu.{HAIKU}", messages=MESSAGES, system=system)["usage"]
    assert later["cacheReadInputTokens"] == 2100, "still cached after 30 minutes"
    short = [{"text": LONG_SYSTEM + " v2"}, {"cachePoint": {"type": "default"}}]
    assert runtime.converse(modelId=f"eu.{HAIKU}", messages=MESSAGES, system=short)["usage"]["cacheDetails"] == [
        {"ttl": "5m", "inputTokens": 2101}
    ]
    with pytest.raises(ClientError) as refused:
        runtime.converse(modelId="eu.amazon.nova-pro-v1:0", messages=MESSAGES, system=system)
    assert "does not support a 1h cache TTL" in refused.value.response["Error"]["Message"]


def _by_usage_type(ce: Any, sim: Any, metric: str = "UnblendedCost") -> dict[str, Decimal]:
    today = dt.datetime.fromisoformat(sim.clock()["now"]).date()
    answer = ce.get_cost_and_usage(
        TimePeriod={"Start": str(today - dt.timedelta(days=3)), "End": str(today + dt.timedelta(days=1))},
        Granularity="MONTHLY",
        Metrics=[metric],
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    )
    out: dict[str, Decimal] = {}
    for period in answer["ResultsByTime"]:
        for group in period["Groups"]:
            out[group["Keys"][0]] = out.get(group["Keys"][0], Decimal(0)) + Decimal(group["Metrics"][metric]["Amount"])
    return out


def test_the_bill_prices_tiers_ttls_and_the_account_discount(runtime: Any, ce: Any, pricing: Any, sim: Any) -> None:
    sim.set_settings(billing_discount_pct=12.5)
    system = [{"text": LONG_SYSTEM}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
    cached = runtime.converse(modelId=f"eu.{HAIKU}", messages=MESSAGES, system=system)["usage"]
    flex = runtime.converse(modelId=NOVA_PRO, messages=MESSAGES, serviceTier={"type": "flex"})["usage"]
    plain = runtime.converse(modelId=NOVA_PRO, messages=MESSAGES)["usage"]
    sim.advance(25 * 3600)

    marketplace = price_list(pricing, "AmazonBedrockFoundationModels", REGION, servicename=HAIKU_SERVICE)
    first_party = price_list(pricing, "AmazonBedrock", REGION, model="Nova Pro")
    expected = {
        "EUC1-MP:EUC1_InputTokenCount-Units": cached["inputTokens"]
        * per_token(marketplace["EUC1-MP:EUC1_InputTokenCount-Units"]),
        "EUC1-MP:EUC1_OutputTokenCount-Units": cached["outputTokens"]
        * per_token(marketplace["EUC1-MP:EUC1_OutputTokenCount-Units"]),
        "EUC1-MP:EUC1_CacheWrite1hInputTokenCount-Units": cached["cacheWriteInputTokens"]
        * per_token(marketplace["EUC1-MP:EUC1_CacheWrite1hInputTokenCount-Units"]),
        "EUC1-NovaPro-input-tokens-flex": flex["inputTokens"] * per_token(first_party["EUC1-NovaPro-input-tokens-flex"]),
        "EUC1-NovaPro-output-tokens-flex": flex["outputTokens"] * per_token(first_party["EUC1-NovaPro-output-tokens-flex"]),
        "EUC1-NovaPro-input-tokens": plain["inputTokens"] * per_token(first_party["EUC1-NovaPro-input-tokens"]),
        "EUC1-NovaPro-output-tokens": plain["outputTokens"] * per_token(first_party["EUC1-NovaPro-output-tokens"]),
    }
    billed = _by_usage_type(ce, sim)
    assert billed == {k: v.quantize(Decimal("1e-10")).normalize() for k, v in expected.items()}
    one_hour = marketplace["EUC1-MP:EUC1_CacheWrite1hInputTokenCount-Units"][0]
    assert (
        one_hour
        == 2 * marketplace["EUC1-MP:EUC1_InputTokenCount-Units"][0]
        > marketplace["EUC1-MP:EUC1_CacheWriteInputTokenCount-Units"][0]
    ), "1 h writes cost more than 5 min writes"
    net = _by_usage_type(ce, sim, "NetUnblendedCost")
    assert abs(sum(net.values()) - sum(billed.values()) * Decimal("0.875")) < Decimal("1e-9"), "the 12.5 % discount"
