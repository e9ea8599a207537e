"""Budgets and alarms per caller, planned and applied with the AIPs (``aipctl plan`` / ``apply``).

- **AWS Budgets**: ``aipctl-<inventory>-<caller>``, a monthly cost budget filtered on the caller's
  cost-allocation tag (``user:Application$<caller>``), with an ACTUAL > n % notification per
  ``alert_at`` threshold to the inventory's ``alerts`` (SNS topic and/or e-mails).
- **CloudWatch alarms** per AIP of a caller with ``limits`` or a ``budget``:
  ``…-invocations`` (Invocations per minute > ``rpm``), ``…-tokens`` (input + output tokens per
  minute > ``tpm``) and ``…-spike`` (invocations above an anomaly-detection band), to the SNS topic.

Ownership is the name prefix ``aipctl-<inventory>-``: nothing else is read, changed or deleted.
Deletes (a caller or its budget left the inventory) need ``--prune``, like AIP deletes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from aipctl._exceptions import AipctlError
from aipctl.aws.budgets import Budgets
from aipctl.aws.cloudwatch import Alarms
from aipctl.aws.live import ManagedProfiles
from aipctl.aws.target import Target
from aipctl.inventory import LoadedInventory, rules
from aipctl.plan.model import Action, GuardChange, ResourceKind

NEW_AIP = "<new AIP>"


def prefix(loaded: LoadedInventory) -> str:
    """Budgets and alarms aipctl owns are named ``aipctl-<inventory>-…``."""
    return f"aipctl-{loaded.inventory.name}-"


def desired_budgets(loaded: LoadedInventory) -> dict[str, tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    inv = loaded.inventory
    subscribers = []
    if inv.alerts and inv.alerts.sns_topic_arn:  # the topic fans out to the e-mails (subscribed by apply): once each
        subscribers.append({"SubscriptionType": "SNS", "Address": inv.alerts.sns_topic_arn})
    else:
        for email in inv.alerts.emails if inv.alerts else []:
            subscribers.append({"SubscriptionType": "EMAIL", "Address": email})
    out = {}
    for caller, entry in inv.callers.items():
        if entry.budget is None:
            continue
        name = f"{prefix(loaded)}{caller}"[:100]
        budget = {
            "BudgetName": name,
            "BudgetLimit": {"Amount": f"{entry.budget.monthly_usd:.2f}", "Unit": "USD"},
            "CostFilters": {"TagKeyValue": [f"user:{rules.TAG_APPLICATION}${caller}"]},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        }
        notes = (
            [
                {
                    "Notification": {
                        "NotificationType": "ACTUAL",
                        "ComparisonOperator": "GREATER_THAN",
                        "Threshold": float(pct),
                        "ThresholdType": "PERCENTAGE",
                    },
                    "Subscribers": subscribers,
                }
                for pct in entry.budget.alert_at
            ]
            if subscribers
            else []
        )
        out[name] = (caller, budget, notes)
    return out


def desired_alarms(loaded: LoadedInventory, managed: ManagedProfiles) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """name -> (caller, alias, PutMetricAlarm arguments); a new AIP's ModelId is :data:`NEW_AIP`."""
    inv = loaded.inventory
    actions = [inv.alerts.sns_topic_arn] if inv.alerts and inv.alerts.sns_topic_arn else []
    common = {"ActionsEnabled": bool(actions), "AlarmActions": actions, "TreatMissingData": "notBreaching"}
    out: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for caller, entry in inv.callers.items():
        if entry.limits is None and entry.budget is None and caller not in loaded.budgeted_elsewhere:
            continue
        for alias in entry.models:
            live = managed.get(caller, alias)
            dims = [{"Name": "ModelId", "Value": live.profile_id if live else NEW_AIP}]
            base = f"{prefix(loaded)}{caller}-{alias}"
            specs = [_spike_alarm(base, f"{caller}/{alias}", dims)]
            if entry.limits and entry.limits.rpm:
                specs.append(_rpm_alarm(base, f"{caller}/{alias}", dims, entry.limits.rpm))
            if entry.limits and entry.limits.tpm:
                specs.append(_tpm_alarm(base, f"{caller}/{alias}", dims, entry.limits.tpm))
            for spec in specs:
                out[spec["AlarmName"]] = (caller, alias, {**spec, **common})
    return out


def _rpm_alarm(base: str, who: str, dims: list[dict[str, str]], rpm: int) -> dict[str, Any]:
    return {
        "AlarmName": f"{base}-invocations",
        "AlarmDescription": f"aipctl: {who} above {rpm} requests per minute",
        "Namespace": "AWS/Bedrock",
        "MetricName": "Invocations",
        "Dimensions": dims,
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": float(rpm),
        "ComparisonOperator": "GreaterThanThreshold",
    }


def _tpm_alarm(base: str, who: str, dims: list[dict[str, str]], tpm: int) -> dict[str, Any]:
    return {
        "AlarmName": f"{base}-tokens",
        "AlarmDescription": f"aipctl: {who} above {tpm} tokens per minute",
        "Metrics": [
            _metric("tin", "InputTokenCount", dims),
            _metric("tout", "OutputTokenCount", dims),
            {"Id": "tokens", "Expression": "tin + tout", "Label": "tokens per minute", "ReturnData": True},
        ],
        "EvaluationPeriods": 1,
        "Threshold": float(tpm),
        "ComparisonOperator": "GreaterThanThreshold",
    }


def _spike_alarm(base: str, who: str, dims: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "AlarmName": f"{base}-spike",
        "AlarmDescription": f"aipctl: {who} invocations above their usual band (anomaly detection)",
        "Metrics": [
            {**_metric("calls", "Invocations", dims, period=300), "ReturnData": True},
            {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(calls, 3)", "Label": "expected", "ReturnData": True},
        ],
        "ThresholdMetricId": "band",
        "EvaluationPeriods": 2,
        "ComparisonOperator": "GreaterThanUpperThreshold",
    }


def _metric(query_id: str, name: str, dims: list[dict[str, str]], period: int = 60) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": "AWS/Bedrock", "MetricName": name, "Dimensions": dims},
            "Period": period,
            "Stat": "Sum",
        },
        "ReturnData": False,
    }


def _alarm_differs(live: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    for key, value in want.items():
        if key == "Metrics":
            have = [{k: m.get(k) for k in ("Id", "Expression", "MetricStat")} for m in live.get("Metrics", [])]
            wanted = [{k: m.get(k) for k in ("Id", "Expression", "MetricStat")} for m in value]
            if _norm(have) != _norm(wanted):
                return True
        elif _norm(live.get(key)) != _norm(value):
            return True
    return False


def _norm(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _norm(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _budget_differs(live: Mapping[str, Any], want: Mapping[str, Any], live_notes: list[Any], want_notes: list[Any]) -> bool:
    budget = live.get("budget", live)
    if float(budget["BudgetLimit"]["Amount"]) != float(want["BudgetLimit"]["Amount"]):
        return True
    if budget.get("CostFilters") != want["CostFilters"] or budget.get("TimeUnit") != want["TimeUnit"]:
        return True

    def key(notes: list[Any]) -> set[Any]:
        return {
            (float(n["Notification"]["Threshold"]), frozenset((s["SubscriptionType"], s["Address"]) for s in n["Subscribers"]))
            for n in notes
        }

    return key(live_notes) != key(want_notes)


def plan_guards(
    loaded: LoadedInventory,
    managed: ManagedProfiles,
    live_budgets: Mapping[str, Mapping[str, Any]],
    live_alarms: Mapping[str, Mapping[str, Any]],
    *,
    prune: bool,
) -> tuple[list[GuardChange], list[GuardChange]]:
    """(changes, orphans): orphans are managed budgets/alarms to delete once --prune is given."""
    changes: list[GuardChange] = []
    orphans: list[GuardChange] = []
    for name, (caller, budget, notes) in sorted(desired_budgets(loaded).items()):
        if name not in live_budgets:
            changes.append(
                GuardChange(ResourceKind.BUDGET, Action.CREATE, name, caller, budget, tuple(notes), reason="new budget")
            )
        elif _budget_differs(live_budgets[name], budget, live_budgets[name].get("notifications", []), notes):
            changes.append(
                GuardChange(
                    ResourceKind.BUDGET,
                    Action.UPDATE,
                    name,
                    caller,
                    budget,
                    tuple(notes),
                    reason="budget or alerts changed",
                    existing=live_budgets[name],
                )
            )
        else:
            changes.append(GuardChange(ResourceKind.BUDGET, Action.NOOP, name, caller, budget, tuple(notes)))
    wanted_budgets = desired_budgets(loaded)
    for name in sorted(set(live_budgets) - set(wanted_budgets)):
        change = GuardChange(ResourceKind.BUDGET, Action.DELETE, name, None, reason="no longer in the inventory")
        (changes if prune else orphans).append(change)
    alarms = desired_alarms(loaded, managed)
    for name, (caller, alias, spec) in sorted(alarms.items()):
        if name not in live_alarms:
            changes.append(GuardChange(ResourceKind.ALARM, Action.CREATE, name, caller, spec, alias=alias, reason="new alarm"))
        elif _alarm_differs(live_alarms[name], spec):
            changes.append(
                GuardChange(ResourceKind.ALARM, Action.UPDATE, name, caller, spec, alias=alias, reason="alarm changed")
            )
        else:
            changes.append(GuardChange(ResourceKind.ALARM, Action.NOOP, name, caller, spec, alias=alias))
    for name in sorted(set(live_alarms) - set(alarms)):
        change = GuardChange(ResourceKind.ALARM, Action.DELETE, name, None, reason="no longer in the inventory")
        (changes if prune else orphans).append(change)
    return changes, orphans


def apply_guards(
    target: Target, changes: Iterable[GuardChange], new_ids: Mapping[tuple[str, str], str]
) -> list[tuple[GuardChange, str | None]]:
    """Apply budget/alarm changes after the AIPs; returns (change, error or None) per change."""
    results: list[tuple[GuardChange, str | None]] = []
    budgets: Budgets | None = None
    alarms = Alarms(target)
    for change in changes:
        if change.action is Action.NOOP:
            continue
        try:
            if change.kind is ResourceKind.BUDGET:
                budgets = budgets or Budgets(target)
                if change.action is Action.DELETE:
                    budgets.delete(change.name)
                else:
                    budgets.put(
                        dict(change.spec),
                        [dict(n) for n in change.notifications],
                        dict(change.existing) if change.existing else None,
                    )
            elif change.action is Action.DELETE:
                alarms.delete([change.name])
            else:
                alarms.put(_with_model_id(change, new_ids))
            results.append((change, None))
        except AipctlError as exc:
            results.append((change, str(exc)))
    return results


def _with_model_id(change: GuardChange, new_ids: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    text = json.dumps(change.spec)
    if NEW_AIP in text:
        model_id = new_ids.get((change.caller or "", change.alias or ""))
        if model_id is None:
            raise AipctlError(f"the AIP of {change.caller}/{change.alias} was not created; alarm {change.name} skipped")
        text = text.replace(NEW_AIP, model_id)
    return dict(json.loads(text))
