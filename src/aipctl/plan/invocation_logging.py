"""Plan and apply the inventory's ``logging:`` block: model invocation logging and its destinations.

Order of apply: the bucket (created with public access blocked and aipctl's tag), its policy, the
log group, the delivery role and its policy, then the Region's logging configuration (Bedrock
checks at that call that it can deliver). aipctl changes the policy of a bucket only when it
created the bucket; the configuration is one setting per account and Region, so repointing one
that sends elsewhere needs ``logging.replace: true``. Text, image, embedding and video delivery
stay off unless ``text_delivery: true``: the records then carry metadata only, no prompt bodies.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aipctl._exceptions import AipctlError, AwsError, PlanConflict
from aipctl.aws.invocation_logging import (
    InvocationLoggingControl,
    bucket_statement,
    partition_of,
    role_policy,
    trust_policy,
)
from aipctl.aws.statements import has_statement, with_statement
from aipctl.aws.target import Target
from aipctl.inventory import LoadedInventory, rules
from aipctl.plan.model import Action, SetupChange

_DELIVERY = ("textDataDeliveryEnabled", "imageDataDeliveryEnabled", "embeddingDataDeliveryEnabled", "videoDataDeliveryEnabled")


def role_name_of(loaded: LoadedInventory) -> str:
    spec = loaded.inventory.logging
    assert spec is not None and spec.cloudwatch is not None
    return spec.cloudwatch.role_name or f"aipctl-{loaded.inventory.name}-invocation-logs"[:64]


@dataclass(frozen=True)
class LoggingPlan:
    changes: tuple[SetupChange, ...] = ()
    warnings: tuple[str, ...] = ()
    #: The statement a bucket that is not aipctl's lacks (for its owner to add), else None.
    bucket_statement: Mapping[str, Any] | None = None


def plan_logging(loaded: LoadedInventory, target: Target) -> LoggingPlan:
    """What makes the Region's invocation logging what the inventory says."""
    spec = loaded.inventory.logging
    if spec is None:
        return LoggingPlan()
    control = InvocationLoggingControl(target)
    account, region = target.account, target.region
    partition = partition_of(region)
    mark = {rules.TAG_MANAGED: loaded.inventory.name}
    changes: list[SetupChange] = []
    warnings: list[str] = []
    missing_statement: dict[str, Any] | None = None
    desired: dict[str, Any] = dict.fromkeys(_DELIVERY, spec.text_delivery)
    ours: set[str] = set()
    if spec.s3 is not None:
        bucket, prefix = spec.s3.bucket_in(account, region), spec.s3.prefix
        statement = bucket_statement(bucket, prefix, account, region, partition)
        found = control.bucket(bucket)
        where = f"s3://{bucket}/{prefix}".rstrip("/")
        if not found.exists:
            changes.append(SetupChange("bucket", Action.CREATE, bucket, "invocation logs; public access blocked", {"tags": mark}))
            changes.append(
                SetupChange(
                    "bucket-policy",
                    Action.CREATE,
                    bucket,
                    f"Bedrock may put logs under {where}",
                    {"statement": statement},
                )
            )
            ours.add(bucket)
        elif found.tags.get(rules.TAG_MANAGED) == loaded.inventory.name:
            ours.add(bucket)
            if not has_statement(found.policy, statement):
                changes.append(
                    SetupChange(
                        "bucket-policy",
                        Action.UPDATE,
                        bucket,
                        f"Bedrock may put logs under {where} (other statements kept)",
                        {"statement": statement},
                    )
                )
        elif not has_statement(found.policy, statement):
            missing_statement = statement
            warnings.append(
                f"S3 bucket {bucket} is not aipctl's, so its policy is left alone, and it has no statement letting "
                f"Bedrock write under {where}: add the one `aipctl plan --json` shows under logging_bucket_statement "
                "(docs/metering.md), or Bedrock refuses the logging configuration"
            )
        desired["s3Config"] = {"bucketName": bucket, **({"keyPrefix": prefix} if prefix else {})}
    if spec.cloudwatch is not None:
        group = spec.cloudwatch.log_group
        if control.log_group(group) is None:
            changes.append(SetupChange("log-group", Action.CREATE, group, "invocation logs", {"tags": mark}))
        ours.add(group)
        name = role_name_of(loaded)
        role = control.role(name)
        wanted_policy = role_policy(group, account, region, partition)
        if not role.exists:
            trust = trust_policy(account, region, partition)
            changes.append(
                SetupChange(
                    "role", Action.CREATE, name, "Bedrock assumes it to write the log group", {"trust": trust, "tags": mark}
                )
            )
            changes.append(
                SetupChange(
                    "role-policy",
                    Action.CREATE,
                    name,
                    f"logs:CreateLogStream, logs:PutLogEvents on {group}",
                    {"policy": wanted_policy},
                )
            )
        elif role.tags.get(rules.TAG_MANAGED) == loaded.inventory.name and role.policy != wanted_policy:
            changes.append(
                SetupChange(
                    "role-policy",
                    Action.UPDATE,
                    name,
                    f"logs:CreateLogStream, logs:PutLogEvents on {group}",
                    {"policy": wanted_policy},
                )
            )
        elif role.tags.get(rules.TAG_MANAGED) != loaded.inventory.name:
            warnings.append(f"IAM role {name} is not aipctl's: Bedrock uses it as it is (it must be able to write {group})")
        arn = role.arn or f"arn:{partition}:iam::{account}:role/{name}"
        desired["cloudWatchConfig"] = {"logGroupName": group, "roleArn": arn}
    current = control.configuration()
    if _normal(current) != _normal(desired):
        elsewhere = _elsewhere(current, desired, ours)
        if elsewhere and not spec.replace:
            raise PlanConflict(
                f"{loaded.path}: model invocation logging in {region} already sends to {', '.join(elsewhere)}; "
                "it is one setting per account and Region, so aipctl does not repoint it by itself",
                hint="set logging.replace: true in the inventory to send it to the inventory's destinations instead",
            )
        what = ", ".join(_destinations(desired)) + ("; text delivery on" if spec.text_delivery else "; metadata only")
        reason = f"{what} (replaces {', '.join(elsewhere)})" if elsewhere else what
        changes.append(
            SetupChange("configuration", Action.UPDATE if current else Action.CREATE, region, reason, {"config": desired})
        )
    return LoggingPlan(tuple(changes), tuple(warnings), missing_statement)


def _normal(config: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: bool(config.get(k, False)) for k in _DELIVERY}
    if config.get("s3Config"):
        out["s3"] = (config["s3Config"].get("bucketName"), (config["s3Config"].get("keyPrefix") or "").strip("/"))
    if config.get("cloudWatchConfig"):
        out["cloudwatch"] = (config["cloudWatchConfig"].get("logGroupName"), config["cloudWatchConfig"].get("roleArn"))
    return out


def _destinations(config: Mapping[str, Any]) -> list[str]:
    out = []
    if config.get("s3Config"):
        out.append(f"s3://{config['s3Config']['bucketName']}/{config['s3Config'].get('keyPrefix', '')}".rstrip("/"))
    if config.get("cloudWatchConfig"):
        out.append(f"logs://{config['cloudWatchConfig']['logGroupName']}")
    return out


def _elsewhere(current: Mapping[str, Any], desired: Mapping[str, Any], ours: set[str]) -> list[str]:
    """Destinations of the current configuration that are neither the inventory's nor aipctl's."""
    out = []
    if current.get("s3Config") and current["s3Config"].get("bucketName") not in ours:
        out += _destinations({"s3Config": current["s3Config"]})
    if current.get("cloudWatchConfig") and current["cloudWatchConfig"].get("logGroupName") not in ours:
        out += _destinations({"cloudWatchConfig": current["cloudWatchConfig"]})
    return out


def apply_logging(target: Target, changes: Sequence[SetupChange]) -> list[tuple[SetupChange, str | None]]:
    """Each change in order; after a failure the rest are skipped (each step needs the one before)."""
    control = InvocationLoggingControl(target)
    out: list[tuple[SetupChange, str | None]] = []
    failed = False
    new_role = any(c.kind == "role" for c in changes)
    for change in changes:
        if failed:
            out.append((change, "skipped: an earlier logging step failed"))
            continue
        try:
            _apply_one(control, change, new_role=new_role)
            out.append((change, None))
        except AipctlError as exc:
            out.append((change, str(exc)))
            failed = True
    return out


#: A role IAM just created takes seconds to be assumable everywhere; Bedrock checks it at the put.
ROLE_PROPAGATION_S = 60.0


def _apply_one(control: InvocationLoggingControl, change: SetupChange, *, new_role: bool) -> None:
    spec = change.spec
    if change.kind == "bucket":
        control.create_bucket(change.name, dict(spec["tags"]))
    elif change.kind == "bucket-policy":  # merged with the policy as it is now, not as plan saw it
        control.put_bucket_policy(change.name, with_statement(control.bucket(change.name).policy, dict(spec["statement"])))
    elif change.kind == "log-group":
        control.create_log_group(change.name, dict(spec["tags"]))
    elif change.kind == "role":
        control.create_role(change.name, dict(spec["trust"]), dict(spec["tags"]))
    elif change.kind == "role-policy":
        control.put_role_policy(change.name, dict(spec["policy"]))
    elif change.kind == "configuration":
        deadline = time.monotonic() + (ROLE_PROPAGATION_S if new_role else 0)
        delay = 2.0
        while True:
            try:
                control.put_configuration(dict(spec["config"]))
                return
            except AwsError as exc:  # "cannot assume role" while the new role propagates
                if exc.code != "ValidationException" or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 16.0)
    else:  # pragma: no cover - the planner makes only the kinds above
        raise AssertionError(change.kind)
