"""The plan: what ``apply`` would change, computed once and consumed by rendering and applying.

One vocabulary for every kind of change: a :class:`ResourceKind` (what) and an :class:`Action`
(how). AIPs are created, retagged, replaced or deleted; budgets, alarms and stacks are created,
updated or deleted; cost-allocation tags are activated::

    plan = make_plan(loaded, target)                     # API path: AIPs, budgets, alarms
    plan = make_plan(loaded, target, via="cloudformation")  # one stack per caller
    plan.counts()  # {"create": 3, ..., "budget-create": 1, "stack-update": 2, "activate-cost-tags": 1}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

Via = Literal["api", "cloudformation"]


class Action(str, Enum):
    CREATE = "create"
    RETAG = "retag"
    REPLACE = "replace"
    UPDATE = "update"
    DELETE = "delete"
    ACTIVATE = "activate"
    NOOP = "no-op"


class ResourceKind(str, Enum):
    PROFILE = "profile"
    BUDGET = "budget"
    ALARM = "alarm"
    STACK = "stack"
    COST_TAG = "cost-tag"
    PRINCIPAL = "principal"


#: The actions an AIP can take (the plan's summary always names all of them).
PROFILE_ACTIONS = (Action.CREATE, Action.RETAG, Action.REPLACE, Action.DELETE, Action.NOOP)


@dataclass(frozen=True)
class ProfileChange:
    """One AIP's change. ``tags`` is the desired full tag set; ``set_tags``/``remove_tags`` the delta."""

    action: Action
    name: str
    caller: str | None
    alias: str | None
    arn: str | None = None
    copy_from: str | None = None
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    set_tags: Mapping[str, str] = field(default_factory=dict)
    remove_tags: tuple[str, ...] = ()
    old_source: str | None = None
    reason: str = ""
    kind: ResourceKind = ResourceKind.PROFILE
    #: Retags: the live values of the keys that change or go (the plan shows old -> new).
    old_tags: Mapping[str, str] = field(default_factory=dict)
    #: Deletes and replaces: successful calls through the AIP over the usage window (None: not read).
    recent_calls: int | None = None

    @property
    def in_use(self) -> bool:
        """A delete or replace of an AIP something still calls (its ARN goes away under the caller)."""
        return self.action in (Action.DELETE, Action.REPLACE) and bool(self.recent_calls)

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action.value,
            "name": self.name,
            "caller": self.caller,
            "alias": self.alias,
            "arn": self.arn,
            "copy_from": self.copy_from,
            "old_source": self.old_source,
            "set_tags": dict(self.set_tags),
            "remove_tags": list(self.remove_tags),
            "reason": self.reason,
            "recent_calls": self.recent_calls,
        }


@dataclass(frozen=True)
class GuardChange:
    """A budget or alarm change. ``spec`` is the AWS request shape (CreateBudget's Budget, PutMetricAlarm's arguments)."""

    kind: ResourceKind  # BUDGET | ALARM
    action: Action  # CREATE | UPDATE | DELETE | NOOP
    name: str
    caller: str | None
    spec: Mapping[str, Any] = field(default_factory=dict)
    notifications: tuple[Mapping[str, Any], ...] = ()
    alias: str | None = None  # alarms: the AIP (new AIPs get their id at apply time)
    reason: str = ""
    existing: Mapping[str, Any] | None = None  # budgets: the live budget and notifications (update)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "action": self.action.value,
            "name": self.name,
            "caller": self.caller,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class StackChange:
    """One CloudFormation stack (``bedrock-aip-<caller>``) to create, update or delete."""

    action: Action  # CREATE | UPDATE | DELETE | NOOP
    stack: str
    caller: str | None
    template: Mapping[str, Any] | None = None
    kind: ResourceKind = ResourceKind.STACK
    #: Updates, with `plan --change-sets`: what CloudFormation's change set says it would do per resource.
    resource_changes: tuple[Mapping[str, str], ...] | None = None

    @property
    def name(self) -> str:
        return self.stack

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"action": self.action.value, "stack": self.stack, "caller": self.caller}
        if self.resource_changes is not None:
            out["resource_changes"] = [dict(c) for c in self.resource_changes]
        return out


@dataclass(frozen=True)
class PrincipalChange:
    """Tags on one IAM role or user of a caller (the principal plane): only keys aipctl owns there.

    ``set_tags`` includes aipctl's markers (``aipctl:managed``, ``aipctl:keys``); ``remove_tags`` are keys
    aipctl set earlier that the inventory no longer asks for (or, for a pruned principal, all of them).
    """

    action: Action  # RETAG | DELETE (untag everything aipctl set) | NOOP
    arn: str
    principal_kind: str  # role | user
    principal_name: str
    caller: str | None
    tags: Mapping[str, str] = field(default_factory=dict)
    set_tags: Mapping[str, str] = field(default_factory=dict)
    remove_tags: tuple[str, ...] = ()
    reason: str = ""
    kind: ResourceKind = ResourceKind.PRINCIPAL
    #: The live values of the keys that change or go (the plan shows old -> new).
    old_tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.arn

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action.value,
            "principal": self.arn,
            "caller": self.caller,
            "set_tags": dict(self.set_tags),
            "remove_tags": list(self.remove_tags),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class CostTagChange:
    key: str
    current: str  # Active | Inactive | NotFound
    kind: ResourceKind = ResourceKind.COST_TAG
    action: Action = Action.ACTIVATE

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "current": self.current, "action": self.action.value}


@dataclass(frozen=True)
class SetupChange:
    """One step of setting up an account-level resource: invocation logging (``kind`` bucket, bucket-policy,
    log-group, role, role-policy, configuration) or the alert topic (topic, topic-policy, subscription)."""

    kind: str
    action: Action  # CREATE | UPDATE
    name: str
    reason: str
    spec: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "action": self.action.value, "name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class Plan:
    inventory_name: str
    inventory_path: str
    target: Mapping[str, str]
    changes: tuple[ProfileChange, ...]
    cost_tags: tuple[CostTagChange, ...] = ()
    #: Managed AIPs no longer in the inventory, kept because --prune was not given.
    orphans: tuple[ProfileChange, ...] = ()
    warnings: tuple[str, ...] = ()
    #: Budgets and alarms, applied after the AIPs.
    guards: tuple[GuardChange, ...] = ()
    guard_orphans: tuple[GuardChange, ...] = ()
    #: How the AIPs are made: with the Bedrock API (``changes``) or as CloudFormation stacks (``stacks``).
    via: Via = "api"
    stacks: tuple[StackChange, ...] = ()
    #: Tags on the callers' IAM roles and users (principal plane), applied before the cost tags.
    principals: tuple[PrincipalChange, ...] = ()
    #: Principals aipctl tagged for this inventory that it no longer names (untagged with --prune).
    principal_orphans: tuple[PrincipalChange, ...] = ()
    #: Model invocation logging and its destinations (the inventory's ``logging:``), applied last.
    logging: tuple[SetupChange, ...] = ()
    #: The alert topic, its policy and subscriptions (the inventory's ``alerts:``), applied before budgets.
    alert_setup: tuple[SetupChange, ...] = ()
    #: The statement a bucket that is not aipctl's needs for Bedrock to write logs (its owner adds it).
    logging_bucket_statement: Mapping[str, Any] | None = None
    #: Callers to re-wire (``aipctl wire``): a staged replacement of one of their AIPs is being made or waits.
    rewire: tuple[str, ...] = ()
    #: Caller -> a short label (tier, owner, environment) for the grouped human plan; not in ``to_dict``.
    inventory_callers: Mapping[str, str] = field(default_factory=dict)

    @property
    def in_use(self) -> tuple[ProfileChange, ...]:
        """Deletes and replaces of AIPs called within the usage window: apply refuses them without --force."""
        return tuple(c for c in self.changes if c.in_use)

    @property
    def guard_actions(self) -> tuple[GuardChange, ...]:
        return tuple(g for g in self.guards if g.action is not Action.NOOP)

    @property
    def actionable(self) -> tuple[ProfileChange, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    @property
    def stack_actions(self) -> tuple[StackChange, ...]:
        return tuple(s for s in self.stacks if s.action is not Action.NOOP)

    @property
    def principal_actions(self) -> tuple[PrincipalChange, ...]:
        return tuple(p for p in self.principals if p.action is not Action.NOOP)

    @property
    def cost_tags_waiting(self) -> tuple[CostTagChange, ...]:
        """Activations Billing cannot take yet (it has not seen the key): apply tries them, they are not drift."""
        return tuple(c for c in self.cost_tags if c.current == "NotFound")

    @property
    def has_changes(self) -> bool:
        """What `plan --detailed-exitcode` reports: anything apply would change now."""
        ready = len(self.cost_tags) > len(self.cost_tags_waiting)
        return bool(
            self.actionable
            or ready
            or self.guard_actions
            or self.stack_actions
            or self.principal_actions
            or self.logging
            or self.alert_setup
        )

    def counts(self) -> dict[str, int]:
        profiles = Counter(c.action for c in self.changes)
        others = (
            Counter(f"{c.kind.value}-{c.action.value}" for c in self.guard_actions)
            + Counter(f"{c.kind.value}-{c.action.value}" for c in self.stack_actions)
            + Counter(f"{c.kind.value}-{c.action.value}" for c in self.principal_actions)
            + Counter(f"logging-{c.kind}-{c.action.value}" for c in self.logging)
            + Counter(f"alerts-{c.kind}-{c.action.value}" for c in self.alert_setup)
        )
        return (
            {a.value: profiles.get(a, 0) for a in PROFILE_ACTIONS}
            | {"activate-cost-tags": len(self.cost_tags)}
            | dict(sorted(others.items()))
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "inventory": {"name": self.inventory_name, "path": self.inventory_path},
            "target": dict(self.target),
            "via": self.via,
            "summary": self.counts(),
            "has_changes": self.has_changes,
            "in_use": [c.name for c in self.in_use],
            "rewire": list(self.rewire),
            "changes": [c.to_dict() for c in self.changes],
            "cost_tags": [c.to_dict() for c in self.cost_tags],
            "orphans": [c.to_dict() for c in self.orphans],
            "guards": [g.to_dict() for g in self.guard_actions],
            "guard_orphans": [g.to_dict() for g in self.guard_orphans],
            "stacks": [s.to_dict() for s in self.stacks],
            "principals": [p.to_dict() for p in self.principals],
            "principal_orphans": [p.to_dict() for p in self.principal_orphans],
            "logging": [c.to_dict() for c in self.logging],
            "alerts": [c.to_dict() for c in self.alert_setup],
            "logging_bucket_statement": dict(self.logging_bucket_statement) if self.logging_bucket_statement else None,
            "warnings": list(self.warnings),
        }
