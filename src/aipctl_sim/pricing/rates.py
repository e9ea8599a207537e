"""The emulated AWS Price List for Bedrock: one rate per model × Region × route × tier × token kind.

Where the numbers come from (what the emulator bills, and what its ``pricing`` API answers):

- Standard (``default``) tier, in-Region and geo routes at the ``regional`` price, ``global.`` profiles at the
  ``global`` price: the catalog's prices (a genai-prices snapshot, ``scripts/build_catalog.py``).
- A 1-hour cache write costs twice the input price, a 5-minute write 1.25 times (Claude Haiku 4.5 in the
  Price List: input $1.10, ``CacheWriteInputTokenCount`` $1.375, ``CacheWrite1hInputTokenCount`` $2.20).
- ``priority`` is 1.75 times and ``flex`` half the standard price, batch half the standard input and output
  price (Nova Pro in the Price List: input $0.0008 per 1K, ``-input-tokens-priority`` $0.0014,
  ``-output-tokens-flex`` $0.0016 against $0.0032, ``-input-tokens-batch`` half the on-demand rate).
- Amazon's own models cost 20 % more in ap-northeast-1 (Nova Pro input there: $0.00096 per 1K).

Usage types follow the two grammars the Price List uses: Marketplace models (Anthropic, Cohere; service code
``AmazonBedrockFoundationModels``, priced per million tokens) ``USE1-MP:USE1_InputTokenCount_Global-Units``;
Amazon's models (``AmazonBedrock``, per thousand tokens) ``USE1-NovaPro-input-tokens-flex``. Billing uses the
same usage types (Cost Explorer's USAGE_TYPE, CUR's ``line_item_usage_type``) and the same units for usage.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib.resources import files

from aipctl_sim.bedrock.catalog import FoundationModel, catalog

KINDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
TIERS = ("default", "priority", "flex", "batch")
ROUTES = ("regional", "global")
_FACTOR = {"default": Decimal(1), "priority": Decimal("1.75"), "flex": Decimal("0.5"), "batch": Decimal("0.5")}
#: Region premiums of Amazon's own models (Price List, ap-northeast-1).
REGION_PREMIUM = {"ap-northeast-1": Decimal("1.2")}
LONG_CACHE_FACTOR = Decimal(2)
FOUNDATION_MODELS_CODE = "AmazonBedrockFoundationModels"
BEDROCK_CODE = "AmazonBedrock"
PUBLICATION_DATE = "2026-11-20T00:00:00Z"
_MP_NAMES = {
    "input": "InputTokenCount",
    "output": "OutputTokenCount",
    "cache_read": "CacheReadInputTokenCount",
    "cache_write": "CacheWriteInputTokenCount",
    "cache_write_1h": "CacheWrite1hInputTokenCount",
}
_FIRST_PARTY_NAMES = {
    "input": "input-tokens",
    "output": "output-tokens",
    "cache_read": "cache-read-input-token-count",
    "cache_write": "cache-write-input-token-count",
    "cache_write_1h": "cache-write-1h-input-token-count",
}
_INFERENCE_TYPES = {
    "input": "Input tokens",
    "output": "Output tokens",
    "cache_read": "Cache read input tokens",
    "cache_write": "Cache write input tokens",
    "cache_write_1h": "Cache write input tokens 1h",
}


@cache
def region_codes() -> dict[str, str]:
    from aipctl_sim.ce.billing import REGION_CODES

    return REGION_CODES


@cache
def locations() -> dict[str, str]:
    """Region -> the Price List's ``location`` ("US East (N. Virginia)"), from botocore's endpoint data."""
    import botocore

    raw = json.loads((files(botocore) / "data" / "endpoints.json").read_text(encoding="utf-8"))
    return {r: info.get("description", r) for p in raw["partitions"] for r, info in p["regions"].items()}


@dataclass(frozen=True)
class Rate:
    model_id: str
    region: str
    route: str  # regional | global
    tier: str  # default | priority | flex | batch
    kind: str
    usd_per_million: Decimal
    usage_type: str
    #: Tokens per pricing unit: a million for Marketplace models, a thousand for Amazon's.
    unit_tokens: int
    service_code: str

    @property
    def unit(self) -> str:
        return "1M tokens" if self.unit_tokens == 1_000_000 else "1K tokens"

    @property
    def price_per_unit(self) -> Decimal:
        return self.usd_per_million * self.unit_tokens / 1_000_000

    @property
    def sku(self) -> str:
        digest = hashlib.sha256(self.usage_type.encode() + self.model_id.encode()).hexdigest().upper()
        return "".join(c for c in digest if c.isalnum())[:16]


def usage_type(model: FoundationModel, region: str, route: str, tier: str, kind: str) -> str:
    code = region_codes().get(region, region.upper())
    if model.marketplace:
        name = _MP_NAMES[kind] + ("_Global" if route == "global" else "")
        if tier == "batch":
            name += "_Batch"
        elif tier != "default":
            name += f"_{tier.capitalize()}"
        return f"{code}-MP:{code}_{name}-Units"
    name = f"{code}-{model.name.replace(' ', '')}-{_FIRST_PARTY_NAMES[kind]}"
    if tier != "default":
        name += f"-{tier}"
    return name + ("-cross-region-global" if route == "global" else "")


def _base(model: FoundationModel, route: str, kind: str) -> Decimal | None:
    prices = model.prices.get(route) or {}
    if kind == "cache_write_1h":
        return Decimal(str(prices["input"])) * LONG_CACHE_FACTOR if model.long_cache_ttl and "input" in prices else None
    return Decimal(str(prices[kind])) if kind in prices else None


@cache
def rate(model_id: str, region: str, route: str, tier: str, kind: str) -> Rate | None:
    """The rate of one price dimension, or None where AWS has no price (a tier or cache kind the model lacks)."""
    model = catalog().models.get(model_id)
    if model is None or region not in model.regions:
        return None
    if route == "global" and "global" not in model.geo_profiles:
        return None
    if tier in ("priority", "flex") and tier not in model.service_tiers:
        return None
    if tier == "batch" and (not model.batch or kind not in ("input", "output")):
        return None
    base = _base(model, route, kind)
    if base is None:
        return None
    price = base * _FACTOR[tier]
    if not model.marketplace:
        price *= REGION_PREMIUM.get(region, Decimal(1))
    return Rate(
        model_id,
        region,
        route,
        tier,
        kind,
        price.normalize(),
        usage_type(model, region, route, tier, kind),
        1_000_000 if model.marketplace else 1_000,
        FOUNDATION_MODELS_CODE if model.marketplace else BEDROCK_CODE,
    )


def rates(model: FoundationModel, region: str) -> list[Rate]:
    return [
        found
        for route in ROUTES
        for tier in TIERS
        for kind in KINDS
        if (found := rate(model.model_id, region, route, tier, kind)) is not None
    ]


def route_of(geo: str | None) -> str:
    return "global" if geo == "global" else "regional"


def product(found: Rate) -> dict[str, object]:
    """One GetProducts item (before JSON encoding), as the Price List writes it."""
    model = catalog().models[found.model_id]
    attributes: dict[str, str] = {
        "servicecode": found.service_code,
        "regionCode": found.region,
        "location": locations().get(found.region, found.region),
        "locationType": "AWS Region",
        "usagetype": found.usage_type,
        "operation": "Usage",
    }
    if model.marketplace:
        attributes["servicename"] = model.billing_service
    else:
        attributes |= {
            "servicename": "Amazon Bedrock",
            "model": model.name,
            "inferenceType": _INFERENCE_TYPES[found.kind] + ("" if found.tier in ("default", "batch") else f" {found.tier}"),
            "feature": "Batch Inference" if found.tier == "batch" else "On-demand Inference",
            "service_tier": "standard" if found.tier in ("default", "batch") else found.tier,
        }
    sku = found.sku
    term = f"{sku}.JRTCKXETXF"
    return {
        "product": {"productFamily": "Amazon Bedrock" if not model.marketplace else "", "attributes": attributes, "sku": sku},
        "serviceCode": found.service_code,
        "terms": {
            "OnDemand": {
                term: {
                    "priceDimensions": {
                        f"{term}.6YS6EN2CT7": {
                            "unit": found.unit,
                            "endRange": "Inf",
                            "description": f"{found.usage_type} ({found.unit})",
                            "appliesTo": [],
                            "rateCode": f"{term}.6YS6EN2CT7",
                            "beginRange": "0",
                            "pricePerUnit": {"USD": f"{found.price_per_unit:.10f}"},
                        }
                    },
                    "sku": sku,
                    "effectiveDate": "2026-11-01T00:00:00Z",
                    "offerTermCode": "JRTCKXETXF",
                    "termAttributes": {},
                }
            }
        },
        "version": "20261120000000",
        "publicationDate": PUBLICATION_DATE,
    }


def all_rates() -> list[Rate]:
    """Every rate of every model in every Region it is served in."""
    return [r for model in catalog().models.values() for region in model.regions for r in rates(model, region)]
