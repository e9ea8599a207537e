"""Per-tenant AWS sessions: ``sts:AssumeRole`` of the caller's shared role with the tenant's session tags.

Thousands of tenants behind one gateway role are one IAM principal; since 2026 Bedrock bills each call
to its principal and carries the principal's tags — session tags included — into Cost Explorer and CUR 2.0
(``iamPrincipal/<key>``). So each tenant gets its own role session::

    import aipctl
    session = aipctl.session_for("gateway", "acme")          # boto3.Session, cached and self-refreshing
    runtime = session.client("bedrock-runtime")              # every call billed to .../gateway/acme

The session is ``AssumeRole`` of the caller's first concrete role identity with ``RoleSessionName`` =
the tenant, ``SourceIdentity`` = the tenant (it stays through role chaining), ``Tags`` = the tenant tag
(``tenant_tag``, default ``Tenant``), ``Application``/``Owner``/``Environment``, the caller's and the
tenant's own tags, all of them ``TransitiveTagKeys``. Credentials refresh themselves before they expire
(botocore's refreshable credentials), so there is one AssumeRole per tenant per credential lifetime, and
the sessions are cached per (caller, tenant), thread-safe.

The role's trust policy must allow ``sts:AssumeRole`` and ``sts:TagSession`` (and ``sts:SetSourceIdentity``)
for the gateway's own principal: ``aipctl iam render`` writes it, with ``aws:TagKeys`` limited to the
inventory's keys. Sources: IAM user guide, "Passing session tags in AWS STS" and "Monitor and control
actions taken with assumed roles"; Bedrock user guide, "IAM principal attribution".
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aipctl._exceptions import UnknownCaller, UsageError
from aipctl.inventory import rules

if TYPE_CHECKING:
    from aipctl.inventory import LoadedInventory

#: Seconds before expiry at which botocore refreshes (its "advisory" window for assumed roles).
REFRESH_MARGIN_S = 15 * 60
DURATION_S = 3600


def tenant_tags(loaded: LoadedInventory, caller: str, tenant: str) -> dict[str, str]:
    """The session tags of ``tenant`` of ``caller``: its tenant tag, the caller's standard and own tags, its own."""
    spec = _caller(loaded, caller)
    if tenant not in spec.tenants:
        known = ", ".join(sorted(spec.tenants)) or "none"
        raise UnknownCaller(f"caller {caller!r} has no tenant {tenant!r} (tenants: {known})", hint="add it under tenants:")
    return {
        rules.TAG_APPLICATION: caller,
        rules.TAG_OWNER: spec.owner,
        rules.TAG_ENVIRONMENT: spec.environment,
        **spec.tags,
        **spec.tenants[tenant],
        spec.tenant_tag: tenant,
    }


def role_arn(loaded: LoadedInventory, caller: str, account: str, partition: str = "aws") -> str:
    """The role a caller's tenants assume: its first identity naming one role (``*`` account: this one)."""
    from aipctl.inventory.loader import tenant_role

    spec = _caller(loaded, caller)
    for pattern in spec.identities:
        name = tenant_role(pattern)
        if name is not None:
            prefix, _, rest = pattern.partition(":role/")
            owner = prefix.rsplit(":", 1)[-1]
            return f"arn:{partition}:iam::{account if owner == '*' else owner}:role/{rest}"
    raise UsageError(
        f"caller {caller!r} names no role its tenants could assume",
        hint="add an identity such as 'arn:aws:iam::*:role/gateway' (no wildcard in the role name)",
    )


def _caller(loaded: LoadedInventory, caller: str) -> Any:
    spec = loaded.inventory.callers.get(caller)
    if spec is None:
        known = ", ".join(sorted(loaded.inventory.callers)) or "none"
        raise UnknownCaller(f"unknown caller {caller!r} (known: {known})")
    return spec


class TenantSessions:
    """boto3 sessions per (caller, tenant), made from one base session; thread-safe and cached."""

    def __init__(
        self,
        loaded: LoadedInventory,
        *,
        session: Any = None,
        endpoint_url: str | None = None,
        duration_s: int = DURATION_S,
    ) -> None:
        import boto3

        self.loaded = loaded
        self.base = session or boto3.Session(region_name=loaded.inventory.region)
        self.endpoint_url = endpoint_url
        self.duration_s = duration_s
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, str], Any] = {}
        self._sts: Any = None
        self._account: str | None = None
        #: AssumeRole calls made so far (one per tenant per credential lifetime).
        self.assumed = 0

    def session(self, caller: str, tenant: str) -> Any:
        key = (caller, tenant)
        found = self._sessions.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._sessions.get(key)
            if found is None:
                tenant_tags(self.loaded, caller, tenant)  # unknown caller/tenant: a clear error, before any call
                found = self._sessions[key] = self._make(caller, tenant)
            return found

    def _client(self) -> Any:
        if self._sts is None:
            kwargs: dict[str, Any] = {"region_name": self.base.region_name or self.loaded.inventory.region}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._sts = self.base.client("sts", **kwargs)
            self._account = str(self._sts.get_caller_identity()["Account"])
        return self._sts

    def _make(self, caller: str, tenant: str) -> Any:

        sts = self._client()
        assert self._account is not None
        arn = role_arn(self.loaded, caller, self._account)
        tags = tenant_tags(self.loaded, caller, tenant)

        def assume() -> Mapping[str, str]:
            from aipctl.aws.errors import aws_call

            with aws_call("sts", "AssumeRole", arn):
                creds = sts.assume_role(
                    RoleArn=arn,
                    RoleSessionName=tenant,
                    SourceIdentity=tenant,
                    Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
                    TransitiveTagKeys=sorted(tags),
                    DurationSeconds=self.duration_s,
                )["Credentials"]
            self.assumed += 1
            return credential_metadata(creds)

        return refreshing_session(self.base, assume, region=self.base.region_name or self.loaded.inventory.region)


def credential_metadata(creds: Mapping[str, Any]) -> dict[str, str]:
    """An STS ``Credentials`` answer as botocore's refreshable-credentials metadata."""
    expiry = creds["Expiration"]
    if isinstance(expiry, dt.datetime):
        expiry = expiry.astimezone(dt.timezone.utc).isoformat()
    return {
        "access_key": creds["AccessKeyId"],
        "secret_key": creds["SecretAccessKey"],
        "token": creds["SessionToken"],
        "expiry_time": str(expiry),
    }


def refreshing_session(
    base: Any, assume: Callable[[], Mapping[str, str]], *, region: str | None = None, no_config: bool = False
) -> Any:
    """A boto3 session on credentials that ``assume`` fetches and re-fetches before they expire, sharing ``base``'s
    service-model loader (models are read once, not once per session: ~90 ms each). ``no_config``: read no AWS
    config or credentials files (the emulator's sessions)."""
    import boto3
    import botocore.session

    credentials = _tenant_credentials().create_from_metadata(metadata=assume(), refresh_using=assume, method="sts-assume-role")
    core = botocore.session.Session()
    if no_config:
        core.set_config_variable("profile", None)
        core.set_config_variable("config_file", os.devnull)
        core.set_config_variable("credentials_file", os.devnull)
    core.register_component("data_loader", base._session.get_component("data_loader"))
    core._credentials = credentials  # the documented way to hand refreshable credentials to a session
    return boto3.Session(botocore_session=core, region_name=region)


_credentials_class: Any = None


def _tenant_credentials() -> Any:
    """botocore's refreshable credentials, with the expiry check done against a monotonic deadline.

    botocore compares the expiry with the wall clock (timezone-aware datetimes) on every request it
    signs, ~16 µs; between refresh windows nothing can change, so the check is skipped until the
    advisory window opens (or the expiry is replaced). Same refresh behaviour, ~1 µs per request."""
    global _credentials_class
    if _credentials_class is None:
        from botocore.credentials import RefreshableCredentials

        class TenantCredentials(RefreshableCredentials):  # type: ignore[misc]
            _fast: tuple[object, float] | None = None

            def refresh_needed(self, refresh_in: float | None = None) -> bool:
                fast = self._fast
                if fast is not None and fast[0] is self._expiry_time and time.monotonic() < fast[1]:
                    return False
                needed = bool(super().refresh_needed(refresh_in))
                if not needed and self._expiry_time is not None:
                    window = max(self._advisory_refresh_timeout, self._mandatory_refresh_timeout, refresh_in or 0)
                    self._fast = (self._expiry_time, time.monotonic() + max(0.0, self._seconds_remaining() - window))
                return needed

        _credentials_class = TenantCredentials
    return _credentials_class


_defaults: dict[str, TenantSessions] = {}
_defaults_lock = threading.Lock()


def session_for(
    caller: str,
    tenant: str,
    *,
    inventory: str = "aipctl.yaml",
    session: Any = None,
    endpoint_url: str | None = None,
) -> Any:
    """A boto3 Session for ``tenant`` of ``caller``: its own role session with its session tags (see module doc)."""
    from aipctl.inventory import load_inventory

    with _defaults_lock:
        sessions = _defaults.get(inventory)
        if sessions is None or (session is not None and sessions.base is not session):
            loaded = load_inventory(inventory)
            sessions = _defaults[inventory] = TenantSessions(loaded, session=session, endpoint_url=endpoint_url)
    return sessions.session(caller, tenant)
