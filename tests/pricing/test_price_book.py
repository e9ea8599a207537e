"""The price book: read from the Price List API (the emulator's, over HTTP), priced per Region, route, tier and
TTL. Expected figures come from the Price List the test reads itself with boto3's ``pricing`` client."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aipctl import pricing
from aipctl.pricing import ModelRef, Unpriced
from aipctl.pricing.pricelist import Dimension, parse_products, parse_usage_type, per_million

NOVA_PRO = "amazon.nova-pro-v1:0"
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"


@pytest.fixture(autouse=True)
def _default_book() -> Any:
    yield
    pricing.use_book(None)


def _list_price(session: Any, emulator: str, code: str, region: str, usage_type: str, **match: str) -> Decimal:
    """USD per million tokens of one product, straight from GetProducts."""
    client = session.client("pricing", region_name="us-east-1", endpoint_url=emulator)
    filters = [
        {"Type": "TERM_MATCH", "Field": k, "Value": v}
        for k, v in {"regionCode": region, "usagetype": usage_type, **match}.items()
    ]
    (raw,) = client.get_products(ServiceCode=code, Filters=filters)["PriceList"]
    (term,) = json.loads(raw)["terms"]["OnDemand"].values()
    (dimension,) = term["priceDimensions"].values()
    per_unit = Decimal(dimension["pricePerUnit"]["USD"])
    return per_unit * (1000 if dimension["unit"] == "1K tokens" else 1)


@pytest.mark.parametrize(
    ("usage_type", "expected"),
    [
        ("USE1-MP:USE1_InputTokenCount-Units", Dimension("input", "regional", "default")),
        ("USE1-MP:USE1_CacheWrite1hInputTokenCount_Global-Units", Dimension("cache_write_1h", "global", "default")),
        ("USW2-MP:USW2_InputTokenCount_Global_Batch-Units", Dimension("input", "global", "batch")),
        ("USW2-MP:USW2_OutputTokenCount_Geo-Units", Dimension("output", "regional", "default")),
        ("USW2-MP:USW2_output_tokens_global_standard-Units", Dimension("output", "global", "default")),
        ("USW2-MP:USW2_cache_write_tokens_1h_standard-Units", Dimension("cache_write_1h", "regional", "default")),
        ("USE1-MP:USE1_input_tokens_flex-Units", Dimension("input", "regional", "flex")),
        ("APN1-NovaPro-input-tokens", Dimension("input", "regional", "default")),
        ("USE1-NovaPro-output-tokens-flex", Dimension("output", "regional", "flex")),
        ("USE1-NovaPro-cache-read-input-token-count-priority", Dimension("cache_read", "regional", "priority")),
        ("APN1-Nova2.0Lite-input-tokens-cross-region-global", Dimension("input", "global", "default")),
        ("USE1-MP:USE1_Reserved_1Month_InputTPM_Geo-Units", False),
        ("USE1-MP:USE1_InputTokenCount_LCtx_Global-Units", False),
        ("USE1-MP:USE1_InputTokenCount_Quantum-Units", None),
        ("", None),
    ],
)
def test_both_usage_type_grammars(usage_type: str, expected: object) -> None:
    assert parse_usage_type(usage_type) == expected


def test_units_and_bad_products_are_counted_not_priced() -> None:
    assert per_million("0.0008000000", "1K tokens", "AmazonBedrock") == Decimal("0.8")
    assert per_million("3.3", "1M tokens", "AmazonBedrockFoundationModels") == Decimal("3.3")
    assert per_million("5", "Hrs", "AmazonBedrock") is None and per_million("x", "1M tokens", "AmazonBedrock") is None
    item = {
        "product": {"attributes": {"usagetype": "USE1-NovaPro-input-tokens", "model": "Nova Pro", "regionCode": "us-east-1"}},
        "terms": {"OnDemand": {"T": {"priceDimensions": {"D": {"unit": "per image", "pricePerUnit": {"USD": "0.04"}}}}}},
    }
    parsed = parse_products(["{not json", json.dumps(item)], "AmazonBedrock")
    assert parsed.rates == [] and parsed.products == 2
    assert parsed.unparsed == {"(malformed product)": 1, "USE1-NovaPro-input-tokens": 1}


def test_refresh_reads_the_price_list_into_the_state_dir(cli, session: Any, emulator: str, workdir: Path) -> None:
    refreshed = cli("prices", "refresh", "--region", "eu-central-1", "--region", "ap-northeast-1", "--json")
    assert refreshed.code == 0, refreshed.err
    summary = refreshed.json
    assert summary["unparsed"] == {} and summary["models"] >= 15 and summary["regions"] == ["ap-northeast-1", "eu-central-1"]
    assert (workdir / summary["path"]).resolve() == workdir / ".aipctl" / "prices-sim.json" and "Price List" in summary["source"]
    shown = cli("prices", "show", "--model", NOVA_PRO, "--region", "ap-northeast-1", "--json").json
    assert shown["book"]["path"].endswith("prices-sim.json")
    rates = {(r["route"], r["tier"], r["kind"]): Decimal(str(r["usd_per_million"])) for r in shown["rates"]}
    assert rates[("regional", "default", "input")] == _list_price(
        session, emulator, "AmazonBedrock", "ap-northeast-1", "APN1-NovaPro-input-tokens"
    )
    assert rates[("regional", "flex", "output")] == _list_price(
        session, emulator, "AmazonBedrock", "ap-northeast-1", "APN1-NovaPro-output-tokens-flex"
    )
    # the Regions not read keep the prices they had (from the shipped snapshot here)
    elsewhere = cli("prices", "show", "--model", NOVA_PRO, "--region", "us-east-1", "--json").json["rates"]
    assert {(r["tier"], r["kind"]): r["usd_per_million"] for r in elsewhere}[("default", "input")] == float(
        _list_price(session, emulator, "AmazonBedrock", "us-east-1", "USE1-NovaPro-input-tokens")
    )
    bad = cli("prices", "show", "--model", "nope.model")
    assert bad.code == 2 and "not in the price book" in bad.err


def test_costs_by_region_tier_and_ttl_equal_the_price_list(session: Any, emulator: str) -> None:
    book = pricing.price_book()
    tokyo = ModelRef(NOVA_PRO, None, "ap-northeast-1")
    frankfurt = ModelRef(NOVA_PRO, "eu", "eu-central-1")
    per_m = {
        "tokyo": _list_price(session, emulator, "AmazonBedrock", "ap-northeast-1", "APN1-NovaPro-input-tokens"),
        "frankfurt": _list_price(session, emulator, "AmazonBedrock", "eu-central-1", "EUC1-NovaPro-input-tokens"),
        "flex": _list_price(session, emulator, "AmazonBedrock", "eu-central-1", "EUC1-NovaPro-input-tokens-flex"),
        "priority": _list_price(session, emulator, "AmazonBedrock", "eu-central-1", "EUC1-NovaPro-input-tokens-priority"),
    }
    assert book.cost(tokyo, input_tokens=1_000_000) == per_m["tokyo"] > per_m["frankfurt"], "a Region premium"
    assert book.cost(frankfurt, input_tokens=1_000_000) == per_m["frankfurt"]
    assert book.cost(frankfurt, input_tokens=1_000_000, tier="flex") == per_m["flex"]
    assert book.cost(frankfurt, input_tokens=1_000_000, tier="priority") == per_m["priority"]
    haiku = ModelRef.from_source(f"eu.{HAIKU}", "eu-central-1")
    service = "Claude Haiku 4.5 (Amazon Bedrock Edition)"
    five = _list_price(
        session,
        emulator,
        "AmazonBedrockFoundationModels",
        "eu-central-1",
        "EUC1-MP:EUC1_CacheWriteInputTokenCount-Units",
        servicename=service,
    )
    hour = _list_price(
        session,
        emulator,
        "AmazonBedrockFoundationModels",
        "eu-central-1",
        "EUC1-MP:EUC1_CacheWrite1hInputTokenCount-Units",
        servicename=service,
    )
    assert book.cost(haiku, cache_write=2_000_000, cache_write_1h=1_000_000) == 2 * five + hour
    with pytest.raises(Unpriced, match="no flex-tier price"):
        book.cost(haiku, input_tokens=10, tier="flex")
    with pytest.raises(Unpriced, match="cache_write_1h"):
        book.cost(frankfurt, input_tokens=10, cache_write_1h=5)
    with pytest.raises(Unpriced):
        book.cost(ModelRef("vendor.unknown-model"), input_tokens=1)


def test_a_partial_refresh_merges_into_the_book_without_changing_other_regions() -> None:
    from aipctl.pricing import shipped_book
    from aipctl.pricing.pricelist import expand, merged

    models = shipped_book().models
    assert merged(models, models, ["eu-central-1", "ap-northeast-1"]) == models, "the same prices: the same book"
    tokyo_only = {
        m: {**e, "priced_regions": ["ap-northeast-1"]} for m, e in models.items() if "ap-northeast-1" in e["priced_regions"]
    }
    again = merged(tokyo_only, models, ["ap-northeast-1"])
    assert {m: expand(e) for m, e in again.items()} == {m: expand(e) for m, e in models.items()}


def test_bad_refresh_and_pricing_flags_are_refused(cli) -> None:
    nowhere = cli("prices", "refresh", "--region", "xx-nowhere-9")
    assert nowhere.code == 1 and "answered no Bedrock token prices" in nowhere.err and "Traceback" not in nowhere.err
    both = cli("prices", "refresh", "--region", "eu-central-1", "--all-regions")
    assert both.code == 2 and "exclude each other" in both.err
    assert cli("report", "--advise", "--since", "2h").code == 2
    assert cli("sim", "settings", "--discount", "150").code == 2
