"""300 tenants in 3 tiers (issue 16, "done when"): budgets, alarms and in-path limits come from the tier
defaults (with a few overrides), and the report's tier totals equal the sum of their members.

The expected figures are computed here, independently of aipctl: membership from the tier each tenant
was given in this file, cost from the emulator's own call records (its telemetry table) priced with the
emulator's own bill prices. Everything else goes through the CLI and real boto3 clients over HTTP.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import aipctl
from aipctl.guard.limits import MemoryStore
from aipctl.wiring import Resolver
from aipctl_sim import telemetry
from tests.conftest import REGION, ROOT

#: The catalog's prices (the emulator bills these in eu-central-1 at the standard tier), read independently.
CATALOG = {m["modelId"]: m for m in json.loads((ROOT / "src/aipctl_sim/bedrock/catalog.json").read_text())["models"]}
TIERS = {
    "enterprise": {"weight": 8, "monthly_usd": 500, "alert_at": [80, 100], "rpm": 600, "tpm": 400000, "daily_usd": 40},
    "pro": {"weight": 3, "monthly_usd": 100, "alert_at": [90], "rpm": 120, "tpm": None, "daily_usd": 8},
    "free": {"weight": 1, "monthly_usd": 5, "alert_at": [100], "rpm": 2, "tpm": None, "daily_usd": 0.5},
}
OVERRIDES = {"tenant-007": {"monthly_usd": 20}, "tenant-010": {"rpm": 900}}
MESSAGES = [{"role": "user", "content": [{"text": "Summarise this tenant's week."}]}]


def tier_of(index: int) -> str:
    return "enterprise" if index % 10 == 0 else "pro" if index % 10 <= 3 else "free"


def inventory() -> str:
    lines = ["name: saas", "region: eu-central-1", "models:", "  sonnet: eu.anthropic.claude-sonnet-4-6"]
    lines += ["alerts: {emails: [finops@example.com]}", "tiers:"]
    for tier, d in TIERS.items():
        limits = f"rpm: {d['rpm']}, daily_usd: {d['daily_usd']}" + (f", tpm: {d['tpm']}" if d["tpm"] else "")
        budget = f"monthly_usd: {d['monthly_usd']}, alert_at: {d['alert_at']}, brake_at: 100"
        lines.append(f"  {tier}: {{weight: {d['weight']}, budget: {{{budget}}}, limits: {{{limits}}}}}")
    lines.append("callers:")
    for i in range(300):
        name = f"tenant-{i:03d}"
        lines += [
            f"  {name}:",
            f"    owner: owner-{i % 7}",
            "    environment: production",
            "    models: [sonnet]",
            f'    identities: ["arn:aws:iam::*:role/{name}-task"]',
            f"    tier: {tier_of(i)}",
        ]
        own = OVERRIDES.get(name, {})
        if "monthly_usd" in own:
            lines.append(f"    budget: {{monthly_usd: {own['monthly_usd']}}}")
        if "rpm" in own:
            lines.append(f"    limits: {{rpm: {own['rpm']}}}")
    return "\n".join(lines) + "\n"


def expected(name: str, field: str) -> Any:
    return OVERRIDES.get(name, {}).get(field, TIERS[tier_of(int(name.split("-")[1]))][field])


def test_300_tenants_take_their_tiers_defaults_and_roll_up(cli, sim, session, emulator: str, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(inventory())
    applied = cli("apply", "--yes", "--json")
    assert applied.code == 0, applied.err

    # Budgets and alarms: what the tier says, unless the tenant says otherwise (field by field).
    budgets_api = session.client("budgets", endpoint_url=emulator)
    account = session.client("sts", endpoint_url=emulator).get_caller_identity()["Account"]
    budgets: dict[str, dict[str, Any]] = {}
    for page in budgets_api.get_paginator("describe_budgets").paginate(AccountId=account):
        budgets.update({b["BudgetName"]: b for b in page.get("Budgets", [])})
    assert len([n for n in budgets if n.startswith("aipctl-saas-tenant-")]) == 300
    for i in range(300):
        name = f"tenant-{i:03d}"
        budget = budgets[f"aipctl-saas-{name}"]
        assert float(budget["BudgetLimit"]["Amount"]) == expected(name, "monthly_usd"), name
    notes = budgets_api.describe_notifications_for_budget(AccountId=account, BudgetName="aipctl-saas-tenant-007")
    assert sorted(n["Threshold"] for n in notes["Notifications"]) == [100.0], "tenant-007 kept its tier's alerts"
    notes = budgets_api.describe_notifications_for_budget(AccountId=account, BudgetName="aipctl-saas-tenant-000")
    assert sorted(n["Threshold"] for n in notes["Notifications"]) == [80.0, 100.0]

    alarms: dict[str, dict[str, Any]] = {}
    for page in (
        session.client("cloudwatch", endpoint_url=emulator)
        .get_paginator("describe_alarms")
        .paginate(AlarmNamePrefix="aipctl-saas-")
    ):
        alarms.update({a["AlarmName"]: a for a in page["MetricAlarms"]})
    for i in range(300):
        name = f"tenant-{i:03d}"
        assert alarms[f"aipctl-saas-{name}-sonnet-invocations"]["Threshold"] == expected(name, "rpm"), name
        has_tpm = f"aipctl-saas-{name}-sonnet-tokens" in alarms
        assert has_tpm == (tier_of(i) == "enterprise"), name
        assert f"aipctl-saas-{name}-sonnet-spike" in alarms
    assert alarms["aipctl-saas-tenant-010-sonnet-tokens"]["Threshold"] == 400000.0, "rpm override kept the tier's tpm"

    # Traffic: tenant i makes i % 3 calls through its AIP.
    arns = {r["caller"]: r["arn"] for r in cli("list", "--json").json}
    assert len(arns) == 300
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    for i in range(300):
        for _ in range(i % 3):
            runtime.converse(modelId=arns[f"tenant-{i:03d}"], messages=MESSAGES)

    # The in-path limiter finds a free tenant's limits (rpm 2) through its tier, from the inventory.
    limited = aipctl.attach(
        session.client("bedrock-runtime", endpoint_url=emulator),
        caller="tenant-005",
        inventory=workdir / "aipctl.yaml",
        resolver=Resolver(session, region=REGION, endpoint_url=emulator, environ={}, inventory="saas"),
        store=MemoryStore(),
    )
    for _ in range(2):
        limited.converse(modelId="sonnet", messages=MESSAGES)
    with pytest.raises(aipctl.LimitExceeded):
        limited.converse(modelId="sonnet", messages=MESSAGES)

    # Independently: the emulator's call records, grouped by the tier this file gave each tenant.
    tenant_of = {arn: caller for caller, arn in arns.items()}
    want: dict[str, Decimal] = defaultdict(Decimal)
    rows = telemetry.store().query(
        "SELECT aip_arn, base_model, geo, SUM(input_tokens), SUM(output_tokens), SUM(cache_read), SUM(cache_write) "
        "FROM calls WHERE status = 'ok' AND aip_arn IS NOT NULL GROUP BY 1, 2, 3"
    )
    for arn, model, geo, *tokens in rows:
        prices = CATALOG[model]["prices"]["global" if geo == "global" else "regional"]
        cost = sum(
            Decimal(str(prices.get(kind, 0.0))) * Decimal(count) / Decimal(1_000_000)
            for kind, count in zip(("input", "output", "cache_read", "cache_write"), tokens, strict=True)
        )
        want[tier_of(int(tenant_of[arn].split("-")[1]))] += cost
    assert set(want) == set(TIERS) and all(v > 0 for v in want.values())

    sim.advance(2 * 86400)
    report = cli("report", "--since", "3d", "--by", "tier", "--json")
    assert report.code == 0, report.err
    groups = {g["value"]: g for g in report.json["groups"]}
    assert set(groups) == set(TIERS)
    for tier, total in want.items():
        assert groups[tier]["billed_usd"] == pytest.approx(float(total), rel=1e-6, abs=1e-6), tier
        members = sorted(f"tenant-{i:03d}" for i in range(300) if tier_of(i) == tier and i % 3)
        members += ["tenant-005"] if tier == "free" else []
        assert sorted(set(groups[tier]["callers"]) & set(members)) == sorted(set(members)), tier
    rows_by_caller = {r["caller"]: r for r in report.json["callers"]}
    members = groups["pro"]["callers"]  # the rows are rounded to 6 decimals each, the total is not
    assert sum(rows_by_caller[c]["billed_usd"] for c in members) == pytest.approx(
        groups["pro"]["billed_usd"], abs=len(members) * 5e-7
    )
