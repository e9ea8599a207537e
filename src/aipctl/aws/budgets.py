"""AWS Budgets adapter: one cost budget per caller, filtered on its cost-allocation tag.

Budgets is a global service (endpoint in us-east-1). aipctl manages only budgets whose names
start with ``aipctl-<inventory>-``.
"""

from __future__ import annotations

from typing import Any

from aipctl._exceptions import AwsError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target


class Budgets:
    def __init__(self, target: Target) -> None:
        self.client = target.client("budgets", region="us-east-1")
        self.account = target.account

    @requires("budgets:ViewBudget")
    def managed(self, prefix: str) -> dict[str, dict[str, Any]]:
        """name -> {"budget": ..., "notifications": [{"Notification": ..., "Subscribers": [...]}]}."""
        out: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"AccountId": self.account}
        while True:
            try:
                with aws_call("budgets", "DescribeBudgets"):
                    page = self.client.describe_budgets(**kwargs)
            except AwsError as exc:
                if exc.code == "NotFoundException":  # no budget at all in the account
                    return out
                raise
            for budget in page.get("Budgets", []):
                if budget["BudgetName"].startswith(prefix):
                    out[budget["BudgetName"]] = {"budget": budget, "notifications": self._notifications(budget["BudgetName"])}
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    @requires("budgets:ViewBudget")
    def _notifications(self, name: str) -> list[dict[str, Any]]:
        with aws_call("budgets", "DescribeNotificationsForBudget", name):
            notes = self.client.describe_notifications_for_budget(AccountId=self.account, BudgetName=name).get(
                "Notifications", []
            )
        out = []
        for note in notes:
            with aws_call("budgets", "DescribeSubscribersForNotification", name):
                subs = self.client.describe_subscribers_for_notification(
                    AccountId=self.account, BudgetName=name, Notification=note
                ).get("Subscribers", [])
            out.append({"Notification": note, "Subscribers": subs})
        return out

    @requires("budgets:ModifyBudget", "budgets:ViewBudget")
    def put(self, budget: dict[str, Any], notifications: list[dict[str, Any]], existing: dict[str, Any] | None) -> None:
        """Create the budget, or update it and reconcile its notifications to ``notifications``."""
        name = budget["BudgetName"]
        if existing is None:
            with aws_call("budgets", "CreateBudget", name):
                self.client.create_budget(AccountId=self.account, Budget=budget, NotificationsWithSubscribers=notifications)
            return
        with aws_call("budgets", "UpdateBudget", name):
            self.client.update_budget(AccountId=self.account, NewBudget=budget)
        have = {_key(n["Notification"]): n for n in existing.get("notifications", [])}
        want = {_key(n["Notification"]): n for n in notifications}
        for key, note in have.items():
            if key not in want or _subs(note) != _subs(want[key]):
                with aws_call("budgets", "DeleteNotification", name):
                    self.client.delete_notification(AccountId=self.account, BudgetName=name, Notification=note["Notification"])
        for key, note in want.items():
            if key not in have or _subs(have[key]) != _subs(note):
                with aws_call("budgets", "CreateNotification", name):
                    self.client.create_notification(
                        AccountId=self.account,
                        BudgetName=name,
                        Notification=note["Notification"],
                        Subscribers=note["Subscribers"],
                    )

    @requires("budgets:ModifyBudget")
    def delete(self, name: str) -> None:
        with aws_call("budgets", "DeleteBudget", name):
            self.client.delete_budget(AccountId=self.account, BudgetName=name)


def _key(note: dict[str, Any]) -> tuple[str, str, float, str]:
    return (
        note["NotificationType"],
        note["ComparisonOperator"],
        float(note["Threshold"]),
        note.get("ThresholdType", "PERCENTAGE"),
    )


def _subs(note: dict[str, Any]) -> set[tuple[str, str]]:
    return {(s["SubscriptionType"], s["Address"]) for s in note.get("Subscribers", [])}
