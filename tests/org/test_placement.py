"""Placements of callers and tenants in an organization inventory (no AWS needed: the inventory alone)."""

from __future__ import annotations

import pytest

from aipctl._exceptions import InventoryError
from aipctl.inventory import parse_inventory

INVENTORY = """\
region: eu-central-1
models: {sonnet: eu.anthropic.claude-sonnet-4-6, embed: amazon.titan-embed-text-v2:0}
accounts:
  prod: {id: "111122223333", role: aipctl, regions: [eu-central-1, us-east-1]}
  dev: {id: "444455556666", role: aipctl}
callers:
  gateway:
    owner: platform
    environment: production
    models: [sonnet, embed]
    account: [prod, dev]
    region: eu-central-1
    identities: ["arn:aws:iam::*:role/gateway"]
    budget: {monthly_usd: 500}
    tenants:
      acme: {account: prod, Plan: gold}
      globex: {account: dev}
      initech:
"""


def test_each_placement_sees_its_callers_tenants_models_and_one_budget() -> None:
    loaded = parse_inventory(INVENTORY, "org.yaml")
    assert [p.label for p in loaded.placements] == [
        "prod (111122223333) eu-central-1",
        "prod (111122223333) us-east-1",
        "dev (444455556666) eu-central-1",
    ]
    prod, prod_us, dev = (loaded.project(p) for p in loaded.placements)
    assert prod.inventory.callers["gateway"].tenants == {"acme": {"Plan": "gold"}, "initech": {}}
    assert dev.inventory.callers["gateway"].tenants == {"globex": {}, "initech": {}}
    assert prod_us.inventory.callers == {} and prod_us.profiles == ()
    assert prod.inventory.callers["gateway"].budget is not None and dev.inventory.callers["gateway"].budget is None
    assert {p.name for p in dev.profiles} == {"gateway-sonnet", "gateway-embed"}
    assert prod.placement is not None and prod.inventory.region == "eu-central-1" and prod.inventory.accounts == {}


def test_model_ids_take_the_geography_of_the_region() -> None:
    text = INVENTORY.replace("    region: eu-central-1\n", "    region: [eu-central-1, us-east-1]\n").replace(
        'dev: {id: "444455556666", role: aipctl}', 'dev: {id: "444455556666", role: aipctl, regions: [eu-central-1, us-east-1]}'
    )
    loaded = parse_inventory(text, "org.yaml")
    us = next(p for p in loaded.placements if p.account == "prod" and p.region == "us-east-1")
    sources = {d.alias: d.source.model_id for d in loaded.project(us).profiles}
    assert sources == {"sonnet": "us.anthropic.claude-sonnet-4-6", "embed": "amazon.titan-embed-text-v2:0"}


def test_a_tenant_outside_its_callers_accounts_and_regions_is_an_error_at_its_line() -> None:
    bad = INVENTORY.replace("acme: {account: prod, Plan: gold}", "acme: {account: staging}").replace(
        "globex: {account: dev}", "globex: {account: dev, region: us-east-1}"
    )
    with pytest.raises(InventoryError) as raised:
        parse_inventory(bad, "org.yaml")
    problems = {(p.line, p.field): p.message for p in raised.value.problems}
    account_problem = problems[(16, "callers.gateway.tenants.acme.account")]
    assert account_problem == "caller 'gateway' runs in account(s) prod, dev, not 'staging'"
    assert problems[(17, "callers.gateway.tenants.globex.region")] == "caller 'gateway' runs in eu-central-1 there, not us-east-1"


def test_with_a_management_account_every_budget_is_made_there_and_nothing_else_of_callers_placed_elsewhere() -> None:
    text = INVENTORY.replace("accounts:\n", 'accounts:\n  payer: {id: "999988887777", billing: true, regions: [us-east-1]}\n')
    loaded = parse_inventory(text, "org.yaml")
    by_label = {p.label: loaded.project(p) for p in loaded.placements}
    payer = by_label["payer (999988887777) us-east-1"]
    gateway = payer.inventory.callers["gateway"]
    assert gateway.budget is not None and gateway.budget.monthly_usd == 500  # seen there: the consolidated bill
    assert gateway.models == [] and gateway.identities == [] and gateway.limits is None and payer.profiles == ()
    assert all(
        project.inventory.callers["gateway"].budget is None
        for label, project in by_label.items()
        if "gateway" in project.inventory.callers and label != "payer (999988887777) us-east-1"
    )
    prod = by_label["prod (111122223333) eu-central-1"]
    assert {p.name for p in prod.profiles} == {"gateway-sonnet", "gateway-embed"}  # the AIPs stay where the caller runs
