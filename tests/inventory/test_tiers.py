"""Tiers as defaults (issue 16, first slice): ``tiers: {gold: {weight, budget, limits}}`` inherited by a
caller field by field; the old form (a weight) keeps working; bad tiers are refused at file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from aipctl import InventoryError
from aipctl.inventory import parse_inventory

TIERED = """\
name: saas
region: eu-central-1
models:
  sonnet: eu.anthropic.claude-sonnet-4-6
tiers:
  enterprise: {weight: 8, budget: {monthly_usd: 500, alert_at: [80, 100], brake_at: 100}, limits: {rpm: 600, daily_usd: 40}}
  free: 1
callers:
  acme:
    owner: acme-inc
    environment: production
    models: [sonnet]
    identities: ["arn:aws:iam::*:role/acme-task"]
    tier: enterprise
  globex:
    owner: globex-corp
    environment: production
    models: [sonnet]
    identities: ["arn:aws:iam::*:role/globex-task"]
    tier: enterprise
    budget: {monthly_usd: 900}
    limits: {rpm: 60}
  hobbyist:
    owner: someone
    environment: production
    models: [sonnet]
    tier: free
"""


def test_callers_inherit_their_tiers_defaults_field_by_field() -> None:
    loaded = parse_inventory(TIERED, "saas.yaml")
    callers = loaded.inventory.callers
    assert loaded.inventory.tiers == {"enterprise": 8.0, "free": 1.0}
    acme, globex, hobbyist = callers["acme"], callers["globex"], callers["hobbyist"]
    assert acme.budget is not None and (acme.budget.monthly_usd, acme.budget.brake_at, acme.budget.alert_at) == (
        500,
        100,
        [80, 100],
    )
    assert acme.limits is not None and (acme.limits.rpm, acme.limits.daily_usd) == (600, 40)
    assert globex.budget is not None and (globex.budget.monthly_usd, globex.budget.brake_at) == (900, 100), "own keys win"
    assert globex.limits is not None and (globex.limits.rpm, globex.limits.daily_usd) == (60, 40)
    assert hobbyist.budget is None and hobbyist.limits is None


def test_the_plan_makes_budgets_and_alarms_from_tier_defaults(cli, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(TIERED)
    plan = cli("plan", "--json")
    assert plan.code == 0, plan.err
    budgets = sorted(g["caller"] for g in plan.json["guards"] if g["kind"] == "budget")
    assert budgets == ["acme", "globex"]


@pytest.mark.parametrize(
    "tiers,fragment",
    [
        ("  enterprise: {weight: 8, colour: blue}\n", "tiers.enterprise.colour"),
        ("  enterprise: {weight: -1}\n", "tiers.enterprise.weight"),
    ],
)
def test_bad_tiers_are_refused_with_their_line(tiers: str, fragment: str) -> None:
    text = TIERED.replace(TIERED.split("tiers:\n")[1].split("  free: 1\n", maxsplit=1)[0], tiers)
    with pytest.raises(InventoryError) as refused:
        parse_inventory(text, "saas.yaml")
    assert any(p.field == fragment and p.line == 6 for p in refused.value.problems), refused.value.problems
