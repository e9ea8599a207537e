"""`aipctl report --focus FILE`: a FOCUS 1.2 dataset, checked against the spec's column rules.

The rules below are transcribed from the FOCUS 1.2 specification text (FinOps-Open-Cost-and-Usage-Spec/
FOCUS_Spec, tag v1.2: specification/columns/*.md and specification/attributes/*.md), not from aipctl's code.
"""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from typing import Any

import pytest

#: Column -> (feature level, allows nulls) for every FOCUS 1.2 column aipctl writes or must write.
MANDATORY = {
    "BilledCost": False,
    "BillingAccountId": False,
    "BillingAccountName": True,
    "BillingCurrency": False,
    "BillingPeriodEnd": False,
    "BillingPeriodStart": False,
    "ChargeCategory": False,
    "ChargeClass": True,
    "ChargeDescription": True,
    "ChargePeriodEnd": False,
    "ChargePeriodStart": False,
    "ContractedCost": False,
    "EffectiveCost": False,
    "InvoiceIssuerName": False,
    "ListCost": False,
    "PricingQuantity": True,
    "PricingUnit": True,
    "ProviderName": False,
    "PublisherName": False,
    "ServiceCategory": False,
    "ServiceName": False,
}
ALLOWED = {
    "ChargeCategory": {"Usage", "Purchase", "Tax", "Credit", "Adjustment"},
    "ChargeClass": {"", "Correction"},
    "ChargeFrequency": {"One-Time", "Recurring", "Usage-Based"},
    "PricingCategory": {"Standard", "Dynamic", "Committed", "Other"},
    "ServiceCategory": {"AI and Machine Learning"},  # the one that fits; the list has 16 more
}
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
NUMERIC = re.compile(r"^-?\d+(\.\d+)?(E-?\d+)?$")  # no sign on positives, no commas, E notation only
NUMERIC_COLUMNS = (
    "BilledCost",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "ListCost",
    "ListUnitPrice",
    "PricingQuantity",
    "ConsumedQuantity",
)
# Usage rows (not a Correction): these MUST NOT be null (ListUnitPrice, ContractedUnitPrice, SkuId,
# SkuPriceId, PricingCategory, PricingQuantity; ConsumedQuantity unless a commitment is Unused).
NOT_NULL_FOR_USAGE = (
    "ListUnitPrice",
    "ContractedUnitPrice",
    "SkuId",
    "SkuPriceId",
    "PricingCategory",
    "PricingQuantity",
    "ConsumedQuantity",
)


def _rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def test_focus_export_follows_the_spec_rules(report_cli, traffic) -> None:
    result = report_cli("report", "--since", "4d", "--focus", "-")
    assert result.code == 0, result.err
    header, rows = _rows(result.out)
    assert rows, "the complete days have charges"
    assert set(MANDATORY) <= set(header), set(MANDATORY) - set(header)
    focus = [c for c in header if not c.startswith("x_")]
    custom = [c for c in header if c.startswith("x_")]
    assert header == focus + custom, "custom columns come after all FOCUS columns, not intermixed"
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*", c) for c in focus), "FOCUS column ids are PascalCase alphanumerics"
    assert {"x_InputTokens", "x_OutputTokens", "x_CacheReadTokens", "x_CacheWriteTokens"} <= set(custom)
    for row in rows:
        for column, nullable in MANDATORY.items():
            assert nullable or row[column] != "", f"{column} must not be null"
        for column, values in ALLOWED.items():
            assert row[column] in values, (column, row[column])
        for column in ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"):
            assert DATETIME.match(row[column]), (column, row[column])
        assert row["ChargePeriodStart"] < row["ChargePeriodEnd"] and row["BillingPeriodStart"] <= row["ChargePeriodStart"]
        assert row["ChargePeriodEnd"] <= row["BillingPeriodEnd"]
        for column in NUMERIC_COLUMNS:
            assert NUMERIC.match(row[column]), (column, row[column])
        if row["ChargeCategory"] == "Usage" and row["ChargeClass"] != "Correction":
            for column in NOT_NULL_FOR_USAGE:
                assert row[column] != "", f"{column} must not be null on a Usage row"
        quantity = Decimal(row["PricingQuantity"])
        # "The product of ListUnitPrice and PricingQuantity MUST match the ListCost" (and the contracted pair)
        assert Decimal(row["ListUnitPrice"]) * quantity == pytest.approx(Decimal(row["ListCost"]), rel=Decimal("1e-12"))
        assert Decimal(row["ContractedUnitPrice"]) * quantity == pytest.approx(
            Decimal(row["ContractedCost"]), rel=Decimal("1e-9"), abs=Decimal("1e-15")
        )
        assert (row["ConsumedQuantity"] == "") == (row["ConsumedUnit"] == ""), "ConsumedUnit null iff ConsumedQuantity null"
        assert (row["PricingQuantity"] == "") == (row["PricingUnit"] == "")
        assert row["BillingCurrency"] == "USD"
        tags = json.loads(row["Tags"])
        assert isinstance(tags, dict) and tags["Application"] == row["x_Caller"]
        kind_columns = {"input": "x_InputTokens", "output": "x_OutputTokens", "cache read": "x_CacheReadTokens"}
        kind_columns["cache write"] = "x_CacheWriteTokens"
        assert row[kind_columns[row["x_TokenType"]]] == row["PricingQuantity"], "the row's tokens in its x_ column"


def test_focus_billed_cost_adds_up_to_the_report(report_cli, traffic, workdir_focus: Any) -> None:
    out = workdir_focus / "focus.csv"
    result = report_cli("report", "--since", "4d", "--focus", str(out), "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    _, rows = _rows(out.read_text())
    complete = report["period"]["complete_until"]
    for caller in (c for c in report["callers"] if c["tenant"] is None):
        billed = sum(v for d, v in caller["billed_by_day"].items() if d < complete)
        exported = sum(Decimal(r["BilledCost"]) for r in rows if r["x_Caller"] == caller["caller"])
        assert float(exported) == pytest.approx(billed, abs=1e-5), caller["caller"]
        tokens = sum(int(r["x_InputTokens"]) for r in rows if r["x_Caller"] == caller["caller"])
        assert (tokens > 0) == (billed > 0), caller["caller"]
    assert "untagged remainder" in result.err, "what the export leaves out is said"
    assert {r["ChargePeriodStart"][:10] for r in rows} <= {
        d for c in report["callers"] for d in c["billed_by_day"] if d < complete
    }


@pytest.fixture
def workdir_focus(traffic: dict[str, Any]) -> Any:
    return traffic["dir"]


@pytest.mark.parametrize(
    "args,message",
    [
        (("--csv", "-", "--focus", "-"), "--csv - and --focus - all want stdout"),
        (("--json", "--focus", "-"), "--focus - and --json all want stdout"),
        (("--csv", "costs.csv", "--focus", "costs.csv"), "--csv and --focus name the same file costs.csv"),
        (
            (
                "--html",
                "missing/dir/report.html",
            ),
            "the directory of missing/dir/report.html does not exist",
        ),
    ],
)
def test_colliding_or_unwritable_outputs_are_refused_before_reading(
    report_cli, traffic, args: tuple[str, ...], message: str
) -> None:
    before = sorted(p.name for p in traffic["dir"].iterdir())
    result = report_cli("report", "--since", "2d", *args)
    assert result.code == 2, result.out + result.err
    assert message in result.err
    assert "Traceback" not in result.err and result.out == ""
    assert sorted(p.name for p in traffic["dir"].iterdir()) == before, "nothing written"
