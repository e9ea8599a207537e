"""Plan/apply: reconcile the inventory with the account."""

from aipctl.plan.apply import ApplyReport, ChangeResult, apply_plan
from aipctl.plan.model import Action, CostTagChange, Plan, ProfileChange
from aipctl.plan.reconcile import LiveState, make_plan, plan_changes

__all__ = [
    "Action",
    "ApplyReport",
    "ChangeResult",
    "CostTagChange",
    "LiveState",
    "Plan",
    "ProfileChange",
    "apply_plan",
    "make_plan",
    "plan_changes",
]
