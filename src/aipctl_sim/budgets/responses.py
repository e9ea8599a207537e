"""Budgets responses: ``UpdateBudget`` and ``DescribeSubscribersForNotification``, which moto 5.2 lacks, on its budget objects."""

from __future__ import annotations

from typing import Any

from aipctl_sim.protocol import Request, ServiceError


def update_budget(req: Request) -> dict[str, Any]:
    from moto.budgets.models import budgets_backends
    from moto.core.utils import unix_time

    account = req.params["AccountId"]
    new = dict(req.params["NewBudget"])
    backend = budgets_backends[req.account_id]["aws"]
    budget = backend.budgets[account].get(new["BudgetName"])
    if budget is None:
        raise ServiceError(
            code="NotFoundException",
            status=400,
            message=f"Unable to update budget: {new['BudgetName']} - the budget doesn't exist.",
        )
    for key in ("TimePeriod",):
        if key not in new and key in budget.budget:
            new[key] = budget.budget[key]
    for key in ("TimePeriod",):
        period = new.get(key)
        if isinstance(period, dict):
            new[key] = {k: (v.timestamp() if hasattr(v, "timestamp") else v) for k, v in period.items()}
    new["LastUpdatedTime"] = unix_time()
    budget.budget = new
    return {}


def describe_subscribers_for_notification(req: Request) -> dict[str, Any]:
    from moto.budgets.models import budgets_backends

    backend = budgets_backends[req.account_id]["aws"]
    budget = backend.budgets[req.params["AccountId"]].get(req.params["BudgetName"])
    if budget is None:
        raise ServiceError(code="NotFoundException", status=400, message=f"Unable to get budget: {req.params['BudgetName']}")
    wanted = req.params["Notification"]

    def same(details: dict[str, Any]) -> bool:
        return all(str(details.get(k)) == str(v) for k, v in wanted.items() if k != "Threshold") and float(
            details.get("Threshold", 0)
        ) == float(wanted.get("Threshold", 0))

    for note in budget.notifications:
        if same(note.details):
            subs = note.subscribers if isinstance(note.subscribers, list) else [note.subscribers]
            return {"Subscribers": [dict(s) for s in subs]}
    raise ServiceError(code="NotFoundException", status=400, message="Unable to find the notification")
