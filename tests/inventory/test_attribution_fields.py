"""attribution, tenants and tenant_tag (issue 13.1): what a valid inventory means."""

from __future__ import annotations

from aipctl.inventory import parse_inventory

TEXT = """\
name: saas
region: eu-central-1
models:
  sonnet: eu.anthropic.claude-sonnet-4-6
callers:
  chat:
    owner: platform-team
    environment: production
    models: [sonnet]
  gateway:
    owner: saas-team
    environment: production
    models: [sonnet]
    attribution: principal
    identities: ["arn:aws:iam::*:role/gateway"]
    tenant_tag: Customer
    tenants:
      acme:
      globex: {Plan: gold, Seats: 40}
  legacy:
    owner: data-team
    environment: staging
    models: [sonnet]
    attribution: profile
"""


def test_defaults_and_tenants() -> None:
    loaded = parse_inventory(TEXT, "saas.yaml")
    callers = loaded.inventory.callers
    assert callers["chat"].attribution == "both" and callers["chat"].tenants == {} and callers["chat"].tenant_tag == "Tenant"
    gateway = callers["gateway"]
    assert gateway.tenant_tag == "Customer"
    assert gateway.tenants == {"acme": {}, "globex": {"Plan": "gold", "Seats": "40"}}, "tag values are strings"


def test_a_principal_caller_gets_no_aip() -> None:
    loaded = parse_inventory(TEXT, "saas.yaml")
    assert sorted(p.caller for p in loaded.profiles) == ["chat", "legacy"]
