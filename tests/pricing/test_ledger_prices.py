"""The ledger prices what the invocation log says: service tier and cache TTL from the bodies when the log carries
them, a cost range when it does not (text delivery off), the call's Region. Expected from the Price List."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import log_destinations
from tests.pricing.test_price_book import HAIKU, NOVA_PRO, _list_price

MESSAGES = [{"role": "user", "content": [{"text": "Which team spent most this week?"}]}]
SYSTEM_1H = [{"text": "policy " * 1200}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
SERVICE = "Claude Haiku 4.5 (Amazon Bedrock Edition)"


def _logged(session: Any, emulator: str, bucket: str, *, text: bool) -> Any:
    log_destinations(lambda service: session.client(service, endpoint_url=emulator), bucket, "raw")
    session.client("bedrock", endpoint_url=emulator).put_model_invocation_logging_configuration(
        loggingConfig={"s3Config": {"bucketName": bucket, "keyPrefix": "raw"}, "textDataDeliveryEnabled": text}
    )
    return session.client("bedrock-runtime", endpoint_url=emulator)


def _by_model(cli: Any, uri: str) -> dict[str, dict[str, Any]]:
    ingested = cli("meter", "ingest", uri, "--json")
    assert ingested.code == 0, ingested.err
    return {r["model"]: r for r in cli("meter", "query", "--by", "model", "--json").json}


def test_tiers_and_one_hour_writes_priced_from_the_log_bodies(cli, session: Any, emulator: str) -> None:
    runtime = _logged(session, emulator, "tier-logs", text=True)
    cached = runtime.converse(modelId=f"eu.{HAIKU}", messages=MESSAGES, system=SYSTEM_1H)["usage"]
    flex = runtime.converse(modelId=NOVA_PRO, messages=MESSAGES, serviceTier={"type": "flex"})["usage"]
    rows = _by_model(cli, "s3://tier-logs/raw")

    def mp(usage_type: str) -> Decimal:
        return _list_price(session, emulator, "AmazonBedrockFoundationModels", "eu-central-1", usage_type, servicename=SERVICE)

    def fp(usage_type: str) -> Decimal:
        return _list_price(session, emulator, "AmazonBedrock", "eu-central-1", usage_type)

    haiku = (
        cached["inputTokens"] * mp("EUC1-MP:EUC1_InputTokenCount-Units")
        + cached["outputTokens"] * mp("EUC1-MP:EUC1_OutputTokenCount-Units")
        + cached["cacheWriteInputTokens"] * mp("EUC1-MP:EUC1_CacheWrite1hInputTokenCount-Units")
    ) / 1_000_000
    nova = (
        flex["inputTokens"] * fp("EUC1-NovaPro-input-tokens-flex") + flex["outputTokens"] * fp("EUC1-NovaPro-output-tokens-flex")
    ) / 1_000_000
    assert rows[HAIKU]["cost_usd"] == pytest.approx(float(haiku), rel=1e-9)
    assert rows[NOVA_PRO]["cost_usd"] == pytest.approx(float(nova), rel=1e-9)
    assert rows[HAIKU]["cost_max_usd"] == rows[HAIKU]["cost_usd"], "the body said which TTL"
    assert all(r["unpriced_calls"] == 0 for r in rows.values())


def test_without_bodies_cache_writes_are_a_range(cli, session: Any, emulator: str) -> None:
    runtime = _logged(session, emulator, "bare-logs", text=False)
    cached = runtime.converse(modelId=f"eu.{HAIKU}", messages=MESSAGES, system=SYSTEM_1H)["usage"]
    row = _by_model(cli, "s3://bare-logs/raw")[HAIKU]

    def mp(usage_type: str) -> Decimal:
        return _list_price(session, emulator, "AmazonBedrockFoundationModels", "eu-central-1", usage_type, servicename=SERVICE)

    base = cached["inputTokens"] * mp("EUC1-MP:EUC1_InputTokenCount-Units") + cached["outputTokens"] * mp(
        "EUC1-MP:EUC1_OutputTokenCount-Units"
    )
    low = (base + cached["cacheWriteInputTokens"] * mp("EUC1-MP:EUC1_CacheWriteInputTokenCount-Units")) / 1_000_000
    high = (base + cached["cacheWriteInputTokens"] * mp("EUC1-MP:EUC1_CacheWrite1hInputTokenCount-Units")) / 1_000_000
    assert row["cost_usd"] == pytest.approx(float(low), rel=1e-9)
    assert row["cost_max_usd"] == pytest.approx(float(high), rel=1e-9) and high > low
