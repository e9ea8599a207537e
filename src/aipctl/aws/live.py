"""The account as aipctl sees it: every AIP of the Region with its tags, and the AIPs one inventory manages.

Every command that needs live AIPs reads them here, once (:func:`read_live_state`), and asks
:class:`ManagedProfiles` for "the managed AIPs of this inventory" — the one place that knows the
ownership rule ``aipctl:managed=<inventory name>``::

    live = read_live_state(target)
    mine = live.managed(loaded)              # or ManagedProfiles.of(live.profiles, "platform", callers)
    mine.of_caller("open-webui")             # its AIPs, by alias order
    mine.owners()                            # ARN and short id -> caller (verify, attribution)
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aipctl._exceptions import AwsError
from aipctl.aws.bedrock import BedrockControl, LiveProfile
from aipctl.aws.ce import CostAllocationTags, CostTagStatus
from aipctl.aws.tagging import ResourceTags
from aipctl.aws.target import Target
from aipctl.inventory import rules
from aipctl.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from aipctl.inventory import LoadedInventory

#: Set on resources that a CloudFormation stack owns.
CFN_STACK_TAG = "aws:cloudformation:stack-name"


@dataclass(frozen=True)
class Brake:
    """An engaged emergency brake, as recorded in the ``aipctl:brake`` tag of a caller's AIPs."""

    at: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"at": self.at, "reason": self.reason}


@dataclass(frozen=True)
class ManagedProfiles:
    """The AIPs an inventory manages, restricted to its current callers; iterable like a tuple."""

    inventory: str
    profiles: tuple[LiveProfile, ...]
    _by_key: Mapping[tuple[str, str], LiveProfile] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # a staged replacement and the AIP it replaces share caller and alias: the replacement is the one to call
        replaced = {p.tags[rules.TAG_REPLACES] for p in self.profiles if rules.TAG_REPLACES in p.tags}
        by_key = {
            (p.tags.get(rules.TAG_CALLER, ""), p.tags.get(rules.TAG_ALIAS, "")): p
            for p in sorted(self.profiles, key=lambda p: p.name in replaced, reverse=True)
        }
        object.__setattr__(self, "_by_key", by_key)

    @classmethod
    def of(cls, profiles: Iterable[LiveProfile], inventory: str, callers: Collection[str]) -> ManagedProfiles:
        """The profiles marked ``aipctl:managed=<inventory>`` whose ``aipctl:caller`` is one of ``callers``."""
        return cls(
            inventory,
            tuple(p for p in profiles if p.tags.get(rules.TAG_MANAGED) == inventory and p.tags.get(rules.TAG_CALLER) in callers),
        )

    def __iter__(self) -> Iterator[LiveProfile]:
        return iter(self.profiles)

    def __len__(self) -> int:
        return len(self.profiles)

    def get(self, caller: str, alias: str) -> LiveProfile | None:
        return self._by_key.get((caller, alias))

    def of_caller(self, caller: str) -> list[LiveProfile]:
        return [p for p in self.profiles if p.tags.get(rules.TAG_CALLER) == caller]

    def callers(self) -> set[str]:
        return {caller for caller, _ in self._by_key}

    def owners(self) -> dict[str, str]:
        """ARN and short id of each AIP -> its caller (runtime calls name an AIP either way)."""
        owners: dict[str, str] = {}
        for profile in self.profiles:
            owners[profile.arn] = owners[profile.profile_id] = profile.tags[rules.TAG_CALLER]
        return owners

    def snoozes(self) -> dict[str, str]:
        """Callers released by hand until a time (``aipctl:released-until``, UTC ISO 8601), past ones included."""
        return {
            p.tags[rules.TAG_CALLER]: p.tags[rules.TAG_RELEASED_UNTIL]
            for p in self.profiles
            if rules.TAG_RELEASED_UNTIL in p.tags
        }

    def brakes(self) -> dict[str, Brake]:
        """Braked callers, from their AIPs' ``aipctl:brake`` tag."""
        out: dict[str, Brake] = {}
        for profile in self.profiles:
            value = profile.tags.get(rules.TAG_BRAKE)
            if value:
                at, reason = rules.parse_brake_tag(value)
                out[profile.tags[rules.TAG_CALLER]] = Brake(at, reason)
        return out


@dataclass(frozen=True)
class LiveState:
    """Every AIP of the Region (with tags) and the status of the cost-allocation tags asked for."""

    profiles: tuple[LiveProfile, ...]
    cost_tags: tuple[CostTagStatus, ...] = ()
    warnings: tuple[str, ...] = ()

    def managed(self, loaded: LoadedInventory) -> ManagedProfiles:
        return ManagedProfiles.of(self.profiles, loaded.inventory.name, loaded.inventory.callers)


def read_live_state(target: Target, cost_tag_keys: Iterable[str] = (), progress: Progress = NO_PROGRESS) -> LiveState:
    """List every AIP of the Region with its tags, and the status of the cost-allocation tags.

    ListInferenceProfiles is the authoritative list. Tags come from the tagging API's index, asked for the
    listed ARNs 100 at a time with several calls in flight (1,500 AIPs: 15 calls side by side, not 15 pages
    one after another), unless AIPCTL_TAG_READS=per-resource; AIPs the index does not return (new,
    untagged, or the API is not permitted) are read with one ListTagsForResource each.
    """
    bedrock = BedrockControl(target)
    listed = bedrock.list_application_profiles()
    warnings: list[str] = []
    indexed: dict[str, dict[str, str]] = {}
    if listed and os.environ.get("AIPCTL_TAG_READS", "index") != "per-resource":
        try:
            indexed = ResourceTags(target).of_arns([p.arn for p in listed])
        except AwsError as exc:  # e.g. tag:GetResources not permitted
            warnings.append(f"tagging API unavailable ({exc.code}); reading tags one AIP at a time")
    known = [p.with_tags(indexed[p.arn]) for p in listed if p.arn in indexed]
    missing = [p for p in listed if p.arn not in indexed]
    profiles = known + bedrock.with_tags(missing, progress=progress)
    keys = list(cost_tag_keys)
    cost_tags = CostAllocationTags(target).status(keys) if keys else []
    return LiveState(tuple(sorted(profiles, key=lambda p: p.name)), tuple(cost_tags), tuple(warnings))
