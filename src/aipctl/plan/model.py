"""The plan: what ``apply`` would change, computed once and consumed by rendering and applying."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Action(str, Enum):
    CREATE = "create"
    RETAG = "retag"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"


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

    def to_dict(self) -> dict[str, Any]:
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
        }


@dataclass(frozen=True)
class CostTagChange:
    key: str
    current: str  # Active | Inactive | NotFound

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "current": self.current, "action": "activate"}


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
    #: Budgets and alarms (aipctl.guard.resources.GuardChange), applied after the AIPs.
    guards: tuple[Any, ...] = ()
    guard_orphans: tuple[Any, ...] = ()

    @property
    def guard_actions(self) -> tuple[Any, ...]:
        return tuple(g for g in self.guards if g.action != "no-op")

    @property
    def actionable(self) -> tuple[ProfileChange, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    @property
    def has_changes(self) -> bool:
        return bool(self.actionable or self.cost_tags or self.guard_actions)

    def counts(self) -> dict[str, int]:
        counter = Counter(c.action.value for c in self.changes)
        guards = Counter(f"{g.kind}-{g.action}" for g in self.guard_actions)
        return {a.value: counter.get(a.value, 0) for a in Action} | {"activate-cost-tags": len(self.cost_tags)} | dict(guards)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inventory": {"name": self.inventory_name, "path": self.inventory_path},
            "target": dict(self.target),
            "summary": self.counts(),
            "has_changes": self.has_changes,
            "changes": [c.to_dict() for c in self.changes],
            "cost_tags": [c.to_dict() for c in self.cost_tags],
            "orphans": [c.to_dict() for c in self.orphans],
            "guards": [g.to_dict() for g in self.guard_actions],
            "guard_orphans": [g.to_dict() for g in self.guard_orphans],
            "warnings": list(self.warnings),
        }
