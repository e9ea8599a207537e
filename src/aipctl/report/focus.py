"""The report as a FOCUS dataset (FinOps Open Cost and Usage Specification, version 1.2): the file a FinOps
tool ingests next to its cloud bills.

One row per day, AIP and token kind (input, output, cache read, cache write) with tokens, for the days
Cost Explorer has in full:

- ``ListUnitPrice`` is the price book's price per token of the AIP's model and route, ``PricingQuantity``
  the tokens (``PricingUnit`` ``Tokens``), ``ListCost`` their product;
- ``BilledCost`` = ``EffectiveCost`` = ``ContractedCost`` is the caller's bill for that day (Cost Explorer by
  the caller tag) split over its rows in proportion to their list cost: Cost Explorer gives one number per
  caller and day, the token split is the price book's. ``ContractedUnitPrice`` = ``ContractedCost`` /
  ``PricingQuantity``;
- the inventory's labels and the tokens ride in ``x_`` columns (custom columns, after the FOCUS ones).

Left out, and said so in :attr:`FocusExport.warnings`: days the bill does not have yet, the bill of
callers without AIPs (principal plane: no token split) and the untagged remainder.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aipctl.pricing import MILLION, ModelRef, PriceBook, price_book
from aipctl.report import CostReport
from aipctl.spend import SpendRow

FOCUS_VERSION = "1.2"
#: The FOCUS columns written, in the order the spec lists them (alphabetical).
FOCUS_COLUMNS = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
)
CUSTOM_COLUMNS = (
    "x_Caller",
    "x_Owner",
    "x_Environment",
    "x_Tier",
    "x_CostCenter",
    "x_Model",
    "x_TokenType",
    "x_InputTokens",
    "x_OutputTokens",
    "x_CacheReadTokens",
    "x_CacheWriteTokens",
)
#: Tag key in ``Tags`` -> the report label it carries.
LABEL_TAGS = {"Owner": "owner", "Environment": "environment", "Tier": "tier", "CostCenter": "cost_center"}
#: Token kind -> (the price book's field, the x_ column that carries its count).
TOKEN_KINDS = {
    "input": ("input", "x_InputTokens"),
    "output": ("output", "x_OutputTokens"),
    "cache read": ("cache_read", "x_CacheReadTokens"),
    "cache write": ("cache_write", "x_CacheWriteTokens"),
}
#: AWS Region names for RegionName (the ones aipctl's emulator serves are a superset of these).
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
    "eu-central-1": "Europe (Frankfurt)",
    "eu-west-1": "Europe (Ireland)",
    "eu-west-3": "Europe (Paris)",
    "eu-north-1": "Europe (Stockholm)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
}


@dataclass(frozen=True)
class FocusExport:
    rows: tuple[dict[str, Any], ...]
    warnings: tuple[str, ...]

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=(*FOCUS_COLUMNS, *CUSTOM_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in self.rows:  # null is an empty field in CSV
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return buffer.getvalue()


def _number(value: Decimal | int) -> str:
    """FOCUS numeric format: plain decimal, no exponent, no sign for positives."""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _instant(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def focus_export(report: CostReport, info: Mapping[str, str], book: PriceBook | None = None) -> FocusExport:
    """The report's complete days as FOCUS 1.2 rows (see the module doc for what each cost column holds)."""
    book = book or price_book()
    account, region = info.get("account", ""), info.get("region", "")
    cut = report.complete_until.isoformat()
    callers = {c.caller: c for c in report.caller_rows}
    lines: dict[tuple[str, str], list[tuple[SpendRow, str, int, Decimal, Decimal]]] = defaultdict(list)
    skipped_unpriced: set[str] = set()
    for row in report.detail:
        if row.caller is None or row.day >= cut or not row.model or row.days > 1:
            continue  # (a row of several days has no per-day tokens: `report --focus` reads every day)
        ref = ModelRef.from_source(row.model)
        if not book.knows(ref):
            skipped_unpriced.add(ref.model_id)
            continue
        price = book.price(ref)
        for kind, (field, _) in TOKEN_KINDS.items():
            tokens: int = getattr(row, f"{field}_tokens")
            if tokens:
                unit = getattr(price, field) / MILLION
                lines[(row.caller, row.day)].append((row, kind, tokens, unit, unit * tokens))
    rows: list[dict[str, Any]] = []
    billed_without_detail = Decimal(0)
    for name, caller in callers.items():
        for day, billed in caller.line("billed").by_day.items():
            if day < cut and (name, day) not in lines:
                billed_without_detail += billed
        if caller.attribution == "principal":
            billed_without_detail += sum((v for d, v in caller.line("principal").by_day.items() if d < cut), Decimal(0))
    for (name, day), parts in sorted(lines.items()):
        caller = callers[name]
        bill = caller.line("billed").by_day.get(day, Decimal(0))
        list_total = sum((p[4] for p in parts), Decimal(0))
        for row, kind, tokens, unit, list_cost in parts:
            share = bill * list_cost / list_total if list_total else Decimal(0)
            rows.append(_row(caller.caller, caller.labels, day, row, kind, tokens, unit, list_cost, share, account, region, book))
    warnings = []
    if billed_without_detail:
        warnings.append(
            f"FOCUS: ${billed_without_detail:,.4f} billed to callers without per-AIP token detail (principal plane) "
            "is not in the export"
        )
    if report.complete_until < report.end:
        warnings.append(f"FOCUS: days from {cut} on are not billed in full yet and are not in the export")
    warnings += [f"FOCUS: no price for {m}: its calls are not in the export" for m in sorted(skipped_unpriced)]
    if report.untagged:
        warnings.append(f"FOCUS: the untagged remainder (${report.untagged:,.4f}) is not in the export")
    return FocusExport(tuple(rows), tuple(warnings))


def _row(
    caller: str,
    labels: Mapping[str, str | None],
    day: str,
    row: SpendRow,
    kind: str,
    tokens: int,
    unit: Decimal,
    list_cost: Decimal,
    cost: Decimal,
    account: str,
    region: str,
    book: PriceBook,
) -> dict[str, Any]:
    ref = ModelRef.from_source(row.model or "")
    entry = book.models[ref.model_id]
    when = dt.date.fromisoformat(day)
    month = dt.date(when.year, when.month, 1)
    next_month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    sku = f"{ref.model_id}:{ref.variant}:{kind.replace(' ', '-')}"
    tags = {"Application": caller} | {key: str(labels[label]) for key, label in LABEL_TAGS.items() if labels.get(label)}
    counts = {column: 0 for _, column in TOKEN_KINDS.values()}
    counts[TOKEN_KINDS[kind][1]] = tokens
    return {
        "BilledCost": _number(cost),
        "BillingAccountId": account,
        "BillingAccountName": None,
        "BillingCurrency": "USD",
        "BillingPeriodEnd": _instant(next_month),
        "BillingPeriodStart": _instant(month),
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": f"{entry.get('name', ref.model_id)} {kind} tokens through AIP {row.resource}",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": _instant(when + dt.timedelta(days=1)),
        "ChargePeriodStart": _instant(when),
        "ConsumedQuantity": _number(tokens),
        "ConsumedUnit": "Tokens",
        "ContractedCost": _number(cost),
        "ContractedUnitPrice": _number(cost / tokens),
        "EffectiveCost": _number(cost),
        "InvoiceIssuerName": "Amazon Web Services",
        "ListCost": _number(list_cost),
        "ListUnitPrice": _number(unit),
        "PricingCategory": "Standard",
        "PricingQuantity": _number(tokens),
        "PricingUnit": "Tokens",
        "ProviderName": "Amazon Web Services",
        "PublisherName": entry.get("provider") or "Amazon Web Services",
        "RegionId": region,
        "RegionName": REGION_NAMES.get(region, region),
        "ResourceId": row.resource,
        "ResourceName": (row.resource or "").rsplit("/", 1)[-1] or None,
        "ResourceType": "Application Inference Profile",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": entry.get("billing_service") or "Amazon Bedrock",
        "ServiceSubcategory": "Generative AI",
        "SkuId": sku,
        "SkuPriceId": sku,
        "SubAccountId": account,
        "SubAccountName": None,
        "Tags": json.dumps(tags, sort_keys=True),
        "x_Caller": caller,
        "x_Owner": labels.get("owner"),
        "x_Environment": labels.get("environment"),
        "x_Tier": labels.get("tier"),
        "x_CostCenter": labels.get("cost_center"),
        "x_Model": ref.model_id,
        "x_TokenType": kind,
        **counts,
    }
