"""verify and report on simulated traffic; every reported number is recomputed here from the
emulator's recorded calls and the catalog's prices (not from aipctl's report code)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from aipctl_sim import telemetry
from tests.conftest import ROOT

CATALOG = {m["modelId"]: m for m in json.loads(Path(ROOT / "src/aipctl_sim/bedrock/catalog.json").read_text())["models"]}


def _cost(model: str, geo: str | None, tin: int, tout: int, cread: int, cwrite: int) -> Decimal:
    price = CATALOG[model]["prices"]["global" if geo == "global" else "regional"]
    return (
        Decimal(str(price["input"])) * tin
        + Decimal(str(price.get("output", 0))) * tout
        + Decimal(str(price.get("cache_read", 0))) * cread
        + Decimal(str(price.get("cache_write", 0))) * cwrite
    ) / 1_000_000


def _recorded() -> list[dict]:
    cols = (
        "ts",
        "base_model",
        "geo",
        "cost_tags",
        "aip_arn",
        "status",
        "input_tokens",
        "output_tokens",
        "cache_read",
        "cache_write",
        "principal_arn",
    )
    return [dict(zip(cols, row, strict=True)) for row in telemetry.store().query(f"SELECT {','.join(cols)} FROM calls")]


def test_verify_names_the_bypasser(report_cli, traffic) -> None:
    result = report_cli("verify", "--since", "3d", "--json")
    assert result.code == 1, "the receptionist bypasses its AIP"
    rows = {r["caller"]: r for r in result.json["callers"]}
    sent = traffic["traffic"].to_dict()["callers"]
    assert rows["receptionist"]["coverage"] == 0.0 and rows["receptionist"]["verdict"] == "bypassing"
    assert rows["receptionist"]["bypass_calls"] == sent["receptionist"]["calls"]
    for caller in ("open-webui", "mcp-whatsapp", "mcp-hosted", "daily-briefing", "fastapi-app"):
        assert rows[caller]["coverage"] == 1.0 and rows[caller]["aip_calls"] == sent[caller]["calls"], caller
    assert report_cli("verify", "--since", "3d", "--min-coverage", "0").code == 0
    assert report_cli("verify", "--since", "3d", "--json", "--unknown").json == []


def test_advise_tells_the_bypasser_to_wire_and_no_one_else(report_cli, traffic) -> None:
    found = report_cli("advise", "--since", "3d", "--coverage", "--json")
    assert found.code == 0, found.err
    wire = [a for a in found.json if a["kind"] == "wire"]
    sent = traffic["traffic"].to_dict()["callers"]
    assert [a["caller"] for a in wire] == ["receptionist"]
    assert wire[0]["evidence"]["bypass_calls"] == sent["receptionist"]["calls"] and wire[0]["evidence"]["aip_calls"] == 0
    assert "aipctl wire --caller receptionist" in wire[0]["detail"]


def test_report_numbers_match_the_recorded_calls(report_cli, traffic) -> None:
    data = report_cli("report", "--since", "4d", "--json").json
    rows = {r["caller"]: r for r in data["callers"]}
    calls = _recorded()
    now = float(__import__("datetime").datetime.fromisoformat(traffic["sim"].clock()["now"]).timestamp())
    visible = [c for c in calls if c["status"] == "ok" and c["ts"] < now - 24 * 3600]
    billed: dict[str, Decimal] = {}
    untagged = Decimal(0)
    for call in visible:
        amount = _cost(
            call["base_model"], call["geo"], call["input_tokens"], call["output_tokens"], call["cache_read"], call["cache_write"]
        )
        caller = json.loads(call["cost_tags"] or "{}").get("Application")
        if caller:
            billed[caller] = billed.get(caller, Decimal(0)) + amount
        else:
            untagged += amount
    for caller, row in rows.items():
        assert row["billed_usd"] == pytest.approx(float(billed.get(caller, 0)), abs=1e-5), caller
    assert data["untagged_usd"] == pytest.approx(float(untagged), abs=1e-5)
    assert data["untagged_usd"] > 0, "the bypasser's usage is untagged"
    estimated: dict[str, Decimal] = {}
    sent = traffic["traffic"].to_dict()["callers"]
    for call in calls:
        if call["status"] != "ok" or not call["aip_arn"]:
            continue
        owner = next(c for c in sent if call["principal_arn"].endswith(f"/{c}"))  # the caller's own session name
        amount = _cost(
            call["base_model"], call["geo"], call["input_tokens"], call["output_tokens"], call["cache_read"], call["cache_write"]
        )
        estimated[owner] = estimated.get(owner, Decimal(0)) + amount
    for caller, row in rows.items():
        assert row["estimated_usd"] == pytest.approx(float(estimated.get(caller, 0)), abs=1e-5), caller
        if caller != "receptionist":
            assert row["invocations"] == sent[caller]["calls"]
            assert row["input_tokens"] == sent[caller]["input_tokens"] and row["output_tokens"] == sent[caller]["output_tokens"]
    assert rows["open-webui"]["deviation"] == 0.0, "same prices: estimate equals the bill on complete days"
    top = report_cli("report", "--since", "4d", "--top", "3", "--json").json
    assert [c["caller"] for c in top["callers"]][:1] == ["open-webui"]


def test_markdown_block_is_replaced_in_place_and_idempotent(report_cli, traffic) -> None:
    inventory = traffic["dir"] / "caller-inventory.md"
    inventory.write_text(
        "# Callers\n\nHand-written intro.\n\n<!-- aipctl:report:begin -->\nold\n<!-- aipctl:report:end -->\n\n## Notes\nkeep me\n"
    )
    first = report_cli("report", "--since", "4d", "--markdown", str(inventory))
    assert "updated" in first.err
    text = inventory.read_text()
    assert text.startswith("# Callers\n\nHand-written intro.\n\n<!-- aipctl:report:begin -->")
    assert text.endswith("<!-- aipctl:report:end -->\n\n## Notes\nkeep me\n")
    assert "| 1 | open-webui |" in text and "old" not in text and "Untagged remainder" in text
    second = report_cli("report", "--since", "4d", "--markdown", str(inventory))
    assert "unchanged" in second.err and inventory.read_text() == text


def test_csv_and_second_key(report_cli, traffic) -> None:
    result = report_cli("report", "--since", "4d", "--csv", "-", "--by", "Environment")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    kinds = [r["row"] for r in rows]
    assert kinds[:7] == ["caller"] * 6 + ["untagged"] and rows[6]["caller"] == "(untagged)"
    groups = [r for r in rows if r["row"] == "group"]
    assert {g["group"] for g in groups} == {f"Environment={r['environment']}" for r in rows[:6]}
    for group in groups:  # each rollup row is the sum of its callers' rows
        members = [r for r in rows[:6] if f"Environment={r['environment']}" == group["group"]]
        assert float(group["billed_usd"]) == pytest.approx(sum(float(r["billed_usd"]) for r in members), abs=1e-5)
        assert group["environment"] == group["group"].split("=", 1)[1]
    total = rows[-1]
    assert total["row"] == "total" and float(total["billed_usd"]) == pytest.approx(
        sum(float(r["billed_usd"]) for r in rows[:7]), abs=1e-5
    )
    assert {"caller", "billed_usd", "estimated_usd", "p99_ms"} <= set(rows[0])
    assert {"tenant", "owner", "environment", "tier", "cost_center"} <= set(rows[0]), "chargeback columns"
    webui = next(r for r in rows if r["caller"] == "open-webui")
    assert (webui["owner"], webui["environment"], webui["cost_center"], webui["tenant"]) == (
        "platform-team",
        "production",
        "4711",
        "",
    )
    split = {r["caller"]: r for r in report_cli("report", "--since", "4d", "--by", "Environment", "--json").json["callers"]}
    assert set(split["fastapi-app"]["by_second_key"]) == {"staging"}


def test_estimate_is_per_day_only_where_the_bill_is_incomplete(report_cli, traffic) -> None:
    """By default the days the bill has in full come as one CloudWatch sum per AIP; --daily-estimates
    reads each day. Totals, tokens and deviations agree; only the per-day split differs."""
    quick = report_cli("report", "--since", "4d", "--json").json
    daily = report_cli("report", "--since", "4d", "--json", "--daily-estimates").json
    cut = quick["period"]["complete_until"]
    assert quick["period"]["estimated_by_day_from"] == cut
    assert daily["period"]["estimated_by_day_from"] == daily["period"]["start"]
    by_caller = {r["caller"]: r for r in daily["callers"]}
    split_somewhere = False
    for row in quick["callers"]:
        full = by_caller[row["caller"]]
        for key in ("estimated_usd", "deviation", "input_tokens", "output_tokens", "billed_usd", "invocations"):
            assert row[key] == full[key], (row["caller"], key)
        assert all(day >= cut for day in row["estimated_by_day"]), row["caller"]
        assert row["estimated_by_day"] == {d: v for d, v in full["estimated_by_day"].items() if d >= cut}
        before = sum(v for d, v in full["estimated_by_day"].items() if d < cut)
        assert row["estimated_unsplit_usd"] == pytest.approx(before, abs=1e-5)
        assert full["estimated_unsplit_usd"] == 0
        split_somewhere |= before > 0
    assert split_somewhere, "the traffic has estimated spend on complete days"
    assert quick["total_estimated_usd"] == daily["total_estimated_usd"]
