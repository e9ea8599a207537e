"""Cost-allocation tag state of the emulated Billing/Cost Explorer.

A user-defined tag key becomes known to Billing once a resource carries it (after a configurable
discovery delay, default 0 in the emulator; up to 24 h on AWS), starts ``Inactive`` and can then be
activated. Every status change is kept with its time, because activation is not retroactive: billing
line items only carry a tag if the key was active when the usage happened.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend

from aipctl_sim import settings
from aipctl_sim.bedrock.models import bedrock_sim_backends


@dataclass
class CostAllocationTag:
    key: str
    first_seen: dt.datetime
    status: str = "Inactive"
    last_updated: dt.datetime | None = None
    history: list[tuple[dt.datetime, str]] = field(default_factory=list)

    def active_at(self, when: dt.datetime) -> bool:
        state = "Inactive"
        for changed, status in self.history:
            if changed <= when:
                state = status
        return state == "Active"

    def describe(self) -> dict[str, Any]:
        out = {"TagKey": self.key, "Type": "UserDefined", "Status": self.status}
        if self.last_updated:
            out["LastUpdatedDate"] = self.last_updated.strftime("%Y-%m-%dT%H:%M:%SZ")
        out["LastUsedDate"] = self.first_seen.strftime("%Y-%m-%dT%H:%M:%SZ")
        return out


class CostExplorerSimBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.tags: dict[str, CostAllocationTag] = {}
        self.discovery_delay = dt.timedelta(0)

    def discover(self) -> None:
        """Pick up tag keys that AIPs in any Region of the account carry."""
        now = settings.now()
        account = bedrock_sim_backends[self.account_id]
        for backend in list(account.values()):
            for profile in backend.profiles.values():
                for key in profile.tags:
                    if key not in self.tags and not key.startswith("aws:"):
                        self.tags[key] = CostAllocationTag(key, first_seen=now)

    def visible(self) -> list[CostAllocationTag]:
        self.discover()
        cutoff = settings.now() - self.discovery_delay
        return [t for t in self.tags.values() if t.first_seen <= cutoff]

    def update_status(self, entries: list[dict[str, str]]) -> list[dict[str, str]]:
        known = {t.key: t for t in self.visible()}
        errors = []
        now = settings.now()
        for entry in entries:
            tag = known.get(entry["TagKey"])
            if tag is None:
                errors.append(
                    {
                        "TagKey": entry["TagKey"],
                        "Code": "TagKeyNotFound",
                        "Message": "The tag key was not found. A key can be activated once resources carrying it "
                        "have appeared in Billing, which can take up to 24 hours.",
                    }
                )
                continue
            if tag.status != entry["Status"]:
                tag.status = entry["Status"]
                tag.last_updated = now
                tag.history.append((now, entry["Status"]))
        return errors


ce_sim_backends = BackendDict(CostExplorerSimBackend, "ce", use_boto3_regions=False, additional_regions=["aws"])


def ce_backend(account_id: str) -> CostExplorerSimBackend:
    return ce_sim_backends[account_id]["global"]
