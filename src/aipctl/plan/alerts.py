"""Plan and apply the inventory's alert topic: the SNS topic, its policy for AWS Budgets, its subscriptions.

``alerts.sns_topic_arn`` names the topic budgets and alarms notify. In the target's account and Region
aipctl creates it when missing (tagged ``aipctl:managed``), gives it a statement letting
``budgets.amazonaws.com`` publish (conditioned on this account, against the confused deputy: AWS
Budgets user guide, "Creating an Amazon SNS topic for budget notifications"), and subscribes the
inventory's e-mail addresses and HTTPS endpoints (each confirms its own subscription). CloudWatch
alarms publish to a topic of their own account without a policy. A topic aipctl did not create keeps
its policy: plan warns when the statement is missing. A topic in another Region is refused (alarm
actions must be in the alarm's Region); one in another account is used as it is, unchecked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aipctl._exceptions import AipctlError, PlanConflict
from aipctl.aws.sns import Topics
from aipctl.aws.statements import has_statement, with_statement
from aipctl.aws.target import Target
from aipctl.inventory import LoadedInventory, rules
from aipctl.plan.model import Action, SetupChange

TOPIC_SID = "AipctlBudgetsPublish"


@dataclass(frozen=True)
class AlertPlan:
    changes: tuple[SetupChange, ...] = ()
    warnings: tuple[str, ...] = ()


def budgets_statement(topic_arn: str, account: str) -> dict[str, Any]:
    partition = topic_arn.split(":")[1]
    return {
        "Sid": TOPIC_SID,
        "Effect": "Allow",
        "Principal": {"Service": "budgets.amazonaws.com"},
        "Action": "SNS:Publish",
        "Resource": topic_arn,
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": f"arn:{partition}:budgets::{account}:*"},
        },
    }


def plan_alerts(loaded: LoadedInventory, target: Target) -> AlertPlan:
    alerts = loaded.inventory.alerts
    if alerts is None or not alerts.sns_topic_arn:
        return AlertPlan()
    topic = alerts.sns_topic_arn
    _, _, _, region, account, name = topic.split(":", 5)
    if region != target.region:
        raise PlanConflict(
            f"{loaded.path}: alerts.sns_topic_arn is in {region}, the inventory in {target.region}: "
            "CloudWatch alarms can only notify a topic in their own Region",
            hint=f"use a topic in {target.region}, e.g. arn:aws:sns:{target.region}:{target.account}:{name}",
        )
    if account != target.account:
        return AlertPlan(
            warnings=(
                f"alerts.sns_topic_arn is in account {account}, not {target.account}: aipctl neither creates nor checks it "
                "(its policy must let budgets.amazonaws.com and this account's alarms publish)",
            )
        )
    topics = Topics(target)
    found = topics.describe(topic)
    statement = budgets_statement(topic, account)
    changes: list[SetupChange] = []
    warnings: list[str] = []
    wanted = {("email", e) for e in alerts.emails} | {(urlsplit(u).scheme, u) for u in alerts.https}  # http: loopback only
    if found is None:
        changes.append(SetupChange("topic", Action.CREATE, topic, "budgets and alarms notify it", {"tags": _mark(loaded)}))
        changes.append(SetupChange("topic-policy", Action.CREATE, topic, "AWS Budgets may publish", {"statement": statement}))
        subscribed: set[tuple[str, str]] = set()
    else:
        policy, tags = found
        if not has_statement(policy, statement):
            if tags.get(rules.TAG_MANAGED) == loaded.inventory.name:
                changes.append(
                    SetupChange(
                        "topic-policy",
                        Action.UPDATE,
                        topic,
                        "AWS Budgets may publish (other statements kept)",
                        {"statement": statement},
                    )
                )
            elif not _allows_budgets(policy):
                warnings.append(
                    f"SNS topic {topic} is not aipctl's, so its policy is left alone, and it does not let "
                    "budgets.amazonaws.com publish: budget notifications will not arrive (docs/guards.md has the statement)"
                )
        subscribed = topics.subscriptions(topic)
    for protocol, endpoint in sorted(wanted - subscribed):
        changes.append(
            SetupChange(
                "subscription",
                Action.CREATE,
                f"{protocol}:{endpoint}",
                "confirms by e-mail" if protocol == "email" else "SNS sends a confirmation request to the endpoint",
                {"topic": topic, "protocol": protocol, "endpoint": endpoint},
            )
        )
    return AlertPlan(tuple(changes), tuple(warnings))


def _mark(loaded: LoadedInventory) -> dict[str, str]:
    return {rules.TAG_MANAGED: loaded.inventory.name}


def _allows_budgets(policy: dict[str, Any]) -> bool:
    statements = policy.get("Statement", [])
    for s in [statements] if isinstance(statements, dict) else statements:
        principal = s.get("Principal")
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        services = [services] if isinstance(services, str) else services
        if s.get("Effect") == "Allow" and "budgets.amazonaws.com" in services:
            return True
    return False


def apply_alerts(target: Target, changes: Sequence[SetupChange]) -> list[tuple[SetupChange, str | None]]:
    """Topic, policy, subscriptions in order; after a failed topic or policy the rest are skipped."""
    topics = Topics(target)
    out: list[tuple[SetupChange, str | None]] = []
    blocked = False
    for change in changes:
        if blocked:
            out.append((change, "skipped: the topic could not be set up"))
            continue
        try:
            if change.kind == "topic":
                topics.create(change.name, dict(change.spec["tags"]))
            elif change.kind == "topic-policy":
                found = topics.describe(change.name)
                topics.set_policy(change.name, with_statement(found[0] if found else None, dict(change.spec["statement"])))
            else:
                topics.subscribe(change.spec["topic"], change.spec["protocol"], change.spec["endpoint"])
            out.append((change, None))
        except AipctlError as exc:
            out.append((change, str(exc)))
            blocked = change.kind != "subscription"
    return out
