"""Who is calling (from the access key, via moto's IAM and STS) and whether IAM explicitly denies it.

The emulator allows by default, like moto; what it adds is the part the guards depend on: an
explicit ``Deny`` in an identity policy attached to the caller (user inline/managed/group policies,
or the assumed role's inline/managed policies) refuses the call with AccessDeniedException.

Supported in Deny statements: ``Action``/``NotAction``, ``Resource``/``NotResource`` with ``*`` and
``?`` wildcards, and conditions ``StringEquals``, ``StringNotEquals``, ``StringLike``,
``StringNotLike``, ``ArnEquals``, ``ArnLike``, ``ArnNotEquals``, ``ArnNotLike`` and ``Null`` (with
``IfExists``). A statement with any other condition operator is not applied (documented limit).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CallerIdentity:
    type: str  # IAMUser | AssumedRole
    arn: str
    principal_id: str
    access_key_id: str
    account: str
    user_name: str | None = None
    role_arn: str | None = None
    session_name: str | None = None
    #: The principal's tags: the user's, or the role's overlaid by the session's (sts_sessions.py).
    tags: tuple[tuple[str, str], ...] = ()
    source_identity: str | None = None

    def cloudtrail(self, when_iso: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "principalId": self.principal_id,
            "arn": self.arn,
            "accountId": self.account,
            "accessKeyId": self.access_key_id,
        }
        if self.user_name:
            out["userName"] = self.user_name
        if self.type == "AssumedRole" and self.role_arn:
            out["sessionContext"] = {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": self.principal_id.split(":")[0],
                    "arn": self.role_arn,
                    "accountId": self.account,
                    "userName": self.role_arn.rsplit("/", 1)[-1],
                },
                "attributes": {"creationDate": when_iso, "mfaAuthenticated": "false"},
            }
            if self.source_identity:
                out["sessionContext"]["sourceIdentity"] = self.source_identity
        return out

    @property
    def username(self) -> str:
        """What CloudTrail's LookupEvents filters by ``Username``."""
        return self.session_name if self.type == "AssumedRole" and self.session_name else (self.user_name or self.arn)


def identity_for(account: str, access_key: str) -> CallerIdentity:
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    from aipctl_sim.sts_sessions import of_session

    assumed = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key)
    iam = iam_backends[account]["aws"]
    if assumed is not None:
        session = of_session(assumed)
        try:
            role_tags = tag_dict(iam.get_role_by_arn(assumed.role_arn).tags)
        except Exception:  # the role is gone or in another account
            role_tags = {}
        lowered = {k.lower() for k in session.tags}
        tags = {k: v for k, v in role_tags.items() if k.lower() not in lowered} | dict(session.tags)
        return CallerIdentity(
            "AssumedRole",
            assumed.arn,
            assumed.user_id,
            access_key,
            account,
            role_arn=assumed.role_arn,
            session_name=assumed.session_name,
            tags=tuple(sorted(tags.items())),
            source_identity=session.source_identity,
        )
    from aipctl_sim.service_credentials import by_key_id

    key = iam.access_keys.get(access_key) if isinstance(iam.access_keys, dict) else None
    long_term = by_key_id(account, access_key) if key is None else None  # a long-term Bedrock API key
    name = getattr(key, "user_name", None) or (long_term.user_name if long_term else None)
    if name:
        user = iam.get_user(str(name))
        user_tags = tag_dict(iam.tagger.list_tags_for_resource(user.arn)["Tags"])
        return CallerIdentity(
            "IAMUser", user.arn, user.id, access_key, account, user_name=user.name, tags=tuple(sorted(user_tags.items()))
        )
    # Keys moto does not know act as its default principal (what sts:GetCallerIdentity answers).
    return CallerIdentity(
        "IAMUser", f"arn:aws:iam::{account}:user/moto", "AKIAIOSFODNN7EXAMPLE", access_key, account, user_name="moto"
    )


def tag_dict(tags: Any) -> dict[str, str]:
    """moto keeps IAM tags as a list of {Key, Value} or a dict of them, depending on how they were set."""
    entries = tags.values() if isinstance(tags, dict) else tags or []
    return {str(t["Key"]): str(t.get("Value", "")) for t in entries if isinstance(t, dict) and "Key" in t}


def _documents(identity: CallerIdentity) -> Iterator[dict[str, Any]]:
    from moto.iam.models import iam_backends

    iam = iam_backends[identity.account]["aws"]
    holders: list[Any] = []
    if identity.type == "AssumedRole" and identity.role_arn:
        try:
            holders.append(iam.get_role_by_arn(identity.role_arn))
        except Exception:  # role deleted since the session was issued
            return
    elif identity.user_name and identity.user_name != "moto":
        user = iam.get_user(identity.user_name)
        holders.append(user)
        holders.extend(g for g in iam.groups.values() if user in getattr(g, "users", []))
    for holder in holders:
        for document in getattr(holder, "policies", {}).values():
            yield _parse(document)
        for policy in getattr(holder, "managed_policies", {}).values():
            version = getattr(policy, "default_version", None)
            document = getattr(version, "document", None) or getattr(policy, "document", None)
            if document:
                yield _parse(document)


def _parse(document: Any) -> dict[str, Any]:
    return dict(json.loads(document)) if isinstance(document, str) else dict(document)


def request_context(identity: CallerIdentity, region: str) -> dict[str, str]:
    """The global condition keys of a request by ``identity``: principal ARN, Region, principal tags (role/user
    tags overlaid by session tags) and the session's source identity."""
    context = {"aws:PrincipalArn": identity.role_arn or identity.arn, "aws:RequestedRegion": region}
    context |= {f"aws:PrincipalTag/{k}": v for k, v in identity.tags}
    if identity.source_identity:
        context["aws:SourceIdentity"] = identity.source_identity
    return context


def explicit_deny(
    identity: CallerIdentity,
    actions: Iterable[str],
    resources: Iterable[str],
    context: Mapping[str, str],
    resource_tags: Mapping[str, Mapping[str, str]] | None = None,
) -> str | None:
    """The Sid (or a description) of the first Deny statement matching any action × resource, else None.

    ``resource_tags`` gives a resource's tags, seen by conditions as ``aws:ResourceTag/<key>`` for
    that resource only (an AIP's tags; foundation models carry none).
    """
    actions, resources = list(actions), list(resources)
    lowered = {k.lower(): v for k, v in context.items()}
    per_resource = {
        r: {**lowered, **{f"aws:resourcetag/{k}".lower(): v for k, v in (resource_tags or {}).get(r, {}).items()}}
        for r in resources
    }
    for document in _documents(identity):
        statements = document.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Deny":
                continue
            if not any(_action_matches(statement, a) for a in actions):
                continue
            for resource in resources:
                if _resource_matches(statement, resource) and _conditions_hold(
                    statement.get("Condition") or {}, per_resource[resource]
                ):
                    return str(statement.get("Sid") or "an explicit deny in an identity-based policy")
    return None


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "Action" in statement:
        return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in _listed(statement["Action"]))
    return not any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in _listed(statement.get("NotAction")))


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "Resource" in statement:
        return any(fnmatch.fnmatchcase(resource, p) for p in _listed(statement["Resource"]))
    return not any(fnmatch.fnmatchcase(resource, p) for p in _listed(statement.get("NotResource")))


_OPERATORS = {
    "stringequals": lambda v, ps: v in ps,
    "stringnotequals": lambda v, ps: v not in ps,
    "stringlike": lambda v, ps: any(fnmatch.fnmatchcase(v, p) for p in ps),
    "stringnotlike": lambda v, ps: not any(fnmatch.fnmatchcase(v, p) for p in ps),
    "arnequals": lambda v, ps: v in ps,
    "arnlike": lambda v, ps: any(fnmatch.fnmatchcase(v, p) for p in ps),
    "arnnotequals": lambda v, ps: v not in ps,
    "arnnotlike": lambda v, ps: not any(fnmatch.fnmatchcase(v, p) for p in ps),
}


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def _resolve(values: list[str], context: Mapping[str, str]) -> list[str] | None:
    """Policy variables (``${aws:PrincipalTag/Tenant}``) in condition values, from the request context.

    A value whose variable the request lacks is dropped (it matches nothing); None when none is left.
    """
    out = []
    for value in values:
        missing = False

        def fill(found: re.Match[str]) -> str:
            nonlocal missing
            resolved = context.get(found.group(1).lower())
            if resolved is None:
                missing = True
                return ""
            return resolved

        filled = _VARIABLE.sub(fill, value)
        if not missing:
            out.append(filled)
    return out if out or not values else None


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    for operator, entries in conditions.items():
        name = operator.lower()
        if_exists = name.endswith("ifexists")
        name = name.removesuffix("ifexists")
        for key, expected in entries.items():
            value = context.get(key.lower())
            if name == "null":
                is_null = str(expected).lower() == "true"
                if (value is None) != is_null:
                    return False
                continue
            check = _OPERATORS.get(name)
            if check is None:
                return False
            if value is None:
                # AWS: a key missing from the request matches negated operators and ...IfExists only.
                if if_exists or "not" in name:
                    continue
                return False
            resolved = _resolve(_listed(expected), context)
            if resolved is None or not check(value, resolved):
                return False
    return True


def service_allowed(
    policy: Mapping[str, Any] | None, service: str, action: str, resource: str, context: Mapping[str, str]
) -> bool:
    """Whether a resource policy (a bucket's, a role's trust) lets AWS service ``service`` do ``action``
    on ``resource``, with ``context`` (lower-case condition keys such as ``aws:sourceaccount``); an
    explicit Deny of the same wins."""
    allowed = False
    for statement in _listed_statements(policy):
        principal = statement.get("Principal")
        services = _listed(principal.get("Service")) if isinstance(principal, Mapping) else _listed(principal)
        if service not in services and "*" not in services:
            continue
        if not (_action_matches(statement, action) and _resource_matches(statement, resource)):
            continue
        if not _conditions_hold(statement.get("Condition", {}), context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _listed_statements(policy: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    statements = (policy or {}).get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)
