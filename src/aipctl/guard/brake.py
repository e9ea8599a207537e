"""The emergency brake: an explicit IAM Deny on a caller's AIPs, attached to the identities it runs as.

``brake`` puts the inline policy ``aipctl-brake-<caller>`` on every role/user matching the
caller's ``identities`` and records the brake as the tag ``aipctl:brake`` on the caller's AIPs
(visible in ``aipctl list`` and the report); ``release`` removes both. Both are idempotent.
IAM changes take effect within seconds on AWS (eventual consistency); the emulator applies them
on the next call.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from aipctl._exceptions import UsageError
from aipctl.aws.bedrock import BedrockControl, LiveProfile
from aipctl.aws.iam import Iam, Principal
from aipctl.aws.target import Target
from aipctl.guard.iam import brake_name, brake_policy
from aipctl.inventory import LoadedInventory, rules


@dataclass
class BrakeResult:
    caller: str
    action: str  # braked | released | unchanged
    principals: list[str] = field(default_factory=list)
    aips: list[str] = field(default_factory=list)
    reason: str | None = None
    at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def caller_aips(loaded: LoadedInventory, profiles: list[LiveProfile], caller: str) -> list[LiveProfile]:
    if caller not in loaded.inventory.callers:
        known = ", ".join(sorted(loaded.inventory.callers)) or "none"
        raise UsageError(f"unknown caller {caller!r} in {loaded.path} (known: {known})")
    own = [
        p for p in profiles if p.tags.get(rules.TAG_MANAGED) == loaded.inventory.name and p.tags.get(rules.TAG_CALLER) == caller
    ]
    if not own:
        raise UsageError(f"caller {caller!r} has no AIPs yet", hint="run `aipctl apply` first")
    return own


def principals_of(loaded: LoadedInventory, target: Target, caller: str, iam: Iam | None = None) -> list[Principal]:
    patterns = loaded.inventory.callers[caller].identities
    if not patterns:
        raise UsageError(
            f"caller {caller!r} lists no identities: aipctl cannot tell which IAM roles or users to act on",
            hint="add its role ARNs under `identities:` in the inventory",
        )
    found = (iam or Iam(target)).principals_matching(patterns)
    if not found:
        raise UsageError(f"no IAM role or user in account {target.account} matches {', '.join(patterns)} (caller {caller!r})")
    return found


def _tag_value(now: dt.datetime, reason: str) -> str:
    text = re.sub(r"[^\w\s.:/=+@-]", " ", reason, flags=re.ASCII).strip()
    return f"{now.strftime('%Y-%m-%dT%H:%M:%SZ')} {text}".strip()[: rules.TAG_VALUE_MAX]


def brake(loaded: LoadedInventory, target: Target, profiles: list[LiveProfile], caller: str, reason: str) -> BrakeResult:
    aips = caller_aips(loaded, profiles, caller)
    iam = Iam(target)
    principals = principals_of(loaded, target, caller, iam)
    arns = sorted(p.arn for p in aips)
    already = all(rules.TAG_BRAKE in p.tags for p in aips)
    for principal in principals:
        iam.put_policy(principal, brake_name(caller), brake_policy(caller, arns, reason))
    bedrock = BedrockControl(target)
    value = next((p.tags[rules.TAG_BRAKE] for p in aips if rules.TAG_BRAKE in p.tags), None) or _tag_value(target.now(), reason)
    for profile in aips:
        if profile.tags.get(rules.TAG_BRAKE) != value:
            bedrock.tag(profile.arn, {rules.TAG_BRAKE: value})
    at, _, recorded = value.partition(" ")
    return BrakeResult(caller, "unchanged" if already else "braked", [p.arn for p in principals], arns, recorded or reason, at)


def release(loaded: LoadedInventory, target: Target, profiles: list[LiveProfile], caller: str) -> BrakeResult:
    aips = caller_aips(loaded, profiles, caller)
    iam = Iam(target)
    principals = principals_of(loaded, target, caller, iam)
    removed = [p.arn for p in principals if iam.delete_policy(p, brake_name(caller))]
    bedrock = BedrockControl(target)
    tagged = [p for p in aips if rules.TAG_BRAKE in p.tags]
    for profile in tagged:
        bedrock.untag(profile.arn, [rules.TAG_BRAKE])
    action = "released" if removed or tagged else "unchanged"
    return BrakeResult(caller, action, removed, sorted(p.arn for p in aips))


def brakes(profiles: list[LiveProfile]) -> dict[str, dict[str, str]]:
    """Braked callers (from the AIPs' tags): caller -> {at, reason}."""
    out: dict[str, dict[str, str]] = {}
    for profile in profiles:
        value = profile.tags.get(rules.TAG_BRAKE)
        caller = profile.tags.get(rules.TAG_CALLER)
        if value and caller:
            at, _, reason = value.partition(" ")
            out[caller] = {"at": at, "reason": reason}
    return out
