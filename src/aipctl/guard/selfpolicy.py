"""The least-privilege IAM policy aipctl itself needs, per command (``aipctl iam policy``).

Each command lists the adapter methods it may call; their ``@requires`` declarations (in
``aipctl.aws``) give the actions. ``tests/guard/test_self_policy.py`` runs the commands against the
emulator with call tracing on and fails when a traced AWS call is not covered here.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from aipctl.aws.permissions import REGISTRY

_READ_AIPS = (
    "bedrock.BedrockControl.list_application_profiles",
    "bedrock.BedrockControl._list",
    "bedrock.BedrockControl.tags_of",
    "bedrock.BedrockControl.get_profile",
    "tagging.ResourceTags.of_arns",
    "tagging.ResourceTags._batch",
)
_PLAN = (
    *_READ_AIPS,
    "bedrock.BedrockControl.system_profile_ids",
    "bedrock.BedrockControl.foundation_model_ids",
    "ce.CostAllocationTags.status",
    "cloudwatch.Alarms.managed",
    "budgets.Budgets.managed",
    "budgets.Budgets._notifications",
    "iam.Iam._all",
    "iam.Iam.principals_matching",
    "iam.Iam.tags_of",
    "iam.Iam.every_principal",
    "quotas.ServiceQuotas.aip_quota",
    "invocation_logging.InvocationLoggingControl.configuration",
    "invocation_logging.InvocationLoggingControl.bucket",
    "invocation_logging.InvocationLoggingControl.log_group",
    "invocation_logging.InvocationLoggingControl.role",
    "sns.Topics.describe",
    "sns.Topics.subscriptions",
)
#: The alert topic's steps, granted only on the inventory's topic (a policy write on "*" could open any topic).
_ALERTS = ("sns.Topics.create", "sns.Topics.set_policy", "sns.Topics.subscribe", "sns.Topics.describe")
ALERT_TOPIC_WRITES = frozenset({"sns:CreateTopic", "sns:SetTopicAttributes", "sns:Subscribe", "sns:TagResource"})
#: Invocation logging's S3 and Logs steps (the delivery role and passing it need IAM rights: not here).
_LOGGING = (
    "invocation_logging.InvocationLoggingControl.create_bucket",
    "invocation_logging.InvocationLoggingControl.put_bucket_policy",
    "invocation_logging.InvocationLoggingControl.create_log_group",
    "invocation_logging.InvocationLoggingControl.put_configuration",
)
#: S3 writes granted only on the inventory's logging bucket (a bucket policy on "*" could open any bucket).
LOGGING_BUCKET_WRITES = frozenset(
    {"s3:CreateBucket", "s3:PutBucketPolicy", "s3:PutBucketTagging", "s3:PutBucketPublicAccessBlock"}
)
#: The principal plane: tags on the callers' roles and users (only the keys aipctl owns; see docs/attribution.md).
_TAG_PRINCIPALS = ("iam.Iam.tag", "iam.Iam.untag")
#: The brake is a tag write on aipctl's own AIPs plus IAM *reads* (which principals the deny reaches).
_BRAKE = (*_READ_AIPS, "iam.Iam.principals_matching", "iam.Iam._all", "iam.Iam.get_policy")
_BRAKE_TAGS = ("bedrock.BedrockControl.tag", "bedrock.BedrockControl.untag")
#: Only `iam render --attach` (run by a human with IAM rights) writes IAM policies, on the inventory's principals.
_ATTACH = (*_BRAKE, "iam.Iam.put_policy", "iam.Iam.delete_policy")
_SPEND = (
    "cloudwatch.BedrockMetrics.values",
    "ce.CostExplorer.cost_and_usage",
    "ce.CostExplorer.services_matching",
    "s3logs.InvocationLogs.keys",
    "s3logs.InvocationLogs.versions",
    "s3logs.InvocationLogs.object_bytes",
    "logs.LogEvents.streams",
    "logs.LogEvents.messages",
)

#: verify's evidence: LookupEvents, and the log files of trails that select bedrock-mantle's data events
_COVERAGE = ("cloudtrail.Trail.runtime_calls", "cloudtrail.Trail.data_trails", "cloudtrail.Trail.mantle_calls")

#: command -> adapter methods (module.Class.method below aipctl.aws) it may call
COMMAND_CALLS: dict[str, tuple[str, ...]] = {
    "plan": _PLAN,
    "apply": (
        *_PLAN,
        "bedrock.BedrockControl.create_profile",
        "bedrock.BedrockControl.delete_profile",
        "bedrock.BedrockControl.tag",
        "bedrock.BedrockControl.untag",
        "ce.CostAllocationTags.activate",
        "cloudwatch.Alarms.put",
        "cloudwatch.Alarms.delete",
        "budgets.Budgets.put",
        "budgets.Budgets.delete",
        *_TAG_PRINCIPALS,
        *_LOGGING,
        *_ALERTS,
    ),
    "apply --via cloudformation": (
        *_PLAN,
        "cloudformation.Stacks.create",
        "cloudformation.Stacks.update",
        "cloudformation.Stacks.delete",
        "cloudformation.Stacks.list_stacks",
        "cloudformation.Stacks.template_of",
        "cloudformation.Stacks.wait",
        "cloudformation.Stacks._failure_reason",
        "cloudformation.Stacks.preview",
        "ce.CostAllocationTags.activate",
        *_TAG_PRINCIPALS,
        *_LOGGING,
        *_ALERTS,
    ),
    "list": _READ_AIPS,
    "tags status": ("ce.CostAllocationTags.status",),
    "tags activate": ("ce.CostAllocationTags.status", "ce.CostAllocationTags.activate"),
    "wire": (*_READ_AIPS, "ssm.Parameters.put_if_changed"),
    "verify": (*_READ_AIPS, *_COVERAGE),
    "discover": (*_READ_AIPS, *_COVERAGE),
    "advise": (*_READ_AIPS, "cloudwatch.BedrockMetrics.values", *_COVERAGE),  # --coverage: CloudTrail
    "report": (
        *_READ_AIPS,
        "ce.CostAllocationTags.status",
        "ce.CostExplorer.cost_and_usage",
        "ce.CostExplorer.services_matching",
        "cloudwatch.BedrockMetrics.values",
        *_COVERAGE,
    ),
    "meter ingest": (
        *_READ_AIPS,
        *_SPEND[3:],
        "cloudtrail.Trail.runtime_calls",
        "exports.CurFiles.list",
        "exports.CurFiles.read",
    ),
    "cur setup": (
        "exports.DataExports.find",
        "exports.DataExports.get",
        "exports.DataExports.prepare_bucket",
        "exports.DataExports.create",
    ),
    "reconcile": ("ce.CostExplorer.cost_and_usage", "ce.CostExplorer.services_matching", "ce.CostAllocationTags.status"),
    "meter athena": (*_READ_AIPS, "athena.Athena.run"),
    "iam render": _ATTACH,
    "brake": (*_BRAKE, *_BRAKE_TAGS),
    "release": (*_BRAKE, *_BRAKE_TAGS),
    "guard watch": (*_BRAKE, *_BRAKE_TAGS, *_SPEND, "sns.Topics.publish"),
    "guard test-alert": ("sns.Topics.publish",),
    "prices refresh": ("pricing.PriceList.products", "pricing.FoundationModels.names"),
}


def _import_adapters() -> None:
    """Import every adapter module, so each ``@requires`` is in the registry."""
    import aipctl.aws

    for module in pkgutil.iter_modules(aipctl.aws.__path__):
        importlib.import_module(f"aipctl.aws.{module.name}")


def actions_of(command: str) -> list[str]:
    _import_adapters()
    actions: set[str] = set()
    for call in COMMAND_CALLS[command]:
        key = f"aipctl.aws.{call}"
        if key not in REGISTRY:
            raise KeyError(f"{command}: {key} declares no IAM actions (missing @requires?)")
        actions.update(REGISTRY[key])
    return sorted(actions)


#: IAM actions that change a principal; never granted on ``*`` (whoever holds them could make itself admin).
IAM_WRITES = frozenset(
    {
        "iam:PutRolePolicy",
        "iam:PutUserPolicy",
        "iam:DeleteRolePolicy",
        "iam:DeleteUserPolicy",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:TagUser",
        "iam:UntagUser",
    }
)


def needs_inventory(command: str) -> bool:
    """Whether the command's policy writes IAM (and so must be scoped to an inventory's principals)."""
    return bool(IAM_WRITES & set(actions_of(command)))


def principal_resources(loaded: Any) -> list[str]:
    """The IAM ARN patterns of the inventory's callers' roles and users (sessions count as their role)."""
    from aipctl.inventory import rules

    found = {
        pattern[1]
        for caller in loaded.inventory.callers.values()
        for identity in caller.identities
        if (pattern := rules.principal_pattern(identity)) is not None
    }
    return sorted(found)


def policy_for(command: str, loaded: Any = None) -> dict[str, Any]:
    """The policy of ``command``: reads and aipctl's own resources on ``*``, IAM writes only on the principals
    of ``loaded``'s callers (tags limited to the keys aipctl sets there)."""
    from aipctl._exceptions import UsageError

    sid = "Aipctl" + "".join(w.title() for w in command.replace("-", " ").split())
    actions = actions_of(command)
    writes = sorted(IAM_WRITES & set(actions))
    inventory = getattr(loaded, "inventory", None)
    logging, alerts = getattr(inventory, "logging", None), getattr(inventory, "alerts", None)
    # Writes on the inventory's own logging bucket and alert topic only (none without them).
    scoped_to = {
        "LoggingBucket": (
            LOGGING_BUCKET_WRITES,
            f"arn:aws:s3:::{logging.s3.bucket_in('*', '*')}" if logging and logging.s3 else None,
        ),
        "AlertTopic": (ALERT_TOPIC_WRITES, alerts.sns_topic_arn if alerts and alerts.sns_topic_arn else None),
    }
    scoped: set[str] = set()
    if command.startswith("apply"):
        scoped = set().union(*(kinds for kinds, _ in scoped_to.values())) & set(actions)
    statements: list[dict[str, Any]] = [
        {"Sid": sid, "Effect": "Allow", "Action": [a for a in actions if a not in IAM_WRITES | scoped], "Resource": "*"}
    ]
    for suffix, (kinds, resource) in scoped_to.items():
        granted = sorted(kinds & scoped)
        if granted and resource:
            statements.append({"Sid": sid + suffix, "Effect": "Allow", "Action": granted, "Resource": resource})
    if writes:
        if loaded is None:
            raise UsageError(
                f"the policy of `aipctl {command}` writes IAM, which aipctl grants only on the inventory's principals",
                hint="run it where the inventory is, or pass -f FILE",
            )
        resources = principal_resources(loaded)
        if not resources:
            raise UsageError(f"{loaded.path}: no caller lists identities, so `aipctl {command}` has no principal to act on")
        policies = [a for a in writes if not a.split(":")[1].startswith(("Tag", "Untag"))]
        tagging = [a for a in writes if a not in policies]
        if policies:
            statements.append({"Sid": sid + "CallerPolicies", "Effect": "Allow", "Action": policies, "Resource": resources})
        if tagging:
            keys = sorted({k for c in loaded.inventory.callers for k in loaded.principal_tags(c)} | _MARKERS)
            statements.append(
                {
                    "Sid": sid + "CallerPrincipalTags",
                    "Effect": "Allow",
                    "Action": tagging,
                    "Resource": resources,
                    "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": keys}},
                }
            )
    roles = sorted(
        f"arn:aws:iam::{account.id}:role/{account.role}"
        for account in (inventory.accounts.values() if inventory is not None else ())
        if account.role
    )
    if roles and command in FLEET_COMMANDS:  # into the inventory's accounts, by their named roles only
        statements.append({"Sid": sid + "AccountRoles", "Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": roles})
    return {"Version": "2012-10-17", "Statement": statements}


#: The commands that act in every account of ``accounts:`` (through its role); each role needs that command's
#: policy in its own account.
FLEET_COMMANDS = frozenset(
    {
        "plan",
        "apply",
        "apply --via cloudformation",
        "list",
        "report",
        "verify",
        "advise",
        "wire",
        "brake",
        "release",
        "guard watch",
        "meter ingest",
    }
)
_MARKERS = frozenset({"aipctl:managed", "aipctl:keys"})
