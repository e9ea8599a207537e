"""Carry out a plan: bounded concurrency, idempotent creates, per-change results.

AWS has no transactions, so an apply that fails half-way leaves some changes done; each change is
atomic on its own (one create carries its tags), failures are collected rather than aborting the
rest, and re-running ``apply`` converges because planning starts again from live state.

Both paths end the same way: the API path applies the AIPs, then their budgets and alarms; the
CloudFormation path deploys one stack per caller. Each then activates the plan's cost-allocation tags.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from aipctl._exceptions import AipctlError, PlanConflict
from aipctl.aws.bedrock import BedrockControl
from aipctl.aws.ce import ActivationResult, CostAllocationTags
from aipctl.aws.iam import Iam
from aipctl.aws.live import CFN_STACK_TAG
from aipctl.aws.target import Target
from aipctl.inventory import rules
from aipctl.plan.alerts import apply_alerts
from aipctl.plan.guards import apply_guards
from aipctl.plan.invocation_logging import apply_logging
from aipctl.plan.model import Action, GuardChange, Plan, PrincipalChange, ProfileChange, SetupChange
from aipctl.plan.principals import apply_principal
from aipctl.plan.stacks import StackResult, apply_stacks
from aipctl.progress import NO_PROGRESS, Progress


@dataclass(frozen=True)
class ChangeResult:
    change: ProfileChange
    ok: bool
    arn: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ApplyReport:
    """What an apply did, per change; ``failures`` empty means the account matches the plan."""

    results: tuple[ChangeResult, ...] = ()
    cost_tags: ActivationResult | None = None
    interrupted: bool = False
    #: (budget or alarm change, error or None)
    guards: tuple[tuple[GuardChange, str | None], ...] = ()
    stacks: tuple[StackResult, ...] = ()
    via: str = "api"
    #: (principal change, error or None)
    principals: tuple[tuple[PrincipalChange, str | None], ...] = ()
    #: (invocation-logging step, error or None)
    logging: tuple[tuple[SetupChange, str | None], ...] = ()
    #: (alert topic step, error or None)
    alerts: tuple[tuple[SetupChange, str | None], ...] = ()

    @property
    def logging_failures(self) -> list[tuple[SetupChange, str | None]]:
        return [(c, e) for c, e in self.logging if e]

    @property
    def alert_failures(self) -> list[tuple[SetupChange, str | None]]:
        return [(c, e) for c, e in self.alerts if e]

    @property
    def guard_failures(self) -> list[tuple[GuardChange, str | None]]:
        return [(g, e) for g, e in self.guards if e]

    @property
    def failures(self) -> list[ChangeResult]:
        return [r for r in self.results if not r.ok]

    @property
    def principal_failures(self) -> list[tuple[PrincipalChange, str | None]]:
        return [(p, e) for p, e in self.principals if e]

    @property
    def stack_failures(self) -> list[StackResult]:
        return [r for r in self.stacks if not r.ok]

    def failed_names(self) -> list[tuple[str, str]]:
        """(resource name, error) of every failed change, whatever its kind."""
        return (
            [(r.change.name, r.error or "") for r in self.failures]
            + [(g.name, e or "") for g, e in self.guard_failures]
            + [(r.change.stack, r.error or "") for r in self.stack_failures]
            + [(p.arn, e or "") for p, e in self.principal_failures]
            + [(f"logging {c.kind} {c.name}", e or "") for c, e in self.logging_failures]
            + [(f"alerts {c.kind} {c.name}", e or "") for c, e in self.alert_failures]
        )

    def _cost_tags_dict(self) -> dict[str, Any]:
        return {
            "activated": list(self.cost_tags.activated) if self.cost_tags else [],
            "pending": [{"key": k, "reason": why} for k, why in self.cost_tags.pending] if self.cost_tags else [],
        }

    def to_dict(self) -> dict[str, Any]:
        if self.via == "cloudformation":
            return {
                "applied": [
                    {"action": r.change.action.value, "stack": r.change.stack, "outputs": r.outputs} for r in self.stacks if r.ok
                ],
                "failed": [
                    {"action": r.change.action.value, "stack": r.change.stack, "error": r.error} for r in self.stack_failures
                ],
                # (pairs, as this path has always printed them)
                "cost_tags": {"activated": list(self.cost_tags.activated), "pending": [list(p) for p in self.cost_tags.pending]}
                if self.cost_tags
                else None,
                "principals": [{**p.to_dict(), "error": e} for p, e in self.principals],
                "logging": [{**c.to_dict(), "error": e} for c, e in self.logging],
                "alerts": [{**c.to_dict(), "error": e} for c, e in self.alerts],
                "guards": [{**g.to_dict(), "error": e} for g, e in self.guards],
                "interrupted": self.interrupted,
            }
        return {
            "applied": [
                {
                    "action": r.change.action.value,
                    "name": r.change.name,
                    "caller": r.change.caller,
                    "alias": r.change.alias,
                    "arn": r.arn,
                }
                for r in self.results
                if r.ok
            ],
            "failed": [{"action": r.change.action.value, "name": r.change.name, "error": r.error} for r in self.failures],
            "cost_tags": self._cost_tags_dict(),
            "guards": [{**g.to_dict(), "error": e} for g, e in self.guards],
            "principals": [{**p.to_dict(), "error": e} for p, e in self.principals],
            "logging": [{**c.to_dict(), "error": e} for c, e in self.logging],
            "alerts": [{**c.to_dict(), "error": e} for c, e in self.alerts],
            "interrupted": self.interrupted,
        }


def request_token(run_id: str, change: ProfileChange) -> str:
    """Same token for every retry of one create within a run (botocore retries reuse the params)."""
    return hashlib.sha256(f"{run_id}|{change.name}|{change.copy_from}".encode()).hexdigest()[:64]


def apply_plan(
    plan: Plan,
    target: Target,
    *,
    concurrency: int = 8,
    activate_cost_tags: bool = True,
    progress: Progress = NO_PROGRESS,
) -> ApplyReport:
    """Apply ``plan`` to ``target``. Never raises for a single failed change: see the report."""
    if plan.via == "cloudformation":
        stacks = tuple(apply_stacks(plan.inventory_name, target, plan.stack_actions))
        principals = _apply_principals(plan, target, progress)
        alerts = tuple(apply_alerts(target, plan.alert_setup)) if plan.alert_setup else ()
        activated = None
        if activate_cost_tags and plan.cost_tags and not any(not r.ok for r in stacks):
            activated = CostAllocationTags(target).activate([c.key for c in plan.cost_tags])
        beside = apply_guards(target, plan.guard_actions, _stack_profile_ids(target, plan)) if plan.guard_actions else []
        logging = tuple(apply_logging(target, plan.logging)) if plan.logging else ()
        return ApplyReport(
            stacks=stacks,
            cost_tags=activated,
            via="cloudformation",
            principals=principals,
            logging=logging,
            alerts=alerts,
            guards=tuple(beside),
        )
    results, interrupted = _apply_profiles(plan, target, concurrency, progress)
    if interrupted:
        return ApplyReport(tuple(results), interrupted=True)
    principals = _apply_principals(plan, target, progress)  # before activation: Billing must have seen the keys
    activated = None
    if activate_cost_tags and plan.cost_tags:
        activated = CostAllocationTags(target).activate([c.key for c in plan.cost_tags])
    alerts = tuple(apply_alerts(target, plan.alert_setup)) if plan.alert_setup else ()  # budgets notify the topic
    guards: list[tuple[GuardChange, str | None]] = []
    if plan.guard_actions:
        new_ids = {
            (r.change.caller or "", r.change.alias or ""): r.arn.rsplit("/", 1)[-1]
            for r in results
            if r.ok and r.arn and r.change.action in (Action.CREATE, Action.REPLACE)
        }
        guards = apply_guards(target, plan.guard_actions, new_ids)
    logging = tuple(apply_logging(target, plan.logging)) if plan.logging else ()
    return ApplyReport(tuple(results), activated, guards=tuple(guards), principals=principals, logging=logging, alerts=alerts)


def _stack_profile_ids(target: Target, plan: Plan) -> dict[tuple[str, str], str]:
    """(caller, alias) -> AIP id of the inventory's AIPs as the stacks left them (alarms name the id)."""
    from aipctl.aws.live import read_live_state

    return {
        (p.tags.get(rules.TAG_CALLER, ""), p.tags.get(rules.TAG_ALIAS, "")): p.profile_id
        for p in read_live_state(target).profiles
        if p.tags.get(rules.TAG_MANAGED) == plan.inventory_name
    }


def _apply_principals(plan: Plan, target: Target, progress: Progress) -> tuple[tuple[PrincipalChange, str | None], ...]:
    """Tag the callers' roles and users, one at a time (IAM's control plane is slow to converge and throttles)."""
    if not plan.principal_actions:
        return ()
    iam = Iam(target)
    out: list[tuple[PrincipalChange, str | None]] = []
    for done, change in enumerate(plan.principal_actions, start=1):
        try:
            apply_principal(iam, change, plan.inventory_name)
            out.append((change, None))
        except AipctlError as exc:
            out.append((change, str(exc)))
        progress("tagging principals", done, len(plan.principal_actions))
    return tuple(out)


def _apply_profiles(plan: Plan, target: Target, concurrency: int, progress: Progress) -> tuple[list[ChangeResult], bool]:
    """The AIP changes: creates, retags and replaces first, deletes last. (results, interrupted)."""
    run_id = uuid.uuid4().hex
    results: list[ChangeResult] = []
    lock = threading.Lock()
    stop = threading.Event()
    done = itertools.count(1)
    total = len(plan.actionable)
    local = threading.local()

    def run(change: ProfileChange) -> None:
        if stop.is_set():
            return
        if not hasattr(local, "bedrock"):  # a client per worker: its own botocore retry quota (Target.client)
            local.bedrock = BedrockControl(target, worker=threading.current_thread().name)
        try:
            arn = _apply_one(local.bedrock, change, run_id, plan.inventory_name)
            result = ChangeResult(change, True, arn=arn)
        except AipctlError as exc:
            result = ChangeResult(change, False, arn=change.arn, error=str(exc))
        with lock:
            results.append(result)
        progress("applying", next(done), total)

    phases: Sequence[Sequence[ProfileChange]] = (
        [c for c in plan.actionable if c.action is not Action.DELETE],
        [c for c in plan.actionable if c.action is Action.DELETE],  # prune last: creates first keep callers served
    )
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="aipctl-apply") as pool:
        for phase in phases:
            futures: list[Future[None]] = [pool.submit(run, change) for change in phase]
            try:
                wait(futures)
            except KeyboardInterrupt:
                stop.set()
                for future in futures:
                    future.cancel()
                wait(futures)
                return results, True
    return results, False


def _apply_one(bedrock: BedrockControl, change: ProfileChange, run_id: str, inventory_name: str) -> str | None:
    if change.action is Action.CREATE:
        return _create(bedrock, change, run_id)
    assert change.arn
    # The plan may have read tags from an eventually consistent index: read them again, from the
    # resource itself, and refuse to touch an AIP whose ownership is not what the plan saw.
    current = bedrock.tags_of(change.arn)
    owner = current.get(rules.TAG_MANAGED)
    if owner != inventory_name or CFN_STACK_TAG in current:
        raise PlanConflict(f"{change.name}: ownership changed since the plan (aipctl:managed={owner!r}); not touched")
    if change.action is Action.RETAG:
        bedrock.tag(change.arn, {k: v for k, v in change.tags.items() if current.get(k) != v})
        stale = [k for k in current if k not in change.tags and not k.startswith("aws:") and k not in rules.STATE_TAG_KEYS]
        bedrock.untag(change.arn, stale)
        return change.arn
    bedrock.delete_profile(change.arn)
    if change.action is Action.REPLACE:
        return _create(bedrock, change, run_id)
    return change.arn


def _create(bedrock: BedrockControl, change: ProfileChange, run_id: str) -> str:
    assert change.copy_from and change.description
    return bedrock.create_profile(change.name, change.copy_from, change.description, change.tags, request_token(run_id, change))
