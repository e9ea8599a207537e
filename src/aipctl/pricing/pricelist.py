"""Read Bedrock's prices from the AWS Price List API (``pricing:GetProducts``) into aipctl's price book.

Two service codes hold them: ``AmazonBedrockFoundationModels`` (Marketplace models — Anthropic, Cohere …;
a product names its model in ``servicename``, "Claude Haiku 4.5 (Amazon Bedrock Edition)", and prices per
million tokens) and ``AmazonBedrock`` (Amazon's models; ``model`` "Nova Pro", per thousand tokens). The
token kind, route and tier are in ``usagetype``, in one of the grammars the Price List uses::

    USE1-MP:USE1_CacheWrite1hInputTokenCount_Global-Units      (Marketplace, CamelCase)
    USE1-MP:USE1_output_tokens_global_standard-Units           (Marketplace, snake_case)
    USE1-NovaPro-input-tokens-flex                             (Amazon, with -cross-region-global)

Usage types for reserved or provisioned capacity, long-context or latency-optimized variants are known
and skipped; anything else is counted as unparsed (a grammar change shows as a number, not as $0).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

SERVICE_CODES = ("AmazonBedrockFoundationModels", "AmazonBedrock")
_EDITION = " (Amazon Bedrock Edition)"
#: Usage types that are priced but not per token of on-demand inference.
_SKIPPED = re.compile(r"reserved|provisioned|tpm|lctx|long.?ctx|latency|custom|rft|guardrail", re.IGNORECASE)
_CAMEL = re.compile(
    r"^(?P<kind>InputTokenCount|OutputTokenCount|CacheReadInputTokenCount|CacheWrite(?:5m)?InputTokenCount|"
    r"CacheWrite1hInputTokenCount)(?:_(?P<route>Global|Geo))?(?:_(?P<tier>Batch|Priority|Flex))?$"
)
_SNAKE = re.compile(
    r"^(?P<kind>input|output|cache_read|cached_input|cache_write|cache_writes)_tokens(?:_(?P<ttl>5m|1h))?"
    r"(?:_(?P<route>global|geo))?_(?P<tier>standard|batch|priority|flex)$"
)
_FIRST_PARTY = re.compile(
    r"^[A-Z0-9]+-(?P<model>.+?)-(?P<kind>input-tokens?|output-tokens?|cache-read-input-tokens?(?:-count)?|"
    r"cache-write-(?:1h-)?input-tokens?(?:-count)?)(?:-(?P<tier>standard|priority|flex|batch))?"
    r"(?:-cross-region-(?P<route>global|geo))?$"
)
_CAMEL_KINDS = {
    "InputTokenCount": "input",
    "OutputTokenCount": "output",
    "CacheReadInputTokenCount": "cache_read",
    "CacheWriteInputTokenCount": "cache_write",
    "CacheWrite5mInputTokenCount": "cache_write",
    "CacheWrite1hInputTokenCount": "cache_write_1h",
}
_SNAKE_KINDS = {"input": "input", "output": "output", "cache_read": "cache_read", "cached_input": "cache_read"}


@dataclass(frozen=True)
class Dimension:
    kind: str
    route: str  # regional | global
    tier: str  # default | priority | flex | batch


def parse_usage_type(usage_type: str) -> Dimension | bool | None:
    """The price dimension of a usage type; False: a known kind that is not a token price; None: unparsed."""
    if not isinstance(usage_type, str) or not usage_type:
        return None
    if _SKIPPED.search(usage_type):
        return False
    tail = usage_type.split(":", 1)[1] if ":" in usage_type else None
    if tail is not None:  # Marketplace: <RC>-MP:<RC>_<name>-Units
        name = re.sub(r"-Units$", "", re.sub(r"^[A-Z0-9]+_", "", tail))
        camel = _CAMEL.match(name)
        if camel:
            tier = (camel["tier"] or "default").lower()
            return Dimension(_CAMEL_KINDS[camel["kind"]], "global" if camel["route"] == "Global" else "regional", tier)
        snake = _SNAKE.match(name)
        if snake:
            kind = _SNAKE_KINDS.get(snake["kind"]) or ("cache_write_1h" if snake["ttl"] == "1h" else "cache_write")
            tier = "default" if snake["tier"] == "standard" else snake["tier"]
            return Dimension(kind, "global" if snake["route"] == "global" else "regional", tier)
        return None
    first = _FIRST_PARTY.match(usage_type)
    if first:
        text = first["kind"]
        kind = (
            "cache_read"
            if text.startswith("cache-read")
            else "cache_write_1h"
            if text.startswith("cache-write-1h")
            else "cache_write"
            if text.startswith("cache-write")
            else "output"
            if text.startswith("output")
            else "input"
        )
        tier = first["tier"] if first["tier"] not in (None, "standard") else "default"
        return Dimension(kind, "global" if first["route"] == "global" else "regional", tier)
    return None


def per_million(price: str, unit: str, service_code: str) -> Decimal | None:
    """USD per million tokens from a price dimension; None for a unit that is not per token."""
    try:
        value = Decimal(price)
    except (InvalidOperation, TypeError):
        return None
    if not value.is_finite() or value < 0:
        return None
    normal = "".join(unit.lower().split())
    if normal in ("1mtokens", "1mtoken", "milliontokens", "1000000tokens") or (
        normal == "units" and service_code == "AmazonBedrockFoundationModels"
    ):
        return value.normalize()
    if normal in ("1ktokens", "1ktoken", "1000tokens", "thousandtokens"):
        return (value * 1000).normalize()
    return None


@dataclass(frozen=True)
class Rate:
    model_key: str  # servicename (Marketplace) or model (Amazon's)
    service_code: str
    region: str
    dimension: Dimension
    usd_per_million: Decimal
    usage_type: str


@dataclass
class Parsed:
    rates: list[Rate] = field(default_factory=list)
    products: int = 0
    skipped: int = 0
    unparsed: Counter[str] = field(default_factory=Counter)


def parse_products(items: Iterable[str | Mapping[str, Any]], service_code: str, into: Parsed | None = None) -> Parsed:
    """GetProducts items (JSON text) -> rates; what cannot be read is counted, never priced at $0."""
    out = into or Parsed()
    for raw in items:
        out.products += 1
        try:
            item = json.loads(raw) if isinstance(raw, str) else dict(raw)
            attributes = item["product"]["attributes"]
            usage_type = str(attributes["usagetype"])
        except (ValueError, KeyError, TypeError):
            out.unparsed["(malformed product)"] += 1
            continue
        dimension = parse_usage_type(usage_type)
        if dimension is False:
            out.skipped += 1
            continue
        key = attributes.get("servicename") if service_code == "AmazonBedrockFoundationModels" else attributes.get("model")
        region = attributes.get("regionCode")
        if not isinstance(dimension, Dimension) or not key or not region:
            out.unparsed[usage_type] += 1
            continue
        prices = list(_price_dimensions(item))
        found = [p for p in (per_million(price, unit, service_code) for price, unit in prices) if p is not None]
        if len(found) != 1:
            out.unparsed[usage_type] += 1  # no per-token price, or several (tiered ranges): not guessed
            continue
        out.rates.append(Rate(str(key), service_code, str(region), dimension, found[0], usage_type))
    return out


def _price_dimensions(item: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for term in (item.get("terms") or {}).get("OnDemand", {}).values():
        for dimension in (term.get("priceDimensions") or {}).values():
            usd = (dimension.get("pricePerUnit") or {}).get("USD")
            if usd is not None:
                yield str(usd), str(dimension.get("unit", ""))


def model_key_names(model_name: str, billing_service: str | None) -> tuple[str, ...]:
    """The Price List keys a model may appear under: its billing service, or its name (+ the edition suffix)."""
    names = [model_name, model_name + _EDITION]
    if billing_service and billing_service != "Amazon Bedrock":
        names.insert(0, billing_service)
    return tuple(names)


def model_ids_by_key(models: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Price List key (servicename or model) -> model id, for ``models``: model id -> {name, billing_service}."""
    by_key: dict[str, str] = {}
    for model_id, info in models.items():
        for name in model_key_names(str(info.get("name", model_id)), info.get("billing_service")):
            by_key.setdefault(name, model_id)
    return by_key


def key(route: str, tier: str, kind: str) -> str:
    return f"{route}/{tier}/{kind}"


def expand(entry: Mapping[str, Any]) -> dict[str, dict[str, Decimal]]:
    """A book entry's rates per Region it prices (the inverse of :func:`compact` for one model)."""
    out: dict[str, dict[str, Decimal]] = {}
    for region in entry.get("priced_regions") or ():
        prices = {k: Decimal(str(v)) for k, v in entry["rates"].items()}
        for k, v in (entry.get("regions") or {}).get(region, {}).items():
            if v is None:
                prices.pop(k, None)
            else:
                prices[k] = Decimal(str(v))
        out[region] = prices
    return out


def merged(
    refreshed: Mapping[str, dict[str, Any]], previous: Mapping[str, Mapping[str, Any]], regions: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """``refreshed`` (a book's models, read for ``regions``) over ``previous``: the Regions not read keep their prices."""
    fresh = set(regions)
    per_model: dict[str, dict[str, dict[str, Decimal]]] = {}
    info: dict[str, Mapping[str, Any]] = {}
    for source, is_new in ((previous, False), (refreshed, True)):
        for model_id, entry in source.items():
            keep = expand(entry)
            if not is_new:
                keep = {r: v for r, v in keep.items() if r not in fresh}
            per_model.setdefault(model_id, {}).update(keep)
            info[model_id] = entry
    return {
        model_id: _entry(info[model_id], regions_of, str(info[model_id].get("service_code")))
        for model_id, regions_of in sorted(per_model.items())
        if regions_of
    }


def _entry(info: Mapping[str, Any], regions: Mapping[str, Mapping[str, Decimal]], code: str) -> dict[str, Any]:
    counts: dict[str, Counter[Decimal]] = {}
    for prices in regions.values():
        for k, v in prices.items():
            counts.setdefault(k, Counter())[v] += 1
    common = {k: c.most_common(1)[0][0] for k, c in sorted(counts.items())}
    overrides: dict[str, dict[str, float | None]] = {
        region: {k: (float(prices[k]) if k in prices else None) for k in common if prices.get(k) != common[k]}
        for region, prices in sorted(regions.items())
    }  # None: no such price in that Region
    return {
        "name": info.get("name"),
        "billing_service": info.get("billing_service"),
        "service_code": code,
        "rates": {k: float(v) for k, v in common.items()},
        "regions": {r: o for r, o in overrides.items() if o},
        "priced_regions": sorted(regions),
    }


def compact(rates: Iterable[Rate], models: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The book's ``models``: per model id, its most common rate per dimension across Regions (``rates``) and the
    Regions that differ (``regions``), plus where it is priced at all (``priced_regions``).

    ``models``: model id -> {name, billing_service, family} (what maps a Price List key onto a model id)."""
    by_key = model_ids_by_key(models)
    per_model: dict[str, dict[str, dict[str, Decimal]]] = {}
    codes: dict[str, str] = {}
    for found in rates:
        model_id = by_key.get(found.model_key)
        if model_id is None:
            continue
        codes[model_id] = found.service_code
        d = found.dimension
        per_model.setdefault(model_id, {}).setdefault(found.region, {})[key(d.route, d.tier, d.kind)] = found.usd_per_million
    out: dict[str, dict[str, Any]] = {}
    for model_id, regions in sorted(per_model.items()):
        out[model_id] = _entry({"name": models[model_id].get("name", model_id), **models[model_id]}, regions, codes[model_id])
    return out


@dataclass
class Refreshed:
    book: dict[str, Any]
    parsed: Parsed
    regions: list[str]
    unmapped: list[str]


def fetch(target: Any, regions: Iterable[str] | None, models: Mapping[str, Mapping[str, Any]], progress: Any = None) -> Refreshed:
    """GetProducts for both service codes (each Region in ``regions``, or all), parsed and compacted into a book.

    ``models``: model id -> {name, billing_service} for every model to price (what maps products to ids)."""
    from aipctl.aws.pricing import PriceList

    prices = PriceList(target)
    parsed = Parsed()
    wanted = sorted(set(regions)) if regions else [None]
    pages = 0
    for code in SERVICE_CODES:
        for region in wanted:
            for page in prices.products(code, {"regionCode": region} if region else {}):
                parse_products(page, code, parsed)
                pages += 1
                if progress is not None:
                    progress(f"{code} {region or 'all Regions'}", pages)
    compacted = compact(parsed.rates, models)
    unmapped = sorted({r.model_key for r in parsed.rates} - set(model_ids_by_key(models)))
    book = {
        "format": 2,
        "source": f"AWS Price List API (GetProducts, {', '.join(SERVICE_CODES)}) "
        + ("of the aipctl emulator" if target.kind == "sim" else f"of AWS, account {target.account}"),
        "generated": target.now().date().isoformat(),
        "unit": "USD per 1M tokens",
        "regions": [r for r in wanted if r] or "all",
        "models": compacted,
    }
    return Refreshed(book, parsed, [r for r in wanted if r], unmapped)


def model_names(target: Any, book: Any) -> dict[str, dict[str, Any]]:
    """model id -> {name, billing_service}: Bedrock's foundation models in the target's Region, with the billing
    service names the current book knows (Marketplace products name a model by it)."""
    from aipctl.aws.pricing import FoundationModels

    out: dict[str, dict[str, Any]] = {
        model_id: {"name": entry.get("name", model_id), "billing_service": entry.get("billing_service")}
        for model_id, entry in book.models.items()
    }
    for model_id, name in FoundationModels(target).names().items():
        out.setdefault(model_id, {"billing_service": None})["name"] = name
    return out
