"""Every AWS call site declares the IAM actions it needs.

``@requires("bedrock:ListInferenceProfiles")`` records the actions on the function; ``aipctl iam
policy`` assembles them into a least-privilege policy per command, and a test walks the adapters to
fail when a method that calls AWS declares nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

#: "module.qualname" -> IAM actions
REGISTRY: dict[str, tuple[str, ...]] = {}


def requires(*actions: str) -> Callable[[F], F]:
    def mark(func: F) -> F:
        REGISTRY[f"{func.__module__}.{func.__qualname__}"] = actions
        setattr(func, "__iam_actions__", actions)  # noqa: B010 (a function attribute mypy cannot know)
        return func

    return mark


def actions_for(*funcs: Callable[..., object]) -> list[str]:
    out: set[str] = set()
    for func in funcs:
        out.update(getattr(func, "__iam_actions__", ()))
    return sorted(out)


#: API operations whose IAM action has another name (the rest: ``<prefix>:<Operation>``).
ACTION_ALIASES = {
    "ListObjectsV2": "ListBucket",
    "GetAwsDefaultServiceQuota": "GetAWSDefaultServiceQuota",
    "Converse": "InvokeModel",
    "ConverseStream": "InvokeModelWithResponseStream",
    "DescribeBudgets": "ViewBudget",
    "DescribeBudget": "ViewBudget",
    "DescribeNotificationsForBudget": "ViewBudget",
    "DescribeSubscribersForNotification": "ViewBudget",
    "CreateBudget": "ModifyBudget",
    "UpdateBudget": "ModifyBudget",
    "DeleteBudget": "ModifyBudget",
    "CreateNotification": "ModifyBudget",
    "DeleteNotification": "ModifyBudget",
}
#: botocore service name -> IAM service prefix, where they differ.
SERVICE_PREFIXES = {"bedrock-runtime": "bedrock", "resourcegroupstaggingapi": "tag", "service-quotas": "servicequotas"}
#: Calls every principal may make without a policy.
UNRESTRICTED = {("sts", "GetCallerIdentity")}


def iam_action(service: str, operation: str) -> str | None:
    """The IAM action an API call needs (``s3 ListObjectsV2`` -> ``s3:ListBucket``); None when none is needed."""
    if (service, operation) in UNRESTRICTED:
        return None
    return f"{SERVICE_PREFIXES.get(service, service)}:{ACTION_ALIASES.get(operation, operation)}"
