"""The principal plane of a plan: tags on the callers' IAM roles and users.

Since 2026 Bedrock bills every call to its IAM principal, and a principal's tags (and STS session
tags) become cost-allocation dimensions as ``iamPrincipal/<key>``. aipctl puts ``Application``,
``Owner``, ``Environment`` and the caller's own tags on every role and user its identity patterns
match, by the same ownership rules as AIPs:

- aipctl touches only keys it set itself. It records them on the principal, next to its marker:
  ``aipctl:managed=<inventory>`` and ``aipctl:keys=<key key ...>``. A key someone else set is left
  as it is (the plan says so); a principal another inventory manages stops the plan.
- Keys the inventory no longer asks for are removed. A principal the inventory no longer names keeps
  its tags until ``--prune``, which removes aipctl's keys and markers and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aipctl._exceptions import PlanConflict
from aipctl.aws.iam import Iam, Principal
from aipctl.inventory import rules
from aipctl.inventory.loader import LoadedInventory
from aipctl.plan.model import Action, PrincipalChange
from aipctl.progress import NO_PROGRESS, Progress

#: Parallel ListRoleTags/ListUserTags calls (IAM's control plane throttles beyond a handful).
READ_CONCURRENCY = 8


@dataclass(frozen=True)
class PrincipalPlan:
    changes: tuple[PrincipalChange, ...] = ()
    orphans: tuple[PrincipalChange, ...] = ()
    warnings: tuple[str, ...] = ()


def owned_keys(tags: dict[str, str], inventory_name: str) -> set[str]:
    """The keys aipctl set on a principal for this inventory (none when another, or nobody, manages it)."""
    if tags.get(rules.TAG_MANAGED) != inventory_name:
        return set()
    return set(tags.get(rules.TAG_PRINCIPAL_KEYS, "").split())


def _read_tags(iam: Iam, principals: Iterable[Principal], progress: Progress) -> dict[str, dict[str, str]]:
    items = list(principals)
    out: dict[str, dict[str, str]] = {}
    with ThreadPoolExecutor(max_workers=READ_CONCURRENCY, thread_name_prefix="aipctl-iam") as pool:
        for done, (principal, tags) in enumerate(zip(items, pool.map(iam.tags_of, items), strict=True), start=1):
            out[principal.arn] = tags
            progress("reading principal tags", done, len(items))
    return out


def _wanted(loaded: LoadedInventory, iam: Iam) -> tuple[dict[str, tuple[Principal, str]], list[str]]:
    """Principal ARN -> (principal, caller) for every caller on the principal plane."""
    wanted: dict[str, tuple[Principal, str]] = {}
    shared: dict[str, set[str]] = {}
    warnings = []
    for name, caller in sorted(loaded.inventory.callers.items()):
        if caller.attribution == "profile" or not caller.identities:
            continue
        found = iam.principals_matching(list(caller.identities))
        if not found:
            warnings.append(
                f"{loaded.where('callers', name, 'identities')}: no IAM role or user matches caller {name!r}'s identities; "
                "its principal plane has nothing to tag yet (plan again once they exist)"
            )
        for principal in found:
            if principal.arn in wanted and wanted[principal.arn][1] != name:
                shared.setdefault(principal.arn, {wanted[principal.arn][1]}).add(name)
            wanted.setdefault(principal.arn, (principal, name))
    for arn, callers in sorted(shared.items()):
        del wanted[arn]
        warnings.append(
            f"{arn} matches the identities of several callers ({', '.join(sorted(callers))}); aipctl does not tag it "
            "(a principal bills to one Application): give each caller its own role, or use tenants with session tags"
        )
    return wanted, warnings


def _desired_change(
    loaded: LoadedInventory, principal: Principal, caller: str, current: dict[str, str]
) -> tuple[PrincipalChange | None, list[str]]:
    name = loaded.inventory.name
    marker = current.get(rules.TAG_MANAGED)
    if marker is not None and marker != name:
        raise PlanConflict(
            f"{principal.arn} is tagged by another aipctl inventory ({marker!r}); nothing was changed",
            hint=f"remove caller {caller!r}'s identity from one of the inventories",
        )
    owned = owned_keys(current, name)
    desired = loaded.principal_tags(caller)
    warnings = [
        f"{principal.arn}: {key}={current[key]!r} was set outside aipctl; left as it is "
        f"(its principal-plane spend is reported under that value, not {value!r})"
        for key, value in sorted(desired.items())
        if key in current and key not in owned and current[key] != value
    ]
    mine = {k: v for k, v in desired.items() if k not in current or k in owned}
    full = {**mine, rules.TAG_MANAGED: name, rules.TAG_PRINCIPAL_KEYS: " ".join(sorted(mine))}
    if len(full[rules.TAG_PRINCIPAL_KEYS]) > rules.TAG_VALUE_MAX:
        too_long = f"{principal.arn}: the list of aipctl's keys exceeds {rules.TAG_VALUE_MAX} characters; not tagged"
        return None, [*warnings, too_long]
    set_tags = {k: v for k, v in full.items() if current.get(k) != v}
    remove = tuple(sorted(k for k in owned - set(mine) if k in current))
    total = len(set(current) | set(full)) - len(remove)
    if total > rules.MAX_TAGS_PER_RESOURCE:
        return None, [
            *warnings,
            f"{principal.arn} would carry {total} tags; IAM allows {rules.MAX_TAGS_PER_RESOURCE}: not tagged",
        ]
    action = Action.RETAG if set_tags or remove else Action.NOOP
    reason = "up to date" if action is Action.NOOP else ("not tagged by aipctl yet" if marker is None else "tags differ")
    old = {k: current[k] for k in (*set_tags, *remove) if k in current}
    change = PrincipalChange(
        action, principal.arn, principal.kind, principal.name, caller, full, set_tags, remove, reason, old_tags=old
    )
    return change, warnings


def plan_principals(loaded: LoadedInventory, iam: Iam, *, prune: bool = False, progress: Progress = NO_PROGRESS) -> PrincipalPlan:
    """Tag changes for the callers' principals; with ``prune``, also the principals aipctl tagged earlier."""
    wanted, warnings = _wanted(loaded, iam)
    current = _read_tags(iam, (p for p, _ in wanted.values()), progress)
    changes = []
    for arn, (principal, caller) in sorted(wanted.items()):
        change, found = _desired_change(loaded, principal, caller, current[arn])
        warnings += found
        if change is not None:
            changes.append(change)
    orphans: list[PrincipalChange] = []
    if prune:
        others = [p for p in iam.every_principal() if p.arn not in wanted]
        for principal in others:
            tags = _read_tags(iam, [principal], NO_PROGRESS)[principal.arn]
            if tags.get(rules.TAG_MANAGED) != loaded.inventory.name:
                continue
            markers = {rules.TAG_MANAGED, rules.TAG_PRINCIPAL_KEYS}
            keys = tuple(sorted((owned_keys(tags, loaded.inventory.name) | markers) & set(tags)))
            orphans.append(
                PrincipalChange(
                    Action.DELETE,
                    principal.arn,
                    principal.kind,
                    principal.name,
                    None,
                    remove_tags=keys,
                    reason="tagged by this inventory but no longer one of its callers' identities",
                )
            )
    return PrincipalPlan(tuple(changes), tuple(orphans), tuple(warnings))


def apply_principal(iam: Iam, change: PrincipalChange, inventory_name: str) -> None:
    """Carry out one principal change, after reading its tags again (ownership may have changed)."""
    principal = Principal(change.principal_kind, change.principal_name, change.arn)
    current = iam.tags_of(principal)
    marker = current.get(rules.TAG_MANAGED)
    if marker not in (None, inventory_name) or (change.action is Action.DELETE and marker != inventory_name):
        raise PlanConflict(f"{change.arn}: ownership changed since the plan (aipctl:managed={marker!r}); not touched")
    if change.action is Action.RETAG:
        owned = owned_keys(current, inventory_name)
        markers = (rules.TAG_MANAGED, rules.TAG_PRINCIPAL_KEYS)
        # a key someone set since the plan is not ours to overwrite, nor to claim
        foreign = {k for k in change.set_tags if k in current and k not in owned and k not in markers}
        to_set = {k: v for k, v in change.set_tags.items() if current.get(k) != v and k not in foreign}
        if foreign:
            claimed = set(change.tags.get(rules.TAG_PRINCIPAL_KEYS, "").split()) - foreign
            to_set[rules.TAG_PRINCIPAL_KEYS] = " ".join(sorted(claimed))
        iam.tag(principal, to_set)
    iam.untag(principal, [k for k in change.remove_tags if k in current])
