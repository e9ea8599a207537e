"""Plan and apply the inventory as CloudFormation stacks (``aipctl apply --via cloudformation``).

Stacks are named ``bedrock-aip-<caller>`` and tagged ``aipctl:managed=<inventory>``; only such
stacks are updated or (with --prune) deleted. An AIP of the same name created through the API is a
conflict, so the two ways of managing one caller never fight over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aipctl._exceptions import AipctlError, PlanConflict
from aipctl.aws.bedrock import BedrockControl
from aipctl.aws.cloudformation import Stacks
from aipctl.aws.target import Target
from aipctl.cfn.template import STACK_PREFIX, render_caller_template, stack_name, template_parameters
from aipctl.inventory import rules
from aipctl.inventory.loader import LoadedInventory
from aipctl.plan.reconcile import CFN_STACK_TAG


@dataclass(frozen=True)
class StackChange:
    action: str  # create | update | delete | no-op
    stack: str
    caller: str | None
    template: dict[str, Any] | None = None


@dataclass
class StackReport:
    changes: list[StackChange]
    applied: list[tuple[StackChange, dict[str, str]]] = field(default_factory=list)
    failed: list[tuple[StackChange, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "changes": [{"action": c.action, "stack": c.stack, "caller": c.caller} for c in self.changes],
            "applied": [{"action": c.action, "stack": c.stack, "outputs": outputs} for c, outputs in self.applied],
            "failed": [{"action": c.action, "stack": c.stack, "error": error} for c, error in self.failed],
        }


def plan_stacks(loaded: LoadedInventory, target: Target, prune: bool = False) -> list[StackChange]:
    inventory = loaded.inventory
    stacks = Stacks(target)
    existing = {s.name: s for s in stacks.list_stacks() if s.status != "DELETE_COMPLETE"}
    api_managed = {
        p.name: p
        for p in BedrockControl(target).with_tags(BedrockControl(target).list_application_profiles())
        if CFN_STACK_TAG not in p.tags
    }
    conflicts = [
        f"{loaded.where('callers', d.caller)}: AIP {d.name!r} already exists outside CloudFormation ({api_managed[d.name].arn})"
        for d in loaded.profiles
        if d.name in api_managed
    ]
    for caller in inventory.callers:
        stack = existing.get(stack_name(caller))
        if stack and stack.tags.get(rules.TAG_MANAGED) != inventory.name:
            conflicts.append(
                f"{loaded.where('callers', caller)}: stack {stack.name!r} exists but this inventory does not manage it"
            )
    if conflicts:
        raise PlanConflict(
            "cannot deploy with CloudFormation; nothing was changed:\n" + "\n".join(f"  {c}" for c in conflicts),
            hint="delete those AIPs (or keep using `apply` without --via), or rename the callers",
        )
    changes: list[StackChange] = []
    for caller in sorted(inventory.callers):
        name = stack_name(caller)
        template = render_caller_template(loaded, caller)
        if name not in existing:
            changes.append(StackChange("create", name, caller, template))
        elif (
            stacks.template_of(name) != template
            or dict(existing[name].parameters) != template_parameters(template)
            or existing[name].status.endswith("FAILED")
        ):
            changes.append(StackChange("update", name, caller, template))
        else:
            changes.append(StackChange("no-op", name, caller))
    if prune:
        wanted = {stack_name(c) for c in inventory.callers}
        changes.extend(
            StackChange("delete", s.name, s.tags.get(rules.TAG_CALLER))
            for s in existing.values()
            if s.name.startswith(STACK_PREFIX) and s.tags.get(rules.TAG_MANAGED) == inventory.name and s.name not in wanted
        )
    return changes


def apply_stacks(loaded: LoadedInventory, target: Target, changes: list[StackChange]) -> StackReport:
    stacks = Stacks(target)
    report = StackReport(changes)
    for change in changes:
        tags = {rules.TAG_MANAGED: loaded.inventory.name, rules.TAG_CALLER: change.caller or ""}
        try:
            if change.action in ("create", "update") and change.template:
                deploy = stacks.create if change.action == "create" else stacks.update
                stack = deploy(change.stack, change.template, template_parameters(change.template), tags)
                report.applied.append((change, dict(stack.outputs)))
            elif change.action == "delete":
                stacks.delete(change.stack)
                report.applied.append((change, {}))
        except AipctlError as exc:
            report.failed.append((change, str(exc)))
    return report
