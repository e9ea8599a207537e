"""Handlers of the Price List API for the two Bedrock service codes (others answer NotFoundException)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aipctl_sim.pricing.rates import BEDROCK_CODE, FOUNDATION_MODELS_CODE, all_rates, product
from aipctl_sim.protocol import InvalidParameterException, Request, ServiceError

FORMAT = "aws_v1"
MAX_RESULTS = 100
_FILTERS = ("TERM_MATCH", "EQUALS", "CONTAINS", "ANY_OF", "NONE_OF")


class NotFoundException(ServiceError):
    code, status = "NotFoundException", 400


class InvalidNextTokenException(ServiceError):
    code, status = "InvalidNextTokenException", 400


@cache
def _products() -> dict[str, list[tuple[dict[str, str], str]]]:
    """Service code -> (attributes, the item's JSON) per product, in a stable order."""
    out: dict[str, list[tuple[dict[str, str], str]]] = {BEDROCK_CODE: [], FOUNDATION_MODELS_CODE: []}
    for found in all_rates():
        item = product(found)
        attributes = dict(item["product"]["attributes"])  # type: ignore[index]
        out[found.service_code].append((attributes, json.dumps(item, separators=(",", ":"))))
    return out


@cache
def _lowered(code: str) -> list[dict[str, str]]:
    """The products' attributes with lower-case names and values (filters match case-insensitively)."""
    return [{k.lower(): v.lower() for k, v in attributes.items()} for attributes, _ in _products()[code]]


def _service(code: object) -> list[tuple[dict[str, str], str]]:
    if code not in (BEDROCK_CODE, FOUNDATION_MODELS_CODE):
        raise NotFoundException(f"Service code {code} is not found in the emulated Price List (it has Amazon Bedrock's)")
    return _products()[str(code)]


def _matches(attributes: dict[str, str], filters: list[tuple[str, str, str]]) -> bool:
    for kind, field, value in filters:
        have = attributes.get(field)
        if kind in ("TERM_MATCH", "EQUALS") and have != value:
            return False
        if kind == "CONTAINS" and (have is None or value not in have):
            return False
        options = {v.strip() for v in value.split(",")}
        if kind == "ANY_OF" and have not in options:
            return False
        if kind == "NONE_OF" and have in options:
            return False
    return True


def _filters(raw: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    out = []
    for spec in raw:
        kind = str(spec.get("Type"))
        if kind not in _FILTERS:
            raise InvalidParameterException(f"Invalid filter type {kind}; valid values: {', '.join(_FILTERS)}")
        out.append((kind, str(spec.get("Field", "")).lower(), str(spec.get("Value", "")).lower()))
    return out


def get_products(req: Request) -> dict[str, Any]:
    items = _service(req.params.get("ServiceCode"))
    size = int(req.params.get("MaxResults") or MAX_RESULTS)
    if not 1 <= size <= MAX_RESULTS:
        raise InvalidParameterException(f"MaxResults must be between 1 and {MAX_RESULTS}")
    filters = _filters(list(req.params.get("Filters") or []))
    lowered = _lowered(str(req.params.get("ServiceCode")))
    found = [text for (_, text), attributes in zip(items, lowered, strict=True) if _matches(attributes, filters)]
    token = req.params.get("NextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise InvalidNextTokenException("The pagination token is invalid. Try again without a pagination token.") from None
    out: dict[str, Any] = {"FormatVersion": FORMAT, "PriceList": found[start : start + size]}
    if start + size < len(found):
        out["NextToken"] = str(start + size)
    return out


def describe_services(req: Request) -> dict[str, Any]:
    codes = [req.params["ServiceCode"]] if req.params.get("ServiceCode") else [BEDROCK_CODE, FOUNDATION_MODELS_CODE]
    services = []
    for code in codes:
        names = sorted({name for attributes, _ in _service(code) for name in attributes})
        services.append({"ServiceCode": code, "AttributeNames": names})
    return {"Services": services, "FormatVersion": FORMAT}


def get_attribute_values(req: Request) -> dict[str, Any]:
    name = str(req.params.get("AttributeName", ""))
    values = sorted({attributes[name] for attributes, _ in _service(req.params.get("ServiceCode")) if name in attributes})
    if not values:
        raise NotFoundException(f"Attribute {name} is not found for service {req.params.get('ServiceCode')}")
    return {"AttributeValues": [{"Value": v} for v in values]}
