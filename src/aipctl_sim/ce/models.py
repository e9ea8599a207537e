"""Cost-allocation tag state of the emulated Billing/Cost Explorer.

A user-defined tag key becomes known to Billing once a resource carries it (or, for an IAM
principal's tag, ``iamPrincipal/<key>``, once a call made by a principal carries it) (after a configurable
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
from aipctl_sim.organizations import members


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
        """Pick up tag keys that AIPs in any Region of the account carry, and those of its IAM principals
        (role and user tags, STS session tags) as ``iamPrincipal/<key>``.

        On AWS a principal's keys appear once a call carrying them was billed; the emulator takes them
        from the principals themselves, which are part of its durable state (the calls are not)."""
        now = settings.now()
        keys: set[str] = set()
        for account in members(self.account_id):  # a management account activates its organization's tags
            for backend in list(bedrock_sim_backends[account].values()):
                for profile in backend.profiles.values():
                    keys.update(profile.tags)
            keys.update("iamPrincipal/" + key for key in _principal_tag_keys(account))
        for key in keys:
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


def _principal_tag_keys(account: str) -> set[str]:
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    from aipctl_sim.identity import tag_dict
    from aipctl_sim.sts_sessions import of_session

    iam = iam_backends[account]["aws"]
    keys: set[str] = set()
    for role in iam.roles.values():
        keys.update(tag_dict(role.tags))
    for user in iam.users.values():
        keys.update(tag_dict(iam.tagger.list_tags_for_resource(user.arn)["Tags"]))
    for session in sts_backends[account]["aws"].assumed_roles:
        keys.update(of_session(session).tags)
    return keys


ce_sim_backends = BackendDict(CostExplorerSimBackend, "ce", use_boto3_regions=False, additional_regions=["aws"])


def ce_backend(account_id: str) -> CostExplorerSimBackend:
    return ce_sim_backends[account_id]["global"]
