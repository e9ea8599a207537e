"""Human renderings of plans, apply reports and listings (JSON comes from the objects' to_dict)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.table import Table
from rich.text import Text

from aipctl.plan.apply import ApplyReport
from aipctl.plan.model import Action, Plan, ProfileChange

_SYMBOL = {
    Action.CREATE: ("+", "green"),
    Action.RETAG: ("~", "yellow"),
    Action.REPLACE: ("-/+", "magenta"),
    Action.DELETE: ("-", "red"),
    Action.NOOP: (" ", "dim"),
}


def _tags(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()) if not k.startswith("aipctl:"))


def change_line(change: ProfileChange) -> Text:
    symbol, style = _SYMBOL[change.action]
    line = Text(f"  {symbol:>3} {change.action.value:<8} ", style=style)
    line.append(change.name, style="bold")
    if change.action is Action.CREATE:
        line.append(f"  from {change.copy_from}", style="dim")
        line.append(f"  [{_tags(change.tags)}]", style="dim")
    elif change.action is Action.RETAG:
        delta = [f"+{k}={v}" for k, v in sorted(change.set_tags.items())] + [f"-{k}" for k in change.remove_tags]
        line.append("  " + " ".join(delta), style="dim")
    elif change.action is Action.REPLACE:
        line.append(f"  model {change.old_source} -> {change.copy_from}  (new ARN!)", style="dim")
    elif change.action is Action.DELETE:
        line.append(f"  {change.arn}  ({change.reason})", style="dim")
    return line


def plan_text(plan: Plan, *, show_noop: bool = False, limit: int | None = None) -> list[Text]:
    """The terraform-like plan; ``limit`` caps the change lines (the summary always shows totals)."""
    lines = [Text(f"Plan for inventory {plan.inventory_name!r} ({plan.inventory_path})", style="bold")]
    shown = [c for c in plan.changes if c.action is not Action.NOOP or show_noop]
    for change in shown[:limit]:
        lines.append(change_line(change))
    if limit is not None and len(shown) > limit:
        lines.append(Text(f"  ... and {len(shown) - limit} more (`aipctl plan` lists them all)", style="dim"))
    for key in plan.cost_tags:
        note = (
            " (Billing has not seen this key yet; it appears after tagged usage, up to 24 h)" if key.current == "NotFound" else ""
        )
        lines.append(Text(f"    + activate cost-allocation tag {key.key} (now {key.current}){note}", style="green"))
    if plan.orphans:
        lines.append(
            Text(
                f"  {len(plan.orphans)} managed AIP(s) are no longer in the inventory; `apply --prune` deletes them:",
                style="yellow",
            )
        )
        lines.extend(Text(f"      {o.name}  {o.arn}", style="yellow") for o in plan.orphans)
    for guard in plan.guard_actions:
        style = {"create": "green", "update": "yellow", "delete": "red"}[guard.action]
        mark = {"create": "+", "update": "~", "delete": "-"}[guard.action]
        lines.append(Text(f"  {mark} {guard.action} {guard.kind} {guard.name}  ({guard.reason})", style=style))
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
        if plan.cost_tags:
            summary += f", {len(plan.cost_tags)} cost tag(s) to activate"
        if plan.guard_actions:
            summary += f", {len(plan.guard_actions)} budget/alarm change(s)"
    else:
        summary = f"No changes. {counts['no-op']} AIP(s) up to date"
    lines.append(Text(summary + ".", style="bold"))
    return lines


def report_text(report: ApplyReport) -> list[Text]:
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
            lines.append(Text(f"  failed {guard.action} {guard.kind} {guard.name}: {error}", style="red"))
    return lines


def profiles_table(rows: Iterable[Mapping[str, object]]) -> Table:
    rows = list(rows)
    columns = ["caller", "alias", "name", "model_source", "arn"] + (["brake"] if any(r.get("brake") for r in rows) else [])
    table = Table(show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, style="red" if column == "brake" else None)
    for row in rows:
        table.add_row(*(str(row.get(c) or "") for c in columns))
    return table
