"""IAM service-specific credentials for Amazon Bedrock: long-term Bedrock API keys (moto has none).

``CreateServiceSpecificCredential`` (ServiceName ``bedrock.amazonaws.com``) makes a key bound to an IAM user,
returned once as ``ServiceCredentialSecret`` with a ``ServiceCredentialAlias``; sent as
``Authorization: Bearer <secret>``, its calls are that user's (``bedrock:bearerTokenType`` = ``LONG_TERM``).
List, Update (Active/Inactive), Reset and Delete are served too. IAM allows two per user per service
(LimitExceeded beyond). An explicit Deny of ``iam:CreateServiceSpecificCredential`` in the caller's identity
policies refuses it, with the condition key ``iam:ServiceSpecificCredentialServiceName``.

The IAM query protocol (form-encoded request, XML answer) is handled here for these five operations.
Sources: botocore's IAM model (shapes and error codes), the IAM user guide "API keys for Amazon Bedrock"
(``id_credentials_bedrock``) and "Service-specific credentials"; the ``ABSK`` prefix of the key is as
Bedrock's keys are reported to begin; the rest of the key is the emulator's own.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from moto.core.base_backend import BackendDict, BaseBackend

from aipctl_sim import settings
from aipctl_sim.protocol import ServiceError

OPERATIONS = frozenset(
    {
        "CreateServiceSpecificCredential",
        "ListServiceSpecificCredentials",
        "DeleteServiceSpecificCredential",
        "UpdateServiceSpecificCredential",
        "ResetServiceSpecificCredential",
    }
)
BEDROCK = "bedrock.amazonaws.com"
PER_USER = 2
KEY_PREFIX = "ABSK"
_NS = "https://iam.amazonaws.com/doc/2010-05-08/"


class IamError(ServiceError):
    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message, code=code, status=status)


@dataclass
class Credential:
    credential_id: str
    user_name: str
    service: str
    alias: str
    secret: str
    created: dt.datetime
    expires: dt.datetime | None
    status: str = "Active"
    #: The access key id this credential's calls carry inside the emulator (identity lookup).
    key_id: str = ""

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "UserName": self.user_name,
            "Status": self.status,
            "ServiceCredentialAlias": self.alias,
            "CreateDate": self.created,
            "ServiceSpecificCredentialId": self.credential_id,
            "ServiceName": self.service,
        }
        if self.expires is not None:
            out["ExpirationDate"] = self.expires
        return out


class ServiceCredentialsBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.credentials: dict[str, Credential] = {}


service_credentials_backends = BackendDict(ServiceCredentialsBackend, "iam", use_boto3_regions=False, additional_regions=["aws"])


def _backend(account: str) -> ServiceCredentialsBackend:
    return service_credentials_backends[account]["aws"]


def by_secret(secret: str) -> tuple[str, Credential] | None:
    """(account, credential) of a long-term key, wherever it was made."""
    for account, regions in service_credentials_backends.items():
        for found in regions["aws"].credentials.values():
            if found.secret == secret:
                return account, found
    return None


def by_key_id(account: str, key_id: str) -> Credential | None:
    if account not in service_credentials_backends:
        return None
    return next((c for c in _backend(account).credentials.values() if c.key_id == key_id), None)


def handle(account: str, access_key: str, operation: str, body: bytes, request_id: str) -> tuple[int, bytes]:
    """Serve one of :data:`OPERATIONS`: (HTTP status, XML body)."""
    params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    try:
        result = _OPERATIONS[operation](account, access_key, params)
    except ServiceError as exc:
        inner = f"<Error><Type>Sender</Type><Code>{exc.code}</Code><Message>{escape(exc.message)}</Message></Error>"
        return exc.status, f'<ErrorResponse xmlns="{_NS}">{inner}<RequestId>{request_id}</RequestId></ErrorResponse>'.encode()
    inner = "" if result is None else f"<{operation}Result>{_xml(result)}</{operation}Result>"
    meta = f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
    return 200, f'<{operation}Response xmlns="{_NS}">{inner}{meta}</{operation}Response>'.encode()


def _xml(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(f"<{k}>{_xml(v)}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return "".join(f"<member>{_xml(v)}</member>" for v in value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _user(account: str, name: str | None) -> str:
    from moto.iam.models import iam_backends

    if not name:
        raise IamError("ValidationError", 400, "UserName is required (the emulator does not infer it from the caller)")
    try:
        iam_backends[account]["aws"].get_user(name)
    except Exception:
        raise IamError("NoSuchEntity", 404, f"The user with name {name} cannot be found.") from None
    return name


def _authorize(account: str, access_key: str, service: str) -> None:
    from aipctl_sim.identity import explicit_deny, identity_for, request_context

    identity = identity_for(account, access_key)
    context = request_context(identity, "us-east-1") | {"iam:ServiceSpecificCredentialServiceName": service}
    denied = explicit_deny(identity, ["iam:CreateServiceSpecificCredential"], ["*"], context)
    if denied:
        raise IamError(
            "AccessDenied",
            403,
            f"User: {identity.arn} is not authorized to perform: iam:CreateServiceSpecificCredential "
            f"with an explicit deny in an identity-based policy ({denied})",
        )


def _new_secret(user: str, account: str) -> tuple[str, str]:
    alias = f"{user}-at-{account}"[:200]
    raw = f"BedrockAPIKey-{secrets.token_hex(4)}-at-{account}:{secrets.token_urlsafe(30)}"
    return alias, KEY_PREFIX + base64.b64encode(raw.encode()).decode()


def _create(account: str, access_key: str, p: dict[str, str]) -> dict[str, Any]:
    user = _user(account, p.get("UserName"))
    service = p.get("ServiceName", "")
    if service != BEDROCK:
        raise IamError("NotSupportedService", 404, f"The service {service} is not supported for service-specific credentials.")
    _authorize(account, access_key, service)
    backend = _backend(account)
    if sum(1 for c in backend.credentials.values() if c.user_name == user and c.service == service) >= PER_USER:
        raise IamError("LimitExceeded", 409, f"Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: {PER_USER}")
    age = p.get("CredentialAgeDays")
    now = settings.now().replace(microsecond=0)
    if age is not None and not (age.isdigit() and 1 <= int(age) <= 36600):
        raise IamError("ValidationError", 400, "CredentialAgeDays must be between 1 and 36600.")
    alias, secret = _new_secret(user, account)
    credential_id = "ACCA" + secrets.token_hex(8).upper()
    found = Credential(
        credential_id,
        user,
        service,
        alias,
        secret,
        now,
        now + dt.timedelta(days=int(age)) if age else None,
        key_id="ABSKID" + secrets.token_hex(7).upper(),
    )
    backend.credentials[credential_id] = found
    return {"ServiceSpecificCredential": {**found.metadata(), "ServiceCredentialSecret": secret}}


def _get(account: str, p: dict[str, str]) -> Credential:
    found = _backend(account).credentials.get(p.get("ServiceSpecificCredentialId", ""))
    if found is None or (p.get("UserName") and found.user_name != p["UserName"]):
        raise IamError("NoSuchEntity", 404, f"No such credential {p.get('ServiceSpecificCredentialId')}.")
    return found


def _list(account: str, access_key: str, p: dict[str, str]) -> dict[str, Any]:
    found = [
        c.metadata()
        for c in _backend(account).credentials.values()
        if (p.get("AllUsers") == "true" or not p.get("UserName") or c.user_name == p["UserName"])
        and (not p.get("ServiceName") or c.service == p["ServiceName"])
    ]
    return {"ServiceSpecificCredentials": found, "IsTruncated": False}


def _delete(account: str, access_key: str, p: dict[str, str]) -> None:
    del _backend(account).credentials[_get(account, p).credential_id]


def _update(account: str, access_key: str, p: dict[str, str]) -> None:
    if p.get("Status") not in ("Active", "Inactive"):
        raise IamError("ValidationError", 400, "Status must be Active or Inactive.")
    _get(account, p).status = p["Status"]


def _reset(account: str, access_key: str, p: dict[str, str]) -> dict[str, Any]:
    found = _get(account, p)
    found.alias, found.secret = _new_secret(found.user_name, account)
    return {"ServiceSpecificCredential": {**found.metadata(), "ServiceCredentialSecret": found.secret}}


_OPERATIONS = {
    "CreateServiceSpecificCredential": _create,
    "ListServiceSpecificCredentials": _list,
    "DeleteServiceSpecificCredential": _delete,
    "UpdateServiceSpecificCredential": _update,
    "ResetServiceSpecificCredential": _reset,
}
