"""The emergency brake: an explicit IAM Deny on a caller's AIPs, attached to the identities it runs as.

``brake`` puts the inline policy ``aipctl-brake-<caller>`` on every role/user matching the
caller's ``identities`` and records the brake as the tag ``aipctl:brake`` on the caller's AIPs
(visible in ``aipctl list`` and the report); ``release`` removes both. Both are idempotent.
IAM changes take effect within seconds on AWS (eventual consistency); the emulator applies them
on the next call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aipctl._exceptions import UsageError
from aipctl.aws.bedrock import BedrockControl, LiveProfile
from aipctl.aws.iam import Iam, Principal
from aipctl.aws.live import ManagedProfiles
from aipctl.aws.target import Target
from aipctl.guard.iam import aip_only_name, aip_only_policy, brake_name, brake_policy
from aipctl.inventory import LoadedInventory, rules


@dataclass(frozen=True)
class BrakeResult:
    caller: str
    action: Literal["braked", "released", "unchanged"]
    principals: tuple[str, ...] = ()
    aips: tuple[str, ...] = ()
    reason: str | None = None
    at: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "caller": self.caller,
            "action": self.action,
            "principals": list(self.principals),
            "aips": list(self.aips),
            "reason": self.reason,
            "at": self.at,
        }


def caller_aips(loaded: LoadedInventory, managed: ManagedProfiles, caller: str) -> list[LiveProfile]:
    if caller not in loaded.inventory.callers:
        known = ", ".join(sorted(loaded.inventory.callers)) or "none"
        raise UsageError(f"unknown caller {caller!r} in {loaded.path} (known: {known})")
    own = managed.of_caller(caller)
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


def brake(loaded: LoadedInventory, target: Target, managed: ManagedProfiles, caller: str, reason: str) -> BrakeResult:
    aips = caller_aips(loaded, managed, caller)
    iam = Iam(target)
    principals = principals_of(loaded, target, caller, iam)
    arns = sorted(p.arn for p in aips)
    already = all(rules.TAG_BRAKE in p.tags for p in aips)
    for principal in principals:
        iam.put_policy(principal, brake_name(caller), brake_policy(caller, arns, reason))
    bedrock = BedrockControl(target)
    value = next((p.tags[rules.TAG_BRAKE] for p in aips if rules.TAG_BRAKE in p.tags), None) or rules.brake_tag(
        target.now().strftime("%Y-%m-%dT%H:%M:%SZ"), reason
    )
    for profile in aips:
        if profile.tags.get(rules.TAG_BRAKE) != value:
            bedrock.tag(profile.arn, {rules.TAG_BRAKE: value})
    at, recorded = rules.parse_brake_tag(value)
    return BrakeResult(
        caller, "unchanged" if already else "braked", tuple(p.arn for p in principals), tuple(arns), recorded or reason, at
    )


def release(loaded: LoadedInventory, target: Target, managed: ManagedProfiles, caller: str) -> BrakeResult:
    aips = caller_aips(loaded, managed, caller)
    iam = Iam(target)
    principals = principals_of(loaded, target, caller, iam)
    removed = [p.arn for p in principals if iam.delete_policy(p, brake_name(caller))]
    bedrock = BedrockControl(target)
    tagged = [p for p in aips if rules.TAG_BRAKE in p.tags]
    for profile in tagged:
        bedrock.untag(profile.arn, [rules.TAG_BRAKE])
    return BrakeResult(
        caller, "released" if removed or tagged else "unchanged", tuple(removed), tuple(sorted(p.arn for p in aips))
    )


def aip_only_policies(loaded: LoadedInventory, managed: ManagedProfiles, callers: list[str]) -> dict[str, dict[str, object]]:
    """Per caller, the anti-bypass policy over its live AIPs (``aipctl iam render``)."""
    return {c: aip_only_policy(c, [p.arn for p in caller_aips(loaded, managed, c)], "aws") for c in callers}


def attach_aip_only(
    loaded: LoadedInventory, target: Target, policies: dict[str, dict[str, object]], *, detach: bool = False
) -> dict[str, list[str]]:
    """Put (or with ``detach`` remove) each caller's anti-bypass policy on its roles and users; caller -> principal ARNs."""
    iam = Iam(target)
    touched: dict[str, list[str]] = {}
    for caller, document in policies.items():
        for principal in principals_of(loaded, target, caller, iam):
            if detach:
                if not iam.delete_policy(principal, aip_only_name(caller)):
                    continue
            else:
                iam.put_policy(principal, aip_only_name(caller), document)
            touched.setdefault(caller, []).append(principal.arn)
    return touched
