"""Plan/apply: reconcile the inventory with the account (AIPs, budgets, alarms, stacks, cost tags)."""

from aipctl.aws.live import LiveState
from aipctl.plan.apply import ApplyReport, ChangeResult, apply_plan
from aipctl.plan.model import Action, CostTagChange, GuardChange, Plan, ProfileChange, ResourceKind, StackChange
from aipctl.plan.reconcile import make_plan, plan_changes

__all__ = [
    "Action",
    "ApplyReport",
    "ChangeResult",
    "CostTagChange",
    "GuardChange",
    "LiveState",
    "Plan",
    "ProfileChange",
    "ResourceKind",
    "StackChange",
    "apply_plan",
    "make_plan",
    "plan_changes",
]
