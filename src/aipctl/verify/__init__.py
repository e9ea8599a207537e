"""Did every caller switch? Coverage of AIP use per caller, from CloudTrail (and invocation logs).

Each recorded runtime call is classified twice: by *model id* (is it one of the inventory's AIPs,
and whose?) and by *identity* (which caller's ``identities`` pattern matches the role or user that
made it?). Then, per caller:

- ``aip_calls``: calls on the caller's own AIPs (by anyone);
- ``bypass_calls``: calls by the caller's identities on something that is not one of the
  inventory's AIPs (a foundation model or a system-defined profile): cost that lands untagged;
- ``misuse_calls``: calls by the caller's identities on *another* caller's AIP;
- ``coverage`` = aip_calls / (aip_calls + bypass_calls), None when no calls were seen;
- ``denied_calls``: calls IAM refused (``errorCode`` AccessDenied…, e.g. while the caller is braked): they
  never reached a model, so they count neither as AIP nor as bypass calls; a denied call on something
  that is not the caller's AIP is a ``blocked_bypass_calls`` (the anti-bypass policy at work);
- ``failed_calls``: other errors (throttled, invalid): the route was taken, so they stay in the counts.

Identities that match no caller are reported separately (candidates for the inventory).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aipctl.aws.cloudtrail import RuntimeCall, Trail
from aipctl.aws.live import ManagedProfiles, read_live_state
from aipctl.aws.s3logs import InvocationLogs
from aipctl.aws.target import Target
from aipctl.inventory import LoadedInventory
from aipctl.progress import NO_PROGRESS, Progress


@dataclass
class Share:
    """AIP and bypass calls of one identity or tenant of a caller."""

    aip_calls: int = 0
    bypass_calls: int = 0

    @property
    def coverage(self) -> float | None:
        seen = self.aip_calls + self.bypass_calls
        return self.aip_calls / seen if seen else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "aip_calls": self.aip_calls,
            "bypass_calls": self.bypass_calls,
            "coverage": None if self.coverage is None else round(self.coverage, 4),
        }


@dataclass
class CallerCoverage:
    caller: str
    aip_calls: int = 0
    bypass_calls: int = 0
    misuse_calls: int = 0
    errors: int = 0
    denied_calls: int = 0
    blocked_bypass_calls: int = 0
    failed_calls: int = 0
    last_seen: dt.datetime | None = None
    bypass_models: Counter[str] = field(default_factory=Counter)
    #: ``attribution: principal``: billed by its IAM principals, so direct calls are its normal route.
    by_principal: bool = False
    principal_calls: int = 0
    #: Per identity (a role for its sessions, a user) and per tenant (its session name).
    identities: dict[str, Share] = field(default_factory=dict)
    tenants: dict[str, Share] = field(default_factory=dict)
    #: Organization inventories: per account × Region ("alias Region"), its AIP and bypass calls there.
    placements: dict[str, Share] = field(default_factory=dict)

    @property
    def coverage(self) -> float | None:
        if self.by_principal:
            return 1.0 if self.principal_calls or self.aip_calls else None
        seen = self.aip_calls + self.bypass_calls
        return self.aip_calls / seen if seen else None

    def verdict(self, min_coverage: float) -> str:
        if self.coverage is None:
            return "only denied calls" if self.denied_calls else "no calls seen"
        if self.by_principal:
            return "ok (billed by principal)"
        if self.coverage < min_coverage:
            return "bypassing"
        return "misusing another caller's AIP" if self.misuse_calls else "ok"

    def to_dict(self, min_coverage: float) -> dict[str, Any]:
        return {
            "caller": self.caller,
            "aip_calls": self.aip_calls,
            "bypass_calls": self.bypass_calls,
            "misuse_calls": self.misuse_calls,
            "errors": self.errors,
            "denied_calls": self.denied_calls,
            "blocked_bypass_calls": self.blocked_bypass_calls,
            "failed_calls": self.failed_calls,
            "coverage": None if self.coverage is None else round(self.coverage, 4),
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "verdict": self.verdict(min_coverage),
            "bypass_models": dict(self.bypass_models.most_common()),
            "attribution": "principal" if self.by_principal else "profile",
            "principal_calls": self.principal_calls,
            "identities": [{"identity": k, **v.to_dict()} for k, v in sorted(self.identities.items())],
            "tenants": [{"tenant": k, **v.to_dict()} for k, v in sorted(self.tenants.items())],
        } | ({"placements": [{"placement": k, **v.to_dict()} for k, v in self.placements.items()]} if self.placements else {})


@dataclass
class UnknownIdentity:
    identity: str
    calls: int = 0
    last_seen: dt.datetime | None = None
    models: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "calls": self.calls,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "models": dict(self.models.most_common()),
        }


@dataclass
class VerifyReport:
    start: dt.datetime
    end: dt.datetime
    sources: tuple[str, ...]
    callers: list[CallerCoverage]
    unknown: list[UnknownIdentity]
    calls_read: int = 0
    requests: int = 0

    def failing(self, min_coverage: float) -> list[CallerCoverage]:
        return [c for c in self.callers if c.coverage is not None and c.coverage < min_coverage]

    def to_dict(self, min_coverage: float) -> dict[str, Any]:
        return {
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "sources": list(self.sources),
            "min_coverage": min_coverage,
            "calls_read": self.calls_read,
            "requests": self.requests,
            "callers": [c.to_dict(min_coverage) for c in self.callers],
            "unknown": [u.to_dict() for u in self.unknown],
        }


#: CloudTrail's ``errorCode`` for a call IAM refused (runtime APIs answer AccessDeniedException).
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})


class Classifier:
    """Maps calls to callers by AIP (model id) and by identity (inventory patterns)."""

    def __init__(
        self,
        aip_owner: dict[str, str],
        patterns: Iterable[tuple[str, str]],
        callers: Iterable[str],
        *,
        by_principal: Iterable[str] = (),
        tenants: dict[str, set[str]] | None = None,
    ) -> None:
        self.aip_owner = aip_owner
        self.patterns = list(patterns)
        principal_only = set(by_principal)
        self.coverage = {name: CallerCoverage(name, by_principal=name in principal_only) for name in callers}
        self.tenants = tenants or {}
        self.unknown: dict[str, UnknownIdentity] = {}
        self.seen_requests: set[str] = set()
        self.count = 0

    def owner_of_identity(self, call: RuntimeCall) -> str | None:
        candidates = [a for a in (call.role_arn, call.principal_arn, _role_of(call.principal_arn)) if a]
        for caller, pattern in self.patterns:
            if any(fnmatch.fnmatchcase(arn, pattern) for arn in candidates):
                return caller
        return None

    def add(self, call: RuntimeCall) -> None:
        if call.request_id and call.request_id in self.seen_requests:
            return  # the same call from a second source
        if call.request_id:
            self.seen_requests.add(call.request_id)
        self.count += 1
        model_owner = self.aip_owner.get(call.model_id) or self.aip_owner.get(call.model_id.rsplit("/", 1)[-1])
        identity_owner = self.owner_of_identity(call)
        if call.error_code in DENIED_CODES:
            self._denied(call, model_owner, identity_owner)
        else:
            self._routed(call, model_owner, identity_owner)
        if identity_owner is None:
            who = call.role_arn or _role_of(call.principal_arn) or call.principal_arn
            unknown = self.unknown.setdefault(who, UnknownIdentity(who))
            unknown.calls += 1
            unknown.models[call.model_id] += 1
            unknown.last_seen = max(unknown.last_seen or call.time, call.time)

    def _routed(self, call: RuntimeCall, model_owner: str | None, identity_owner: str | None) -> None:
        if model_owner:
            self._touch(self.coverage[model_owner], call).aip_calls += 1
            if identity_owner and identity_owner != model_owner:
                self.coverage[identity_owner].misuse_calls += 1
            for share in self._shares(self.coverage[model_owner], call):
                share.aip_calls += 1
        elif identity_owner:
            entry = self._touch(self.coverage[identity_owner], call)
            if entry.by_principal:
                entry.principal_calls += 1
            else:
                entry.bypass_calls += 1
                entry.bypass_models[call.model_id] += 1
                for share in self._shares(entry, call):
                    share.bypass_calls += 1

    def _denied(self, call: RuntimeCall, model_owner: str | None, identity_owner: str | None) -> None:
        owner = identity_owner or model_owner
        if owner is None:
            return  # a stranger refused: nothing ran (the identity is still listed as unknown)
        entry = self._touch(self.coverage[owner], call)
        entry.denied_calls += 1
        if identity_owner and model_owner != identity_owner and not entry.by_principal:
            entry.blocked_bypass_calls += 1

    def _shares(self, entry: CallerCoverage, call: RuntimeCall) -> list[Share]:
        """The call's identity of its caller (a role for its sessions), and its tenant when the session is one."""
        who = call.role_arn or _role_of(call.principal_arn) or call.principal_arn
        shares = [entry.identities.setdefault(who, Share())]
        if ":assumed-role/" in call.principal_arn:
            session = call.principal_arn.rsplit("/", 1)[-1]
            if session in self.tenants.get(entry.caller, ()):
                shares.append(entry.tenants.setdefault(session, Share()))
        return shares

    @staticmethod
    def _touch(entry: CallerCoverage, call: RuntimeCall) -> CallerCoverage:
        entry.last_seen = max(entry.last_seen or call.time, call.time)
        if call.error_code:
            entry.errors += 1
            if call.error_code not in DENIED_CODES:
                entry.failed_calls += 1
        return entry


def _role_of(principal_arn: str) -> str | None:
    """arn:aws:sts::1:assumed-role/ROLE/session -> arn:aws:iam::1:role/ROLE."""
    if ":assumed-role/" not in principal_arn:
        return None
    head, _, rest = principal_arn.partition(":assumed-role/")
    partition_account = head.replace(":sts:", ":iam:")
    return f"{partition_account}:role/{rest.split('/')[0]}"


def log_record_call(record: dict[str, Any]) -> RuntimeCall:
    """A model invocation log record as a RuntimeCall (no session issuer: the role is derived)."""
    arn = str((record.get("identity") or {}).get("arn", ""))
    return RuntimeCall(
        time=dt.datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00")),
        event_name=str(record.get("operation", "")),
        model_id=str(record.get("modelId", "")),
        principal_arn=arn,
        role_arn=_role_of(arn),
        error_code=record.get("errorCode"),
        request_id=str(record.get("requestId", "")),
    )


def verify(
    loaded: LoadedInventory,
    target: Target,
    *,
    since: dt.timedelta,
    now: dt.datetime | None = None,
    use_cloudtrail: bool = True,
    logs_uri: str | None = None,
    managed: ManagedProfiles | None = None,
    progress: Progress = NO_PROGRESS,
) -> VerifyReport:
    """Classify every runtime call of the last ``since`` from CloudTrail and/or invocation logs."""
    end = now or dt.datetime.now(dt.timezone.utc)
    start = end - since
    mine = managed if managed is not None else read_live_state(target).managed(loaded)
    callers = loaded.inventory.callers
    classifier = Classifier(
        mine.owners(),
        [(c, p) for c, entry in callers.items() for p in entry.identities],
        callers,
        by_principal=[n for n, c in callers.items() if c.attribution == "principal"],
        tenants={n: set(c.tenants) for n, c in callers.items() if c.tenants},
    )
    sources: list[str] = []
    requests = 0
    if use_cloudtrail:
        sources.append("cloudtrail")
        trail = Trail(target)
        for call in trail.runtime_calls(start, end, progress):
            classifier.add(call)
        requests += trail.requests
    if logs_uri:
        sources.append("invocation-logs")
        logs = InvocationLogs(target)
        for key in logs.keys(logs_uri, start, end):
            for record in logs.records(logs_uri, key):
                call = log_record_call(record)
                if start <= call.time < end:
                    classifier.add(call)
    return VerifyReport(
        start,
        end,
        tuple(sources),
        list(classifier.coverage.values()),
        sorted(classifier.unknown.values(), key=lambda u: -u.calls),
        classifier.count,
        requests,
    )


def merged(parts: Sequence[tuple[str, VerifyReport]]) -> VerifyReport:
    """The reports of several accounts × Regions (labelled) as one: per caller the sums, and its calls per placement."""
    callers: dict[str, CallerCoverage] = {}
    unknown: dict[str, UnknownIdentity] = {}
    for label, report in parts:
        for found in report.callers:
            into = callers.setdefault(found.caller, CallerCoverage(found.caller, by_principal=found.by_principal))
            for name in (
                "aip_calls",
                "bypass_calls",
                "misuse_calls",
                "errors",
                "denied_calls",
                "blocked_bypass_calls",
                "failed_calls",
                "principal_calls",
            ):
                setattr(into, name, getattr(into, name) + getattr(found, name))
            into.last_seen = max(filter(None, (into.last_seen, found.last_seen)), default=None)
            into.bypass_models.update(found.bypass_models)
            for mine, theirs in ((into.identities, found.identities), (into.tenants, found.tenants)):
                for key, share in theirs.items():
                    total = mine.setdefault(key, Share())
                    total.aip_calls += share.aip_calls
                    total.bypass_calls += share.bypass_calls
            if found.aip_calls or found.bypass_calls:
                into.placements[label] = Share(found.aip_calls, found.bypass_calls)
        for identity in report.unknown:
            seen = unknown.setdefault(identity.identity, UnknownIdentity(identity.identity))
            seen.calls += identity.calls
            seen.last_seen = max(filter(None, (seen.last_seen, identity.last_seen)), default=None)
            seen.models.update(identity.models)
    first = parts[0][1]
    return VerifyReport(
        first.start,
        first.end,
        tuple(dict.fromkeys(s for _, r in parts for s in r.sources)),
        [callers[name] for name in sorted(callers)],
        sorted(unknown.values(), key=lambda u: -u.calls),
        sum(r.calls_read for _, r in parts),
        sum(r.requests for _, r in parts),
    )
