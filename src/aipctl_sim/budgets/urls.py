"""Budgets operations the emulator serves itself, on moto's budget objects (moto 5.2 does not implement them)."""

from aipctl_sim.budgets import responses

SERVICE = "budgets"
SIGNING_NAME = "budgets"
operations = {
    "UpdateBudget": responses.update_budget,
    "DescribeSubscribersForNotification": responses.describe_subscribers_for_notification,
}
