"""The emergency brake: the tag ``aipctl:brake`` on a caller's AIPs, which the anti-bypass policy denies.

``aipctl iam render --attach`` (run once by someone with IAM rights) puts ``aipctl-aip-only-<caller>``
on the caller's roles and users; besides allowing only the caller's own AIPs and denying direct
model calls, it denies invoking any AIP tagged ``aipctl:brake`` (``aws:ResourceTag``). Braking and
releasing are then tag writes on aipctl's own AIPs: the brake needs no IAM write power at run time,
so neither does the unattended ``guard watch`` that pulls it.

``brake`` tags the AIPs and reads (never writes) the caller's inline policies to say which of its
principals the deny does not reach yet (no anti-bypass policy, or one from before the brake
statement): for those, the AIPs are braked but direct model calls are not. ``release`` removes the
tag. Both are idempotent. The deny takes effect within seconds on AWS; the emulator applies it on
the next call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from aipctl._exceptions import UsageError
from aipctl.aws.bedrock import BedrockControl, LiveProfile
from aipctl.aws.iam import Iam, Principal
from aipctl.aws.live import ManagedProfiles
from aipctl.aws.target import Target
from aipctl.guard.iam import BRAKE_SID, TENANT_BRAKE_SID, aip_only_name, aip_only_policy, brake_name
from aipctl.inventory import LoadedInventory, rules


@dataclass(frozen=True)
class BrakeResult:
    caller: str
    action: Literal["braked", "released", "unchanged"]
    #: Principals whose anti-bypass policy turns the tag into a deny of every path.
    principals: tuple[str, ...] = ()
    aips: tuple[str, ...] = ()
    reason: str | None = None
    at: str | None = None
    #: Principals the brake does not fully reach: no anti-bypass policy with the brake statement.
    uncovered: tuple[str, ...] = ()
    #: Inline ``aipctl-brake-<caller>`` policies an earlier aipctl attached (remove: ``iam render --attach``).
    legacy: tuple[str, ...] = ()
    #: The tenant braked or released (None: the whole caller).
    tenant: str | None = None
    #: A release by hand: `guard watch` does not brake again before this UTC time.
    until: str | None = None
    #: Organization inventories: the accounts × Regions acted in, and the ones that failed (with why).
    placements: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "caller": self.caller,
            "action": self.action,
            "principals": list(self.principals),
            "aips": list(self.aips),
            "reason": self.reason,
            "at": self.at,
            "uncovered": list(self.uncovered),
            "legacy_policies": list(self.legacy),
            "tenant": self.tenant,
            "released_until": self.until,
        }
        if self.placements or self.failed:
            out |= {"placements": list(self.placements), "failed": list(self.failed)}
        return out


def merged_results(caller: str, parts: list[tuple[str, BrakeResult]], failed: list[str]) -> BrakeResult:
    """One result for a caller braked or released in several accounts × Regions (labelled parts)."""
    results = [r for _, r in parts]
    actions = {r.action for r in results}
    action: Literal["braked", "released", "unchanged"] = (
        "braked" if "braked" in actions else "released" if "released" in actions else "unchanged"
    )

    def union(name: str) -> tuple[str, ...]:
        return tuple(sorted({item for r in results for item in getattr(r, name)}))

    return BrakeResult(
        caller,
        action,
        union("principals"),
        union("aips"),
        next((r.reason for r in results if r.reason), None),
        next((r.at for r in results if r.at), None),
        union("uncovered"),
        union("legacy"),
        next((r.tenant for r in results if r.tenant), None),
        next((r.until for r in results if r.until), None),
        tuple(label for label, _ in parts),
        tuple(failed),
    )


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


def brake_reach(
    loaded: LoadedInventory, target: Target, caller: str, iam: Iam, sid: str = BRAKE_SID
) -> tuple[list[str], list[str], list[str]]:
    """(covered, uncovered, with a legacy brake policy) principals of ``caller``, from reading their inline policies."""
    if not loaded.inventory.callers[caller].identities:
        return [], [f"(caller {caller!r} lists no identities)"], []
    covered: list[str] = []
    uncovered: list[str] = []
    legacy: list[str] = []
    for principal in iam.principals_matching(loaded.inventory.callers[caller].identities):
        document = iam.get_policy(principal, aip_only_name(caller))
        statements = (document or {}).get("Statement", [])
        has_brake = any(isinstance(s, dict) and s.get("Sid") == sid for s in statements)
        (covered if has_brake else uncovered).append(principal.arn)
        if iam.get_policy(principal, brake_name(caller)) is not None:
            legacy.append(principal.arn)
    if not covered and not uncovered:
        uncovered.append(f"(no IAM role or user matches caller {caller!r}'s identities)")
    return covered, uncovered, legacy


def brake(loaded: LoadedInventory, target: Target, managed: ManagedProfiles, caller: str, reason: str) -> BrakeResult:
    """Tag the caller's AIPs ``aipctl:brake``; report which principals the deny reaches."""
    aips = caller_aips(loaded, managed, caller)
    covered, uncovered, legacy = brake_reach(loaded, target, caller, Iam(target))
    arns = sorted(p.arn for p in aips)
    already = all(rules.TAG_BRAKE in p.tags for p in aips)
    bedrock = BedrockControl(target)
    value = next((p.tags[rules.TAG_BRAKE] for p in aips if rules.TAG_BRAKE in p.tags), None) or rules.brake_tag(
        target.now().strftime("%Y-%m-%dT%H:%M:%SZ"), reason
    )
    for profile in aips:
        if profile.tags.get(rules.TAG_BRAKE) != value:
            bedrock.tag(profile.arn, {rules.TAG_BRAKE: value})
        if rules.TAG_RELEASED_UNTIL in profile.tags:  # a brake ends a release by hand
            bedrock.untag(profile.arn, [rules.TAG_RELEASED_UNTIL])
    at, recorded = rules.parse_brake_tag(value)
    return BrakeResult(
        caller,
        "unchanged" if already else "braked",
        tuple(covered),
        tuple(arns),
        recorded or reason,
        at,
        tuple(uncovered),
        tuple(legacy),
    )


def braked_tenants(profiles: list[LiveProfile]) -> set[str]:
    return {t for p in profiles for t in p.tags.get(rules.TAG_BRAKED_TENANTS, "").split()}


def brake_tenant(
    loaded: LoadedInventory, target: Target, managed: ManagedProfiles, caller: str, tenant: str, *, release: bool = False
) -> BrakeResult:
    """Brake (or release) one tenant of a shared role: its name in ``aipctl:braked-tenants`` on the caller's AIPs."""
    spec = loaded.inventory.callers.get(caller)
    if spec is not None and tenant not in spec.tenants:
        known = ", ".join(sorted(spec.tenants)) or "none"
        raise UsageError(f"caller {caller!r} has no tenant {tenant!r} (tenants: {known})")
    aips = caller_aips(loaded, managed, caller)
    covered, uncovered, legacy = brake_reach(loaded, target, caller, Iam(target), TENANT_BRAKE_SID)
    before = braked_tenants(aips)
    after = before - {tenant} if release else before | {tenant}
    value = f" {' '.join(sorted(after))} " if after else ""
    if len(value) > rules.TAG_VALUE_MAX:
        raise UsageError(
            f"{len(after)} tenants braked at once do not fit one tag value ({rules.TAG_VALUE_MAX} characters)",
            hint=f"brake the whole caller (`aipctl brake {caller}`) or release some tenants first",
        )
    bedrock = BedrockControl(target)
    for profile in aips:
        if profile.tags.get(rules.TAG_BRAKED_TENANTS, "") == value:
            continue
        if value:
            bedrock.tag(profile.arn, {rules.TAG_BRAKED_TENANTS: value})
        else:
            bedrock.untag(profile.arn, [rules.TAG_BRAKED_TENANTS])
    changed = after != before
    action: Literal["braked", "released", "unchanged"] = ("released" if release else "braked") if changed else "unchanged"
    return BrakeResult(
        caller,
        action,
        tuple(covered),
        tuple(sorted(p.arn for p in aips)),
        uncovered=tuple(uncovered),
        legacy=tuple(legacy),
        tenant=tenant,
    )


def release(
    loaded: LoadedInventory, target: Target, managed: ManagedProfiles, caller: str, *, until: dt.datetime | None = None
) -> BrakeResult:
    """Remove the tag; name any legacy brake policy still attached (its removal needs IAM rights).

    ``until``: also tag the AIPs ``aipctl:released-until``, so that `guard watch` does not brake the
    caller again before then (a manual `aipctl brake` still does, and ends the release)."""
    aips = caller_aips(loaded, managed, caller)
    covered, uncovered, legacy = brake_reach(loaded, target, caller, Iam(target))
    bedrock = BedrockControl(target)
    tagged = [p for p in aips if rules.TAG_BRAKE in p.tags]
    for profile in tagged:
        bedrock.untag(profile.arn, [rules.TAG_BRAKE])
    stamp = until.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if until else None
    if stamp:
        for profile in aips:
            if profile.tags.get(rules.TAG_RELEASED_UNTIL) != stamp:
                bedrock.tag(profile.arn, {rules.TAG_RELEASED_UNTIL: stamp})
    changed = bool(tagged) or any(stamp and p.tags.get(rules.TAG_RELEASED_UNTIL) != stamp for p in aips)
    return BrakeResult(
        caller,
        "released" if changed else "unchanged",
        tuple(covered),
        tuple(sorted(p.arn for p in aips)),
        uncovered=tuple(uncovered),
        legacy=tuple(legacy),
        until=stamp,
    )


def aip_only_policies(loaded: LoadedInventory, managed: ManagedProfiles, callers: list[str]) -> dict[str, dict[str, object]]:
    """Per caller, the anti-bypass policy over its live AIPs (``aipctl iam render``); callers with tenants also
    get the statement that brakes one tenant at a time."""
    specs = loaded.inventory.callers
    return {
        c: aip_only_policy(
            c, [p.arn for p in caller_aips(loaded, managed, c)], "aws", specs[c].tenant_tag if specs[c].tenants else None
        )
        for c in callers
    }


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
                iam.delete_policy(principal, brake_name(caller))  # an earlier aipctl's brake: the tag does it now
            touched.setdefault(caller, []).append(principal.arn)
    return touched
