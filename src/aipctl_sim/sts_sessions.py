"""STS session tags and source identity, which moto's AssumeRole accepts and forgets.

moto serves ``AssumeRole``; this module checks the request's ``Tags``, ``TransitiveTagKeys`` and
``SourceIdentity`` first (as STS does) and, once moto has answered, keeps them on the session, so
the caller's principal tags (role tags overlaid by session tags) reach billing as ``iamPrincipal/<key>``
cost-allocation tags and the source identity reaches CloudTrail's ``sessionContext``. Role chaining
follows AWS: transitive session tags and the source identity of the calling session carry over.

Sources: IAM user guide, "Passing session tags in AWS STS" (at most 50 tags, keys up to 128 and
values up to 256 characters, keys case-insensitive, session tags override role tags of the same key,
transitive tags persist through role chaining) and "Monitor and control actions taken with assumed
roles" (SourceIdentity: 2–64 characters of ``[\\w+=,.@-]``, not starting with ``aws:``, fixed once set).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aipctl_sim.protocol import ServiceError

MAX_TAGS = 50
_SOURCE_IDENTITY = re.compile(r"^[\w+=,.@-]{2,64}$")


class StsValidationError(ServiceError):
    code, status = "ValidationError", 400


@dataclass(frozen=True)
class SessionAttributes:
    tags: Mapping[str, str] = field(default_factory=dict)
    transitive: frozenset[str] = frozenset()
    source_identity: str | None = None


def requested(body: bytes) -> SessionAttributes:
    """The session attributes an AssumeRole request asks for; raises what STS answers when invalid."""
    params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    tags: dict[str, str] = {}
    index = 1
    while f"Tags.member.{index}.Key" in params:
        key, value = params[f"Tags.member.{index}.Key"], params.get(f"Tags.member.{index}.Value", "")
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise StsValidationError(
                f"1 validation error detected: Value '{key}' at 'tags.{index}.member.key' failed to satisfy constraint: "
                "Member must have length less than or equal to 128"
            )
        if key.lower() in {k.lower() for k in tags}:
            raise StsValidationError("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        tags[key] = value
        index += 1
    if len(tags) > MAX_TAGS:
        raise StsValidationError(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_TAGS}"
        )
    transitive = set()
    index = 1
    while f"TransitiveTagKeys.member.{index}" in params:
        transitive.add(params[f"TransitiveTagKeys.member.{index}"])
        index += 1
    unknown = sorted(k for k in transitive if k.lower() not in {t.lower() for t in tags})
    if unknown:
        raise StsValidationError(f"The specified transitive tag key must be included in the requested tags: {unknown[0]}")
    source = params.get("SourceIdentity")
    if source is not None and (not _SOURCE_IDENTITY.match(source) or source.lower().startswith("aws:")):
        raise StsValidationError(
            f"1 validation error detected: Value '{source}' at 'sourceIdentity' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )
    return SessionAttributes(tags, frozenset(transitive), source)


def of_session(assumed: object) -> SessionAttributes:
    attributes = getattr(assumed, "aipctl_session", None)
    return attributes if isinstance(attributes, SessionAttributes) else SessionAttributes()


def remember(caller_account: str, caller_access_key: str, asked: SessionAttributes, response: bytes) -> bytes:
    """After moto answered: keep the attributes on the new session; returns the answer with SourceIdentity."""
    from moto.sts.models import sts_backends

    key = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", response)
    arn = re.search(rb"<Arn>arn:[\w-]+:sts::(\d{12}):assumed-role/", response)
    if key is None or arn is None:
        return response
    session: Any = sts_backends[arn.group(1).decode()]["aws"].get_assumed_role_from_access_key(key.group(1).decode())
    if session is None:
        return response
    parent = of_session(sts_backends[caller_account]["aws"].get_assumed_role_from_access_key(caller_access_key))
    tags = {k: v for k, v in parent.tags.items() if k in parent.transitive}  # chaining keeps transitive tags
    tags.update(asked.tags)
    source = parent.source_identity or asked.source_identity  # fixed once set
    session.aipctl_session = SessionAttributes(tags, parent.transitive | asked.transitive, source)
    if source and b"<SourceIdentity>" not in response:
        element = f"<SourceIdentity>{source}</SourceIdentity></AssumeRoleResult>".encode()
        response = response.replace(b"</AssumeRoleResult>", element)
    return response
