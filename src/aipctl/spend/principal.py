"""Billed spend on the principal plane: Cost Explorer by the callers' IAM principal tags and STS session tags.

Since 2026 Bedrock bills every call to its IAM principal, and activated principal tags are cost
dimensions named ``iamPrincipal/<key>`` (Cost Explorer has no principal dimension; it groups by
these tags). aipctl tags each caller's roles and users with ``Application=<caller>`` (``plan``), and
tenants of a shared role carry their own session tag (``tenant_tag``, default ``Tenant``). Two
queries give the whole plane:

- ``iamPrincipal/Application`` × ``Application``: each caller's spend by its principals, split by
  whether the call went through one of its AIPs. Calls outside any AIP by a known principal are a
  bypasser's, now priced; calls by no known principal are nobody's;
- ``iamPrincipal/Application`` × ``iamPrincipal/<tenant_tag>``: each tenant's spend (one query per
  distinct tenant tag of the inventory).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aipctl.aws.ce import CostAllocationTags, CostExplorer, QueryMemo, iso_days
from aipctl.aws.target import Target
from aipctl.inventory import LoadedInventory, rules
from aipctl.spend import SourceKind, SpendReading, SpendRow, SpendWindow
from aipctl.spend.cost_explorer import BILLING_LAG, UNTAGGED_GROUP

PRINCIPAL_APPLICATION = rules.PRINCIPAL_TAG_PREFIX + rules.TAG_APPLICATION


class PrincipalPlaneSource:
    """Rows per caller (``group``: the AIP's ``Application``, or ``(untagged)`` outside any AIP) and per tenant."""

    name = "cost_explorer_principals"
    kind: SourceKind = "principal"

    def __init__(
        self, target: Target, loaded: LoadedInventory, *, now: dt.datetime | None = None, memo: QueryMemo | None = None
    ) -> None:
        self.target = target
        self.loaded = loaded
        self.now = now
        self.memo = memo

    def tenant_tags(self) -> list[str]:
        callers = self.loaded.inventory.callers.values()
        return sorted({c.tenant_tag for c in callers if c.tenants and c.attribution != "profile"})

    def read(self, window: SpendWindow) -> SpendReading:
        explorer = CostExplorer(self.target, self.memo)
        first, end = window.first_day, window.end_day
        services = explorer.services_matching(first.isoformat(), end.isoformat(), "Bedrock")
        granularity: Literal["DAILY", "MONTHLY"] = "DAILY" if window.granularity == "day" else "MONTHLY"
        costs = explorer.cost_by_tags(
            first, end, [PRINCIPAL_APPLICATION, rules.TAG_APPLICATION], services=services, granularity=granularity
        )
        days = iso_days(costs)
        rows = [
            SpendRow(caller=c.values[0], day=days[c.period_start], usd=c.usd, group=c.values[1] or UNTAGGED_GROUP, net_usd=c.net)
            for c in costs
        ]
        callers = self.loaded.inventory.callers
        for tenant_tag in self.tenant_tags():
            key = rules.PRINCIPAL_TAG_PREFIX + tenant_tag
            for cost in explorer.cost_by_tags(
                first, end, [PRINCIPAL_APPLICATION, key], services=services, granularity=granularity
            ):
                caller, tenant = cost.values
                if caller is None or tenant is None or (caller in callers and callers[caller].tenant_tag != tenant_tag):
                    continue  # (the caller's share outside tenants is in the first query)
                rows.append(
                    SpendRow(caller=caller, tenant=tenant, day=cost.period_start.isoformat(), usd=cost.usd, net_usd=cost.net)
                )
        now = self.now or dt.datetime.now(dt.timezone.utc)
        keys = [PRINCIPAL_APPLICATION] + [rules.PRINCIPAL_TAG_PREFIX + t for t in self.tenant_tags()]
        warnings = [
            f"cost-allocation tag {s.key} is {s.status}: Cost Explorer cannot split spend by IAM principal "
            "(`aipctl apply` tags the callers' roles and activates it; not retroactive)"
            for s in CostAllocationTags(self.target).status(keys)
            if s.status != "Active"
        ]
        return SpendReading(self.name, self.kind, tuple(rows), tuple(warnings), tuple(services), (now - BILLING_LAG).date())
