"""IAM policy documents the guards put on callers' identities.

- **anti-bypass** (``aipctl-aip-only-<caller>``): allow invoking the caller's own AIPs, and the
  models behind them only through those AIPs (``bedrock:InferenceProfileArn``); deny every other
  route to a model: a foundation model or system-defined profile called directly, or another
  caller's AIP.
- **brake**: part of the anti-bypass policy — deny invoking any AIP tagged ``aipctl:brake``
  (``aipctl-brake-<caller>``, an inline Deny of earlier versions, is only removed now).

``bedrock:InvokeModel`` also authorizes Converse, and ``InvokeModelWithResponseStream`` ConverseStream.
"""

from __future__ import annotations

import re
from typing import Any

INVOKE = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
VERSION = "2012-10-17"


def aip_only_name(caller: str) -> str:
    return f"aipctl-aip-only-{_safe(caller)}"


def brake_name(caller: str) -> str:
    return f"aipctl-brake-{_safe(caller)}"


def _safe(caller: str) -> str:
    return re.sub(r"[^\w+=,.@-]", "-", caller)[:100]


def aip_only_policy(caller: str, aip_arns: list[str], partition: str = "aws", tenant_tag: str | None = None) -> dict[str, Any]:
    arns = sorted(aip_arns)
    models = [f"arn:{partition}:bedrock:*::foundation-model/*", f"arn:{partition}:bedrock:*:*:inference-profile/*"]
    return {
        "Version": VERSION,
        "Statement": [
            {"Sid": "InvokeOwnAips", "Effect": "Allow", "Action": INVOKE, "Resource": arns},
            {
                "Sid": "ModelsOnlyThroughOwnAips",
                "Effect": "Allow",
                "Action": INVOKE,
                "Resource": models,
                "Condition": {"StringEquals": {"bedrock:InferenceProfileArn": arns}},
            },
            {
                "Sid": "DenyBypassingTheAip",
                "Effect": "Deny",
                "Action": INVOKE,
                "Resource": models,
                # absent (a direct call) or any profile but the caller's own AIPs
                "Condition": {"StringNotEquals": {"bedrock:InferenceProfileArn": arns}},
            },
            {
                "Sid": "DenyOtherCallersAips",
                "Effect": "Deny",
                "Action": INVOKE,
                "NotResource": [*arns, *models],
            },
            brake_statement(partition),
            *([tenant_brake_statement(tenant_tag, partition)] if tenant_tag else []),
            *other_route_statements(partition),
        ],
    }


def other_route_statements(partition: str = "aws") -> list[dict[str, Any]]:
    """Routes around the caller's AIPs that the invoke statements do not see (issue 14.3).

    - bedrock-mantle (its own ``bedrock-mantle:`` actions, not in invocation logs);
    - long-term Bedrock API keys (IAM service-specific credentials: shareable, long-lived) — short-term
      keys carry the principal's own rights, so the statements above hold for them;
    - batch inference jobs (run under a service role) and self-made inference profiles;
    - retagging AIPs (which moves their cost onto someone else's line).

    Sources: Bedrock user guide "Control permissions for generating and using Amazon Bedrock API keys"
    (``bedrock:CallWithBearerToken``, ``bedrock:bearerTokenType``, ``iam:ServiceSpecificCredentialServiceName``);
    aws-samples/service-control-policy-examples, Amazon-Bedrock/Deny-Bedrock-api-keys.json.
    """
    return [
        {"Sid": "DenyBedrockMantle", "Effect": "Deny", "Action": "bedrock-mantle:*", "Resource": "*"},
        {
            "Sid": "DenyLongTermApiKeys",
            "Effect": "Deny",
            "Action": "bedrock:CallWithBearerToken",
            "Resource": "*",
            "Condition": {"StringEquals": {"bedrock:bearerTokenType": "LONG_TERM"}},
        },
        {
            "Sid": "DenyCreatingBedrockApiKeys",
            "Effect": "Deny",
            "Action": "iam:CreateServiceSpecificCredential",
            "Resource": "*",
            "Condition": {"StringEquals": {"iam:ServiceSpecificCredentialServiceName": "bedrock.amazonaws.com"}},
        },
        {
            "Sid": "DenyBatchAndOwnProfiles",
            "Effect": "Deny",
            "Action": ["bedrock:CreateModelInvocationJob", "bedrock:CreateInferenceProfile", "bedrock:DeleteInferenceProfile"],
            "Resource": "*",
        },
        {
            "Sid": "DenyRetaggingAips",
            "Effect": "Deny",
            "Action": ["bedrock:TagResource", "bedrock:UntagResource"],
            "Resource": f"arn:{partition}:bedrock:*:*:application-inference-profile/*",
        },
    ]


def scp_policy(exempt: list[str], partition: str = "aws") -> dict[str, Any]:
    """A service control policy for what identity policies cannot close: roles and users created later.

    Every principal of the organisation's accounts but ``exempt`` (aipctl's operator role, break-glass
    admins) may reach models only through application inference profiles, may not use bedrock-mantle or
    Bedrock API keys, and may not retag AIPs. SCPs do not apply to the management account.
    """
    unless = {"ArnNotLike": {"aws:PrincipalArn": sorted(exempt)}} if exempt else {}
    models = [f"arn:{partition}:bedrock:*::foundation-model/*", f"arn:{partition}:bedrock:*:*:inference-profile/*"]

    def deny(sid: str, action: Any, resource: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
        merged: dict[str, dict[str, Any]] = {op: dict(keys) for op, keys in (condition or {}).items()}
        for op, keys in unless.items():
            merged.setdefault(op, {}).update(keys)
        return {"Sid": sid, "Effect": "Deny", "Action": action, "Resource": resource, **({"Condition": merged} if merged else {})}

    return {
        "Version": VERSION,
        "Statement": [
            # a direct call has no bedrock:InferenceProfileArn, and a negated operator matches a missing key
            deny(
                "ModelsOnlyThroughAips",
                INVOKE,
                models,
                {"ArnNotLike": {"bedrock:InferenceProfileArn": f"arn:{partition}:bedrock:*:*:application-inference-profile/*"}},
            ),
            deny("NoBedrockMantle", "bedrock-mantle:*", "*"),
            deny("NoBedrockApiKeys", ["bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken"], "*"),
            deny(
                "NoLongTermBedrockApiKeys",
                "iam:CreateServiceSpecificCredential",
                "*",
                {"StringEquals": {"iam:ServiceSpecificCredentialServiceName": "bedrock.amazonaws.com"}},
            ),
            deny(
                "NoRetaggingAips",
                ["bedrock:TagResource", "bedrock:UntagResource"],
                f"arn:{partition}:bedrock:*:*:application-inference-profile/*",
            ),
        ],
    }


#: The Sid of the statement that brakes single tenants of a shared role (by their session tag).
TENANT_BRAKE_SID = "DenyBrakedTenants"


def tenant_brake_statement(tenant_tag: str, partition: str = "aws") -> dict[str, Any]:
    """Deny a tenant's sessions the AIPs whose ``aipctl:braked-tenants`` names it; the other tenants keep working.

    ``${aws:PrincipalTag/<tenant_tag>}`` is the session tag ``aipctl.session_for`` sets; the tag value is
    space-delimited with a space on each side, so the pattern matches whole tenant names only.
    """
    return {
        "Sid": TENANT_BRAKE_SID,
        "Effect": "Deny",
        "Action": INVOKE,
        "Resource": f"arn:{partition}:bedrock:*:*:application-inference-profile/*",
        "Condition": {"StringLike": {"aws:ResourceTag/aipctl:braked-tenants": f"* ${{aws:PrincipalTag/{tenant_tag}}} *"}},
    }


#: The Sid of the statement that makes ``aipctl:brake`` on an AIP a deny (checked by ``aipctl brake``).
BRAKE_SID = "DenyBrakedAips"


def brake_statement(partition: str = "aws") -> dict[str, Any]:
    """Deny invoking any AIP that carries ``aipctl:brake``: once attached, braking is a tag write.

    Bedrock evaluates ``aws:ResourceTag/...`` on invoke actions for application inference profiles
    (AWS's managed AmazonDataZoneBedrockModelConsumptionPolicy allows InvokeModel on
    ``application-inference-profile/*`` by ``aws:ResourceTag/AmazonDataZoneDomain``).
    """
    return {
        "Sid": BRAKE_SID,
        "Effect": "Deny",
        "Action": INVOKE,
        "Resource": f"arn:{partition}:bedrock:*:*:application-inference-profile/*",
        "Condition": {"Null": {"aws:ResourceTag/aipctl:brake": "false"}},
    }


def tenant_tag_keys(loaded: Any, caller: str) -> list[str]:
    """Every session tag key ``aipctl.session_for`` may send for ``caller``'s tenants."""
    from aipctl.sessions import tenant_tags

    spec = loaded.inventory.callers[caller]
    keys: set[str] = set()
    for tenant in spec.tenants:
        keys.update(tenant_tags(loaded, caller, tenant))
    return sorted(keys)


def trust_policy(loaded: Any, caller: str, principals: list[str]) -> dict[str, Any]:
    """The trust policy of a role whose tenants' sessions ``aipctl.session_for`` makes.

    The gateway's principals may assume the role and set a source identity; they may tag the
    session only with the inventory's keys (``aws:TagKeys``) and only as this caller
    (``aws:RequestTag/Application``), so a gateway cannot bill its calls to another caller. Source:
    IAM user guide, "Passing session tags in AWS STS" (permissions required to add session tags)
    and "sts:SetSourceIdentity".
    """
    keys = tenant_tag_keys(loaded, caller)
    who = {"AWS": sorted(principals) if len(principals) > 1 else principals[0]}
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "GatewayAssumesForTenants",
                "Effect": "Allow",
                "Principal": who,
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
            },
            {
                "Sid": "GatewayTagsTenantSessions",
                "Effect": "Allow",
                "Principal": who,
                "Action": "sts:TagSession",
                "Condition": {
                    "ForAllValues:StringEquals": {"aws:TagKeys": keys},
                    "StringEquals": {"aws:RequestTag/Application": caller},
                },
            },
        ],
    }
