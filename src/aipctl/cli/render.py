"""Human renderings of plans, apply reports and listings (JSON comes from the objects' to_dict)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from aipctl.aws.bedrock import LiveProfile
from aipctl.fleet import FleetApply, FleetPlan, Group
from aipctl.inventory import rules
from aipctl.plan.apply import ApplyReport
from aipctl.plan.model import Action, Plan, ProfileChange, SetupChange

_SYMBOL = {
    Action.CREATE: ("+", "green"),
    Action.RETAG: ("~", "yellow"),
    Action.REPLACE: ("-/+", "magenta"),
    Action.DELETE: ("-", "red"),
    Action.NOOP: (" ", "dim"),
}


def _tags(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()) if not k.startswith("aipctl:"))


def _delta(set_tags: Mapping[str, str], remove: Iterable[str], old: Mapping[str, str]) -> str:
    """``Owner: a -> b``, ``+Tier=gold`` (new key), ``-Foo (was x)`` (removed); aipctl's own markers left out."""
    parts = []
    for key, value in sorted(set_tags.items()):
        if key.startswith("aipctl:"):
            continue
        parts.append(f"{key}: {old[key]} -> {value}" if key in old else f"+{key}={value}")
    parts += [f"-{k} (was {old[k]})" if k in old else f"-{k}" for k in sorted(remove) if not k.startswith("aipctl:")]
    return ", ".join(parts)


def change_line(change: ProfileChange, indent: str = "  ") -> Text:
    symbol, style = _SYMBOL[change.action]
    line = Text(f"{indent}{symbol:>3} {change.action.value:<8} ", style=style)
    line.append(change.name, style="bold")
    if change.action is Action.CREATE:
        line.append(f"  from {change.copy_from}", style="dim")
        line.append(f"  [{_tags(change.tags)}]", style="dim")
    elif change.action is Action.RETAG:
        line.append("  " + _delta(change.set_tags, change.remove_tags, change.old_tags), style="dim")
    elif change.action is Action.REPLACE:
        line.append(f"  model {change.old_source} -> {change.copy_from}  (new ARN!)", style="dim")
    elif change.action is Action.DELETE:
        line.append(f"  {change.arn}  ({change.reason})", style="dim")
    if change.in_use:
        line.append(f"  IN USE: {change.recent_calls:,} calls in 7 days", style="bold red")
    return line


_STYLE = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red"}
_MARK = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}
_INDENT = "    "


def _caller_heading(plan: Plan, caller: str) -> Text:
    spec = plan.inventory_callers.get(caller) if plan.inventory_callers else None
    line = Text(f"  caller {caller}", style="bold")
    if spec:
        line.append(f"  ({spec})", style="dim")
    return line


def plan_text(plan: Plan, *, show_noop: bool = False, limit: int | None = None) -> list[Text]:
    """The terraform-like plan, grouped per caller (AIPs, its IAM principals, budgets and alarms), then what
    belongs to no caller; ``limit`` caps the change lines (the summary always shows totals)."""
    if plan.via == "cloudformation":
        return _stack_plan_text(plan)
    lines = [Text(f"Plan for inventory {plan.inventory_name!r} ({plan.inventory_path})", style="bold")]
    groups: dict[str | None, list[Text]] = {}
    for change in plan.changes:
        if change.action is not Action.NOOP or show_noop:
            groups.setdefault(change.caller, []).append(change_line(change, _INDENT))
    for principal in plan.principal_actions:
        groups.setdefault(principal.caller, []).append(_principal_line(principal, _INDENT))
    for guard in plan.guard_actions:
        groups.setdefault(guard.caller, []).append(
            Text(
                f"{_INDENT}{_MARK[guard.action]:>3} {guard.action.value:<8} {guard.kind.value} {guard.name}  ({guard.reason})",
                style=_STYLE[guard.action],
            )
        )
    shown = 0
    for caller in sorted(groups, key=lambda c: (c is None, c or "")):
        items = groups[caller]
        if limit is not None and shown >= limit:
            break
        lines.append(_caller_heading(plan, caller) if caller else Text("  not of one caller", style="bold"))
        take = items if limit is None else items[: max(0, limit - shown)]
        lines += take
        shown += len(take)
    total = sum(len(items) for items in groups.values())
    if limit is not None and total > shown:
        lines.append(Text(f"  ... and {total - shown} more (`aipctl plan` lists them all)", style="dim"))
    lines += _principal_orphan_lines(plan)
    lines += _cost_tag_lines(plan)
    lines += logging_lines(plan)
    if plan.orphans:
        lines.append(
            Text(
                f"  {len(plan.orphans)} managed AIP(s) are no longer in the inventory; `apply --prune` deletes them:",
                style="yellow",
            )
        )
        lines.extend(Text(f"      {o.name}  {o.arn}", style="yellow") for o in plan.orphans)
    if plan.guard_orphans:
        names = ", ".join(g.name for g in plan.guard_orphans)
        lines.append(
            Text(
                f"  {len(plan.guard_orphans)} managed budget(s)/alarm(s) left the inventory; "
                f"`apply --prune` deletes them: {names}",
                style="yellow",
            )
        )
    counts = plan.counts()
    if plan.has_changes:
        summary = (
            f"Plan: {counts['create']} to create, {counts['retag']} to retag, {counts['replace']} to replace, "
            f"{counts['delete']} to delete, {counts['no-op']} unchanged"
        )
        if plan.principal_actions:
            summary += f", {len(plan.principal_actions)} IAM principal(s) to tag"
        if plan.cost_tags:
            waiting = len(plan.cost_tags_waiting)
            summary += f", {len(plan.cost_tags)} cost tag(s) to activate"
            summary += f" ({waiting} waiting for Billing)" if waiting else ""
        if plan.guard_actions:
            summary += f", {len(plan.guard_actions)} budget/alarm change(s)"
        if plan.logging:
            summary += f", {len(plan.logging)} invocation-logging step(s)"
        if plan.alert_setup:
            summary += f", {len(plan.alert_setup)} alert-topic step(s)"
        changing = len([c for c in groups if c is not None])
        summary += f"; {changing} caller(s) change"
    else:
        summary = f"No changes. {counts['no-op']} AIP(s) up to date"
    lines.append(Text(summary + ".", style="bold"))
    return lines


def logging_lines(plan: Plan) -> list[Text]:
    """Model invocation logging and the alert topic (account-level: not of one caller)."""
    lines = _setup_lines("model invocation logging", plan.logging)
    return lines + _setup_lines("alert topic", plan.alert_setup)


def _setup_lines(title: str, changes: Sequence[SetupChange]) -> list[Text]:
    if not changes:
        return []
    lines = [Text(f"  {title}", style="bold")]
    for change in changes:
        lines.append(
            Text(
                f"{_INDENT}{_MARK[change.action]:>3} {change.action.value:<8} {change.kind} {change.name}  ({change.reason})",
                style=_STYLE[change.action],
            )
        )
    return lines


def _principal_line(change: Any, indent: str = "  ") -> Text:
    symbol, style = _SYMBOL[change.action]
    line = Text(f"{indent}{symbol:>3} {'untag' if change.action is Action.DELETE else 'tag':<8} ", style=style)
    line.append(change.arn, style="bold")
    delta = _delta(change.set_tags, change.remove_tags, change.old_tags) or "(aipctl's markers)"
    line.append(f"  {delta}  ({change.reason})", style="dim")
    return line


def _principal_orphan_lines(plan: Plan) -> list[Text]:
    lines = []
    if plan.principal_orphans:
        lines.append(
            Text(
                f"  {len(plan.principal_orphans)} IAM principal(s) tagged by this inventory are no longer its callers'; "
                "`apply --prune` removes aipctl's tags from them:",
                style="yellow",
            )
        )
        lines.extend(Text(f"      {o.arn}", style="yellow") for o in plan.principal_orphans)
    return lines


def _principal_lines(plan: Plan) -> list[Text]:
    """Tags on the callers' IAM roles and users (principal plane), shown like AIP retags."""
    return [_principal_line(change) for change in plan.principal_actions] + _principal_orphan_lines(plan)


def _cost_tag_lines(plan: Plan) -> list[Text]:
    lines = []
    for key in plan.cost_tags:
        note = (
            " (Billing has not seen this key yet; it appears after tagged usage, up to 24 h)" if key.current == "NotFound" else ""
        )
        lines.append(Text(f"    + activate cost-allocation tag {key.key} (now {key.current}){note}", style="green"))
    return lines


def _stack_plan_text(plan: Plan) -> list[Text]:
    lines = [Text(f"Plan for inventory {plan.inventory_name!r} ({plan.inventory_path}) via CloudFormation", style="bold")]
    for stack in plan.stack_actions:
        lines.append(Text(f"  {stack.action.value:<7} stack {stack.stack}", style=_STYLE.get(stack.action, "")))
        for change in stack.resource_changes or ():
            replacement = f"  replacement: {change['replacement']}" if change.get("replacement") else ""
            lines.append(Text(f"      {change['action']} {change['resource']} ({change['type']}){replacement}", style="dim"))
        if stack.resource_changes == ():
            lines.append(Text("      (the change set has no resource changes)", style="dim"))
    lines += [
        Text(
            f"  {guard.action.value:<7} {guard.kind.value} {guard.name}  ({guard.reason}; beside the stacks)",
            style=_STYLE.get(guard.action, ""),
        )
        for guard in plan.guard_actions
    ]
    lines += _principal_lines(plan)
    lines += _cost_tag_lines(plan)
    lines += logging_lines(plan)
    todo = len(plan.stack_actions)
    others = len(plan.guard_actions) + len(plan.logging) + len(plan.alert_setup) + len(plan.principal_actions)
    if todo or plan.has_changes:
        extra = f", {len(plan.guard_actions)} budget/alarm change(s)" if plan.guard_actions else ""
        extra += f", {others - len(plan.guard_actions)} other step(s)" if others > len(plan.guard_actions) else ""
        lines.append(Text(f"Plan: {todo} stack change(s), {len(plan.stacks) - todo} unchanged{extra}.", style="bold"))
    else:
        lines.append(Text(f"No changes. {len(plan.stacks)} stack(s) up to date.", style="bold"))
    return lines


def apply_json(plan: Plan, report: ApplyReport | None) -> dict[str, Any]:
    """What ``apply --json`` prints: the plan and its result (CloudFormation: the stacks and their outputs)."""
    if plan.via == "cloudformation":
        result = report.to_dict() if report else {"applied": [], "failed": []}
        return {"changes": [s.to_dict() for s in plan.stacks], **result}
    return {"plan": plan.to_dict(), "result": report.to_dict() if report else None}


def report_text(report: ApplyReport) -> list[Text]:
    if report.via == "cloudformation":
        return _stack_report_text(report)
    ok = [r for r in report.results if r.ok]
    lines = []
    for result in sorted(report.failures, key=lambda r: r.change.name):
        lines.append(Text(f"  failed {result.change.action.value} {result.change.name}: {result.error}", style="red"))
    counts: dict[str, int] = {}
    for result in ok:
        counts[result.change.action.value] = counts.get(result.change.action.value, 0) + 1
    done = ", ".join(f"{counts[action]} {action}" for action in sorted(counts))
    head = "Apply interrupted" if report.interrupted else "Apply complete"
    lines.append(Text(f"{head}: {done or 'nothing changed'}; {len(report.failures)} failed.", style="bold"))
    if report.cost_tags:
        if report.cost_tags.activated:
            lines.append(
                Text(
                    f"Cost-allocation tags activated: {', '.join(report.cost_tags.activated)} "
                    "(not retroactive; Cost Explorer shows them within 24 h)."
                )
            )
        for key, why in report.cost_tags.pending:
            lines.append(Text(f"Cost-allocation tag {key} not activated yet: {why}", style="yellow"))
    if report.guards:
        done_guards = [g for g, e in report.guards if not e]
        lines.append(Text(f"Budgets and alarms: {len(done_guards)} applied, {len(report.guard_failures)} failed."))
        for guard, error in report.guard_failures:
            lines.append(Text(f"  failed {guard.action.value} {guard.kind.value} {guard.name}: {error}", style="red"))
    lines += _principal_report_lines(report)
    lines += _logging_report_lines(report)
    return lines


def _logging_report_lines(report: ApplyReport) -> list[Text]:
    lines = []
    for title, steps in (("Invocation logging", report.logging), ("Alert topic", report.alerts)):
        if not steps:
            continue
        failures = [(c, e) for c, e in steps if e]
        lines.append(Text(f"{title}: {len(steps) - len(failures)} step(s) applied, {len(failures)} failed."))
        lines += [Text(f"  failed {c.action.value} {c.kind} {c.name}: {error}", style="red") for c, error in failures]
    return lines


def _principal_report_lines(report: ApplyReport) -> list[Text]:
    if not report.principals:
        return []
    failed = len(report.principal_failures)
    lines = [Text(f"IAM principals: {len(report.principals) - failed} tagged, {failed} failed.")]
    lines += [Text(f"  failed {p.action.value} {p.arn}: {error}", style="red") for p, error in report.principal_failures]
    return lines


def _stack_report_text(report: ApplyReport) -> list[Text]:
    lines = []
    for result in report.stacks:
        if result.ok:
            outputs = "".join(f"\n    {k}: {v}" for k, v in sorted(result.outputs.items()))
            lines.append(Text(f"{result.change.action.value}d stack {result.change.stack}{outputs}"))
        else:
            lines.append(Text(f"failed {result.change.action.value} {result.change.stack}: {result.error}", style="red"))
    lines += _principal_report_lines(report)
    lines += _logging_report_lines(report)
    if report.guards:
        lines.append(
            Text(
                f"Budgets and alarms: {len(report.guards) - len(report.guard_failures)} applied, "
                f"{len(report.guard_failures)} failed."
            )
        )
        for guard, error in report.guard_failures:
            lines.append(Text(f"  failed {guard.action.value} {guard.kind.value} {guard.name}: {error}", style="red"))
    if report.cost_tags and report.cost_tags.activated:
        lines.append(Text(f"Cost-allocation tags activated: {', '.join(report.cost_tags.activated)}."))
    return lines


def profile_row(profile: LiveProfile) -> dict[str, Any]:
    """One AIP as ``aipctl list`` shows it (and prints with --json)."""
    return {
        "caller": profile.tags.get(rules.TAG_CALLER),
        "alias": profile.tags.get(rules.TAG_ALIAS),
        "name": profile.name,
        "arn": profile.arn,
        "profile_id": profile.profile_id,
        "model_source": profile.tags.get(rules.TAG_SOURCE),
        "models": list(profile.models),
        "inventory": profile.tags.get(rules.TAG_MANAGED),
        "managed": rules.TAG_MANAGED in profile.tags,
        "brake": profile.tags.get(rules.TAG_BRAKE),
        "released_until": profile.tags.get(rules.TAG_RELEASED_UNTIL),
        "tags": dict(profile.tags),
        "created_at": profile.created_at.isoformat() if profile.created_at else None,
    }


def profiles_table(rows: Iterable[Mapping[str, object]], *, placed: bool = False) -> Table:
    """The AIPs as a table; ``placed``: with each one's account and Region first (organization inventories)."""
    rows = list(rows)
    columns = (
        (["account", "region"] if placed else [])
        + ["caller", "alias", "name", "model_source", "arn"]
        + [c for c in ("brake", "released_until") if any(r.get(c) for r in rows)]
    )
    table = Table(show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, style="red" if column == "brake" else None)
    for row in rows:
        table.add_row(*(str(row.get(c) or "") for c in columns))
    return table


# -- organizations (several accounts and Regions) ---------------------------------------------------
def _group_heading(group: Group) -> Text:
    return Text(f"== {group.placement.label}", style="bold cyan")


def fleet_plan_text(plan: FleetPlan, *, show_noop: bool = False, limit: int | None = None) -> list[Text]:
    """The combined plan: each account × Region's plan under its heading, then the totals."""
    lines = [
        Text(
            f"Plan for inventory {plan.inventory_name!r} ({plan.inventory_path}) in {len(plan.groups)} account(s) × Region(s)",
            style="bold",
        )
    ]
    for group in plan.groups:
        lines.append(_group_heading(group))
        if group.error or group.plan is None:
            lines.append(Text(f"  failed: {group.error}", style="red"))
            continue
        lines += plan_text(group.plan, show_noop=show_noop, limit=limit)[1:]
    counts = plan.counts()
    ok = len(plan.groups) - len(plan.failed)
    lines.append(
        Text(
            f"Total: {counts.get('create', 0)} to create, {counts.get('retag', 0)} to retag, "
            f"{counts.get('replace', 0)} to replace, {counts.get('delete', 0)} to delete, "
            f"{counts.get('no-op', 0)} unchanged; {ok} of {len(plan.groups)} account(s) × Region(s) planned"
            + (f", {len(plan.failed)} failed" if plan.failed else ""),
            style="bold red" if plan.failed else "bold",
        )
    )
    return lines


def fleet_apply_text(result: FleetApply) -> list[Text]:
    lines: list[Text] = []
    for group in result.groups:
        lines.append(_group_heading(group))
        if group.error or group.report is None:
            lines.append(Text(f"  failed: {group.error or 'not planned'}", style="red"))
            continue
        lines += report_text(group.report)
    failed = result.failed
    lines.append(
        Text(
            f"{len(result.groups) - len(failed)} of {len(result.groups)} account(s) × Region(s) applied"
            + (f"; failed: {', '.join(g.placement.label for g in failed)}" if failed else ""),
            style="bold red" if failed else "bold",
        )
    )
    return lines


def fleet_apply_json(plan: FleetPlan, result: FleetApply | None) -> dict[str, Any]:
    """``apply --json`` of an organization inventory: per group its plan and result, and the failed groups."""
    done = {g.placement: g for g in result.groups} if result else {}
    groups = []
    for group in plan.groups:
        applied = done.get(group.placement)
        report = applied.report if applied else None
        groups.append(
            (applied or group).header()
            | {"plan": group.plan.to_dict() if group.plan else None, "result": report.to_dict() if report else None}
        )
    failed = [g.placement.label for g in (result.failed if result else plan.failed)]
    return {"summary": plan.counts(), "placements": len(plan.groups), "failed": failed, "groups": groups}
