"""Plan and apply the inventory as CloudFormation stacks (``aipctl apply --via cloudformation``).

Stacks are named ``bedrock-aip-<caller>`` and tagged ``aipctl:managed=<inventory>``; only such
stacks are updated or (with --prune) deleted. An AIP of the same name created through the API is a
conflict, so the two ways of managing one caller never fight over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from aipctl._exceptions import AipctlError, PlanConflict
from aipctl.aws.cloudformation import Stack, Stacks
from aipctl.aws.live import CFN_STACK_TAG, LiveState
from aipctl.aws.target import Target
from aipctl.cfn.template import STACK_PREFIX, render_caller_template, stack_name, template_parameters
from aipctl.inventory import rules
from aipctl.inventory.loader import LoadedInventory
from aipctl.plan.model import Action, StackChange


@dataclass(frozen=True)
class StackResult:
    """What applying one stack change did: its outputs (the AIP ARNs), or the error."""

    change: StackChange
    outputs: dict[str, str]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def plan_stacks(
    loaded: LoadedInventory, target: Target, live: LiveState, prune: bool = False, *, change_sets: bool = False
) -> tuple[StackChange, ...]:
    """A change per caller's stack (and, with ``prune``, deletes of managed stacks that left the inventory).

    ``change_sets``: each update also carries what CloudFormation's change set says it would do (created,
    described and deleted; never executed). A new stack gets none: its CREATE change set would leave a
    stack in REVIEW_IN_PROGRESS behind, and a plan changes nothing."""
    stacks = Stacks(target)
    existing = {s.name: s for s in stacks.list_stacks() if s.status != "DELETE_COMPLETE"}
    _refuse_conflicts(loaded, live, existing)
    changes = [
        _stack_change(loaded, stacks, existing.get(stack_name(caller)), caller) for caller in sorted(loaded.inventory.callers)
    ]
    if change_sets:
        changes = [_with_change_set(loaded, stacks, c) if c.action is Action.UPDATE and c.template else c for c in changes]
    if prune:
        wanted = {stack_name(c) for c in loaded.inventory.callers}
        changes.extend(
            StackChange(Action.DELETE, s.name, s.tags.get(rules.TAG_CALLER))
            for s in existing.values()
            if s.name.startswith(STACK_PREFIX) and s.tags.get(rules.TAG_MANAGED) == loaded.inventory.name and s.name not in wanted
        )
    return tuple(changes)


def _refuse_conflicts(loaded: LoadedInventory, live: LiveState, existing: dict[str, Stack]) -> None:
    """AIPs of a wanted name made outside CloudFormation, or stacks of a wanted name another inventory owns, stop the plan."""
    api_managed = {p.name: p for p in live.profiles if CFN_STACK_TAG not in p.tags}
    conflicts = [
        f"{loaded.where('callers', d.caller)}: AIP {d.name!r} already exists outside CloudFormation ({api_managed[d.name].arn})"
        for d in loaded.profiles
        if d.name in api_managed
    ]
    for caller in loaded.inventory.callers:
        stack = existing.get(stack_name(caller))
        if stack and stack.tags.get(rules.TAG_MANAGED) != loaded.inventory.name:
            conflicts.append(
                f"{loaded.where('callers', caller)}: stack {stack.name!r} exists but this inventory does not manage it"
            )
    if conflicts:
        raise PlanConflict(
            "cannot deploy with CloudFormation; nothing was changed:\n" + "\n".join(f"  {c}" for c in conflicts),
            hint="delete those AIPs (or keep using `apply` without --via), or rename the callers",
        )


def _stack_change(loaded: LoadedInventory, stacks: Stacks, stack: Stack | None, caller: str) -> StackChange:
    name = stack_name(caller)
    template = render_caller_template(loaded, caller)
    if stack is None:
        return StackChange(Action.CREATE, name, caller, template)
    drifted = (
        stacks.template_of(name) != template
        or dict(stack.parameters) != template_parameters(template)
        or stack.status.endswith("FAILED")
    )
    return StackChange(Action.UPDATE, name, caller, template) if drifted else StackChange(Action.NOOP, name, caller)


def _with_change_set(loaded: LoadedInventory, stacks: Stacks, change: StackChange) -> StackChange:
    template = dict(change.template or {})
    tags = {rules.TAG_MANAGED: loaded.inventory.name, rules.TAG_CALLER: change.caller or ""}
    found = stacks.preview(change.stack, template, template_parameters(template), tags)
    return replace(change, resource_changes=tuple(found))


def apply_stacks(inventory_name: str, target: Target, changes: Sequence[StackChange]) -> list[StackResult]:
    """Deploy the changes one stack at a time (each waits for its stack to settle)."""
    stacks = Stacks(target)
    results: list[StackResult] = []
    for change in changes:
        tags = {rules.TAG_MANAGED: inventory_name, rules.TAG_CALLER: change.caller or ""}
        try:
            if change.action in (Action.CREATE, Action.UPDATE) and change.template:
                deploy = stacks.create if change.action is Action.CREATE else stacks.update
                template = dict(change.template)
                stack = deploy(change.stack, template, template_parameters(template), tags)
                results.append(StackResult(change, dict(stack.outputs)))
            elif change.action is Action.DELETE:
                stacks.delete(change.stack)
                results.append(StackResult(change, {}))
        except AipctlError as exc:
            results.append(StackResult(change, {}, str(exc)))
    return results
