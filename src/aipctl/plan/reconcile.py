"""Compare the inventory with live state and produce a :class:`~aipctl.plan.model.Plan`.

Ownership rules (the safety contract):

- An AIP is *ours* only if it carries ``aipctl:managed=<inventory name>``. Only ours are retagged,
  replaced or deleted; deletes additionally need ``--prune``.
- An AIP with a desired name that is not ours (no marker, another inventory's marker, or owned by a
  CloudFormation stack) is a conflict: the plan fails and nothing is changed.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from aipctl._exceptions import AwsError, InventoryError, InventoryProblem, PlanConflict
from aipctl.aws.bedrock import BedrockControl, LiveProfile
from aipctl.aws.budgets import Budgets
from aipctl.aws.cloudwatch import Alarms
from aipctl.aws.iam import Iam
from aipctl.aws.live import CFN_STACK_TAG, LiveState, read_live_state
from aipctl.aws.quotas import AIP_QUOTA_CODE, SERVICE_CODE, Quota, ServiceQuotas
from aipctl.aws.target import Target
from aipctl.inventory import rules
from aipctl.inventory.loader import DesiredProfile, LoadedInventory
from aipctl.plan.guards import plan_guards, prefix
from aipctl.plan.model import Action, CostTagChange, Plan, ProfileChange, Via
from aipctl.plan.principals import plan_principals
from aipctl.plan.stacks import plan_stacks
from aipctl.progress import NO_PROGRESS, Progress


def plan_changes(
    loaded: LoadedInventory,
    live: LiveState,
    *,
    account: str,
    prune: bool = False,
    staged: bool = False,
    target_info: Mapping[str, str] | None = None,
    partition: str = "aws",
) -> Plan:
    """The pure core of ``plan``: no AWS calls, so every rule is testable on its own.

    ``staged``: a model-source change creates the new AIP beside the old one (named by
    :func:`rules.staged_name`, tagged ``aipctl:replaces``) instead of replacing it in place; the old one
    keeps serving until the caller is re-wired and a later ``--prune`` deletes it."""
    changes, superseded = _desired_changes(loaded, live, account, partition, staged)
    orphans = _orphans(loaded, live) + superseded
    if prune:
        changes, orphans = changes + orphans, []
    warnings = [*live.warnings, *_replace_warnings(changes), *_staged_warnings(changes, superseded, prune)]
    return Plan(
        inventory_name=loaded.inventory.name,
        inventory_path=loaded.path,
        target=dict(target_info or {}),
        changes=tuple(sorted(changes, key=lambda c: (c.caller or "", c.alias or "", c.name))),
        cost_tags=tuple(CostTagChange(s.key, s.status) for s in live.cost_tags if s.status != "Active"),
        orphans=tuple(orphans),
        warnings=tuple(warnings),
        inventory_callers=caller_labels(loaded),
        rewire=tuple(sorted({c.caller for c in [*changes, *superseded] if c.caller and _is_staging(c)})),
    )


def _is_staging(change: ProfileChange) -> bool:
    """A staged replacement being made, or an AIP it supersedes: its caller must be re-wired."""
    return (change.action is Action.CREATE and rules.TAG_REPLACES in change.tags) or change.reason.startswith("superseded by")


def _staged_warnings(changes: list[ProfileChange], superseded: list[ProfileChange], prune: bool) -> list[str]:
    out = [
        f"{c.name}: the replacement of {c.tags[rules.TAG_REPLACES]} is staged beside it (model source {c.copy_from}); "
        f"re-wire caller {c.caller!r} (`aipctl wire`), then `apply --prune` deletes the old AIP"
        for c in changes
        if c.action is Action.CREATE and rules.TAG_REPLACES in c.tags
    ]
    if not prune:
        out += [
            f"{c.name} is {c.reason}: re-wire caller {c.caller!r} (`aipctl wire`), then `apply --prune` deletes it"
            for c in superseded
        ]
    return out


def caller_labels(loaded: LoadedInventory) -> dict[str, str]:
    """``tier gold · owner acme-inc · production`` per caller, for the grouped plan."""
    out = {}
    for name, caller in loaded.inventory.callers.items():
        parts = [f"tier {caller.tier}"] if caller.tier else []
        parts += [f"owner {caller.owner}", caller.environment]
        out[name] = " · ".join(parts)
    return out


def _desired_changes(
    loaded: LoadedInventory, live: LiveState, account: str, partition: str, staged: bool = False
) -> tuple[list[ProfileChange], list[ProfileChange]]:
    """A change per AIP the inventory asks for, and the AIPs staged replacements supersede (deleted with --prune);
    any AIP of a wanted name that is not ours stops the plan."""
    by_name = {p.name: p for p in live.profiles}
    changes: list[ProfileChange] = []
    superseded: list[ProfileChange] = []
    conflicts: list[str] = []
    for desired in loaded.profiles:
        existing = by_name.get(desired.name)
        copy_from = desired.source.copy_from(loaded.inventory.region, account, partition)
        replacement = by_name.get(rules.staged_name(desired.name, desired.source.model_id))
        if replacement is not None and not _ownership_problem(replacement, loaded.inventory.name):
            # a staged replacement exists: it is the caller's AIP now, the one it replaces waits for --prune
            staged_desired = replace(desired, name=replacement.name)
            changes.append(_compare(staged_desired, replacement, copy_from))
            if existing is not None and not _ownership_problem(existing, loaded.inventory.name):
                superseded.append(_superseded(existing, replacement.name))
            continue
        if existing is None:
            changes.append(_create(desired, copy_from))
        elif problem := _ownership_problem(existing, loaded.inventory.name):
            where = loaded.where("callers", desired.caller, "models")
            conflicts.append(f"{where}: AIP {desired.name!r} ({existing.arn}) {problem}")
        else:
            change = _compare(desired, existing, copy_from)
            if staged and change.action is Action.REPLACE:
                name = rules.staged_name(desired.name, desired.source.model_id)
                staged_desired = replace(desired, name=name)
                create = _create(staged_desired, copy_from)
                tags = {**create.tags, rules.TAG_REPLACES: desired.name}
                changes.append(
                    replace(
                        create,
                        tags=tags,
                        set_tags=tags,
                        reason=f"replaces {desired.name} (model source {change.old_source} -> {copy_from}), staged beside it",
                    )
                )
                changes.append(replace(change, action=Action.NOOP, set_tags={}, reason=f"superseded by {name} (staged)"))
                continue
            changes.append(change)
    if conflicts:
        raise PlanConflict(
            "the plan would touch AIPs that this inventory does not manage; nothing was changed:\n"
            + "\n".join(f"  {c}" for c in conflicts),
            hint="rename the caller or model alias, or delete/retag the existing AIP yourself",
        )
    return changes, superseded


def _superseded(profile: LiveProfile, by: str) -> ProfileChange:
    return ProfileChange(
        Action.DELETE,
        profile.name,
        profile.tags.get(rules.TAG_CALLER),
        profile.tags.get(rules.TAG_ALIAS),
        arn=profile.arn,
        reason=f"superseded by {by} (a staged replacement)",
    )


def _create(desired: DesiredProfile, copy_from: str) -> ProfileChange:
    return ProfileChange(
        Action.CREATE,
        desired.name,
        desired.caller,
        desired.alias,
        copy_from=copy_from,
        description=desired.description,
        tags=desired.tag_map,
        set_tags=desired.tag_map,
        reason="not in the account yet",
    )


def _orphans(loaded: LoadedInventory, live: LiveState) -> list[ProfileChange]:
    """AIPs this inventory manages (outside CloudFormation) that it no longer asks for: deleted with --prune."""
    wanted = {d.name for d in loaded.profiles} | {rules.staged_name(d.name, d.source.model_id) for d in loaded.profiles}
    return [
        ProfileChange(
            Action.DELETE,
            p.name,
            p.tags.get(rules.TAG_CALLER),
            p.tags.get(rules.TAG_ALIAS),
            arn=p.arn,
            reason="managed by this inventory but no longer in it",
        )
        for p in live.profiles
        if p.tags.get(rules.TAG_MANAGED) == loaded.inventory.name and CFN_STACK_TAG not in p.tags and p.name not in wanted
    ]


def _replace_warnings(changes: list[ProfileChange]) -> list[str]:
    return [
        f"{c.name}: model source changes ({c.old_source} -> {c.copy_from}); the AIP is "
        f"replaced and its ARN changes: re-wire caller {c.caller!r} (`aipctl wire`)"
        for c in changes
        if c.action is Action.REPLACE
    ]


def check_quota(loaded: LoadedInventory, plan: Plan, live: LiveState, quota: Quota) -> list[str]:
    """Stop before any change when the Region could not hold the AIPs the plan creates; warnings otherwise.

    Callers are fitted in inventory order; those whose AIPs would not fit are proposed for
    ``attribution: principal`` (billed by their IAM principals, no AIP needed).
    """
    creates = [c for c in plan.changes if c.action is Action.CREATE]
    deletes = sum(1 for c in plan.changes if c.action is Action.DELETE)
    after = len(live.profiles) + len(creates) - deletes
    where = f"Service Quotas {SERVICE_CODE}/{AIP_QUOTA_CODE}, {quota.source}" + (f"; {quota.note}" if quota.note else "")
    if after <= quota.value:
        if after > 0.8 * quota.value:
            return [f"the Region will hold {after} of its {quota.value} AIPs ({where}); tenants and new callers may not fit"]
        return [f"AIP quota assumed to be {quota.value} ({quota.note})"] if quota.source == "assumed" else []
    room = quota.value - (len(live.profiles) - deletes)
    per_caller: dict[str, int] = {}
    for change in creates:
        per_caller[change.caller or ""] = per_caller.get(change.caller or "", 0) + 1
    fits, overflow = 0, []
    for name in loaded.inventory.callers:
        wanted = per_caller.get(name, 0)
        if not wanted:
            continue
        if fits + wanted <= room:
            fits += wanted
        else:
            overflow.append(name)
    proposals = "\n".join(f"  {loaded.where('callers', n)}: {n} ({per_caller[n]} AIP(s))" for n in overflow)
    raise PlanConflict(
        f"the plan would create {len(creates)} AIP(s) in a Region that holds {len(live.profiles)} "
        f"and may hold {quota.value} ({where}); nothing was changed. These callers would not fit:\n{proposals}",
        hint="set `attribution: principal` on them (billed by their IAM principals and session tags, no AIP), "
        f"or raise the quota: aws service-quotas request-service-quota-increase --service-code {SERVICE_CODE} "
        f"--quota-code {AIP_QUOTA_CODE} --desired-value {after}",
    )


def _ownership_problem(profile: LiveProfile, inventory_name: str) -> str | None:
    marker = profile.tags.get(rules.TAG_MANAGED)
    if CFN_STACK_TAG in profile.tags:
        return f"belongs to CloudFormation stack {profile.tags[CFN_STACK_TAG]!r} (plan and apply it with `--via cloudformation`)"
    if marker is None:
        return "exists but was not created by aipctl (no aipctl:managed tag)"
    if marker != inventory_name:
        return f"is managed by another aipctl inventory ({marker!r})"
    return None


def _compare(desired: DesiredProfile, live: LiveProfile, copy_from: str) -> ProfileChange:
    wanted = desired.tag_map
    unchanged = ProfileChange(
        Action.NOOP,
        desired.name,
        desired.caller,
        desired.alias,
        arn=live.arn,
        copy_from=copy_from,
        description=desired.description,
        tags=wanted,
        reason="up to date",
    )
    live_source = live.tags.get(rules.TAG_SOURCE)
    if live_source is not None and live_source != desired.source.model_id:
        return replace(
            unchanged,
            action=Action.REPLACE,
            set_tags=wanted,
            old_source=live_source,
            reason="model source changed (an AIP's model source is immutable)",
        )
    current = {k: v for k, v in live.tags.items() if not k.startswith("aws:") and k not in rules.STATE_TAG_KEYS}
    to_set = {k: v for k, v in wanted.items() if current.get(k) != v}
    to_remove = tuple(sorted(k for k in current if k not in wanted))
    if to_set or to_remove:
        old = {k: current[k] for k in (*to_set, *to_remove) if k in current}
        return replace(unchanged, action=Action.RETAG, set_tags=to_set, remove_tags=to_remove, reason="tags differ", old_tags=old)
    return unchanged


def check_model_sources(loaded: LoadedInventory, plan: Plan, bedrock: BedrockControl) -> None:
    """Before creating anything, make sure every model source the plan copies from exists."""
    needed = {c.alias for c in plan.changes if c.action in (Action.CREATE, Action.REPLACE)}
    if not needed:
        return
    sources = {alias: loaded.sources[alias] for alias in needed if alias}
    known_profiles: set[str] = set()
    known_models: set[str] = set()
    if any(s.kind == "system-profile" for s in sources.values()):
        known_profiles = bedrock.system_profile_ids()
    if any(s.kind == "foundation-model" for s in sources.values()):
        known_models = bedrock.foundation_model_ids()
    problems = []
    for alias, source in sorted(sources.items()):
        known = known_profiles if source.kind == "system-profile" else known_models
        if source.model_id in known:
            continue
        close = difflib.get_close_matches(source.model_id, sorted(known), n=2, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        kind = "system-defined inference profile" if source.kind == "system-profile" else "foundation model"
        problems.append(
            InventoryProblem(
                loaded.path,
                loaded.line_of("models", alias),
                f"models.{alias}",
                f"{kind} {source.model_id!r} does not exist in {loaded.inventory.region}{hint}",
            )
        )
    if problems:
        raise InventoryError(problems)


def make_plan(
    loaded: LoadedInventory,
    target: Target,
    *,
    prune: bool = False,
    via: Via = "api",
    progress: Progress = NO_PROGRESS,
    change_sets: bool = False,
    staged: bool = False,
) -> Plan:
    """Read live state from ``target`` and plan; validates model sources the plan needs.

    ``via="api"`` plans the AIPs themselves (and their budgets and alarms); ``via="cloudformation"``
    plans one stack per caller instead. Both plan the cost-allocation tags to activate.
    """
    info = target.describe()
    live = read_live_state(target, loaded.cost_tag_keys(), progress)
    if via == "cloudformation":
        stacks = plan_stacks(loaded, target, live, prune=prune, change_sets=change_sets)
        cost_tags = tuple(CostTagChange(s.key, s.status) for s in live.cost_tags if s.status != "Active")
        plan = Plan(
            loaded.inventory.name,
            loaded.path,
            dict(info),
            (),
            cost_tags,
            warnings=live.warnings,
            via=via,
            stacks=stacks,
            inventory_callers=caller_labels(loaded),
        )
        # Budgets and alarms beside the stacks, through the same plan: both paths end in the same account state.
        guarded = _with_guards(loaded, target, plan, live, prune)
        return _with_account_setup(loaded, target, _with_principals(loaded, target, guarded, prune, progress))
    plan = plan_changes(loaded, live, account=target.account, prune=prune, staged=staged, target_info=info)
    if any(c.action is Action.CREATE for c in plan.changes):
        quota_notes = check_quota(loaded, plan, live, ServiceQuotas(target).aip_quota())
        plan = replace(plan, warnings=plan.warnings + tuple(quota_notes))
    check_model_sources(loaded, plan, BedrockControl(target))
    plan = _with_usage(plan, target)
    planned = _with_principals(loaded, target, _with_guards(loaded, target, plan, live, prune), prune, progress)
    return _with_account_setup(loaded, target, planned)


#: How far back plan looks for calls before a delete or replace (CloudWatch Invocations).
USAGE_WINDOW = dt.timedelta(days=7)


def _with_usage(plan: Plan, target: Target) -> Plan:
    """Each delete and replace with its AIP's successful calls over the last USAGE_WINDOW (one GetMetricData
    batch): deleting or replacing an AIP in use pulls its ARN from under a running caller."""
    touched = [c for c in plan.changes if c.action in (Action.DELETE, Action.REPLACE) and c.arn]
    if not touched:
        return plan
    from aipctl.aws.cloudwatch import BedrockMetrics

    end = target.now()
    start = end - USAGE_WINDOW
    ids = {c.arn: str(c.arn).rsplit("/", 1)[-1] for c in touched}
    period = int(USAGE_WINDOW.total_seconds())
    values = BedrockMetrics(target).values(sorted(set(ids.values())), [("Invocations", "Sum")], start, end, period)
    calls = {pid: int(sum(v for _, v in values.get((pid, "Invocations", "Sum"), []))) for pid in ids.values()}
    changes = tuple(replace(c, recent_calls=calls[ids[c.arn]]) if c.arn in ids else c for c in plan.changes)
    warnings = tuple(
        f"{c.name} was called {c.recent_calls:,} time(s) in the last {USAGE_WINDOW.days} days: "
        f"{'deleting' if c.action is Action.DELETE else 'replacing'} it changes the ARN under its caller "
        "(`apply` refuses without --force; re-wire the caller first)"
        for c in changes
        if c.in_use
    )
    return replace(plan, changes=changes, warnings=plan.warnings + warnings)


def _with_account_setup(loaded: LoadedInventory, target: Target, plan: Plan) -> Plan:
    """Add the account-level setup: invocation logging and its destinations (``logging:``), the alert topic (``alerts:``)."""
    from aipctl.plan.alerts import plan_alerts
    from aipctl.plan.invocation_logging import plan_logging

    found = plan_logging(loaded, target)
    alerts = plan_alerts(loaded, target)
    return replace(
        plan,
        logging=found.changes,
        logging_bucket_statement=found.bucket_statement,
        alert_setup=alerts.changes,
        warnings=plan.warnings + found.warnings + alerts.warnings,
    )


def _with_principals(loaded: LoadedInventory, target: Target, plan: Plan, prune: bool, progress: Progress) -> Plan:
    """Add the tags of the callers' IAM roles and users (principal plane), when any caller is billed by principal."""
    without_unseen = tuple(
        c for c in plan.cost_tags if not (c.key.startswith(rules.PRINCIPAL_TAG_PREFIX) and c.current == "NotFound")
    )
    if not any(c.attribution != "profile" and c.identities for c in loaded.inventory.callers.values()) and not prune:
        return replace(plan, cost_tags=without_unseen)  # no caller names a principal: nothing will carry those keys
    found = plan_principals(loaded, Iam(target), prune=prune, progress=progress)
    orphans = found.orphans
    # no principal carries the keys, so Billing cannot know them: nothing to activate yet
    cost_tags = plan.cost_tags if found.changes else without_unseen
    return replace(
        plan,
        cost_tags=cost_tags,
        principals=found.changes + (orphans if prune else ()),
        principal_orphans=() if prune else orphans,
        warnings=plan.warnings + found.warnings,
    )


def _with_guards(loaded: LoadedInventory, target: Target, plan: Plan, live: LiveState, prune: bool) -> Plan:
    """Add the budgets and alarms the inventory asks for (and managed ones it no longer does)."""
    callers = loaded.inventory.callers.values()
    wants_budgets = any(c.budget for c in callers)
    wants_alarms = any(c.budget or c.limits for c in callers)
    warnings = list(plan.warnings)

    def read(kind: str, reader: Callable[[str], dict[str, Any]], wanted: bool) -> dict[str, Any]:
        try:
            return reader(prefix(loaded))
        except AwsError as exc:
            if wanted:
                raise
            warnings.append(f"{kind} not read ({exc.code}); {kind} aipctl made earlier are not checked")
            return {}

    live_budgets = read("budgets", Budgets(target).managed, wants_budgets)
    live_alarms = read("alarms", Alarms(target).managed, wants_alarms)
    changes, orphans = plan_guards(loaded, live.managed(loaded), live_budgets, live_alarms, prune=prune)
    if wants_budgets and not loaded.inventory.alerts:
        warnings.append("budgets have no notifications: add `alerts: {sns_topic_arn: ..., emails: [...]}` to the inventory")
    return replace(plan, guards=tuple(changes), guard_orphans=tuple(orphans), warnings=tuple(warnings))
