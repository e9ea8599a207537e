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
- ``failed_calls``: other errors (throttled, invalid): the route was taken, so they stay in the counts;
- ``mantle_calls``: calls by the caller's identities on bedrock-mantle (CloudTrail data events, read from
  the log files of trails that select them): they reach no AIP and no invocation log, so they are bypass
  calls whatever model they name — for ``attribution: principal`` callers too;
- ``bearer_token_calls``: calls made with a Bedrock API key, by type (SHORT_TERM, LONG_TERM); every identity
  seen with one is listed in the report's ``bearer_tokens``.

Identities that match no caller are reported separately (candidates for the inventory).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aipctl.aws.cloudtrail import DataTrail, RuntimeCall, Trail
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
    mantle_calls: int = 0
    bearer_token_calls: Counter[str] = field(default_factory=Counter)

    @property
    def coverage(self) -> float | None:
        ok = self.aip_calls + (self.principal_calls if self.by_principal else 0)
        seen = ok + self.bypass_calls
        return ok / seen if seen else None

    def verdict(self, min_coverage: float) -> str:
        if self.coverage is None:
            return "only denied calls" if self.denied_calls else "no calls seen"
        if self.coverage < min_coverage:
            return "bypassing"
        if self.by_principal:
            return "ok (billed by principal)"
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
            "mantle_calls": self.mantle_calls,
            "bearer_token_calls": dict(sorted(self.bearer_token_calls.items())),
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
class BearerUse:
    """Calls one identity made with Bedrock API keys (``Authorization: Bearer``), by key type and endpoint."""

    identity: str
    caller: str | None
    types: Counter[str] = field(default_factory=Counter)
    endpoints: Counter[str] = field(default_factory=Counter)
    denied_calls: int = 0
    last_seen: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "caller": self.caller,
            "calls": sum(self.types.values()),
            "short_term_calls": self.types.get("SHORT_TERM", 0),
            "long_term_calls": self.types.get("LONG_TERM", 0),
            "types": dict(sorted(self.types.items())),
            "endpoints": dict(sorted(self.endpoints.items())),
            "denied_calls": self.denied_calls,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
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
    bearer_tokens: list[BearerUse] = field(default_factory=list)
    #: The trails that apply here; the ones logging bedrock-mantle's data events were read.
    trails: list[DataTrail] = field(default_factory=list)
    #: Whether bedrock-mantle's calls were visible (a logging trail selects its data events); None: not looked at.
    mantle_visible: bool | None = None
    #: Why the trails could not be listed (then ``mantle_visible`` is None).
    mantle_error: str | None = None

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
            "bearer_tokens": [b.to_dict() for b in self.bearer_tokens],
            "mantle": {
                "visible": self.mantle_visible,
                "error": self.mantle_error,
                "calls": sum(c.mantle_calls for c in self.callers),
                "trails": [t.to_dict() for t in self.trails],
            },
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
        self.bearer: dict[str, BearerUse] = {}
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
        # bedrock-mantle reaches no AIP, whatever its model field says
        model_owner = None if call.on_mantle else self._aip_owner(call.model_id)
        identity_owner = self.owner_of_identity(call)
        denied = call.error_code in DENIED_CODES
        if denied:
            self._denied(call, model_owner, identity_owner)
        else:
            self._routed(call, model_owner, identity_owner)
        who = call.role_arn or _role_of(call.principal_arn) or call.principal_arn
        if call.bearer:
            use = self.bearer.setdefault(who, BearerUse(who, identity_owner))
            use.types[call.bearer] += 1
            use.endpoints["bedrock-mantle" if call.on_mantle else "bedrock-runtime"] += 1
            use.denied_calls += denied
            use.last_seen = max(use.last_seen or call.time, call.time)
            if identity_owner:
                self.coverage[identity_owner].bearer_token_calls[call.bearer] += 1
        if identity_owner is None:
            unknown = self.unknown.setdefault(who, UnknownIdentity(who))
            unknown.calls += 1
            unknown.models[route_of(call)] += 1
            unknown.last_seen = max(unknown.last_seen or call.time, call.time)

    def _aip_owner(self, model_id: str) -> str | None:
        return self.aip_owner.get(model_id) or self.aip_owner.get(model_id.rsplit("/", 1)[-1])

    def _routed(self, call: RuntimeCall, model_owner: str | None, identity_owner: str | None) -> None:
        if model_owner:
            self._touch(self.coverage[model_owner], call).aip_calls += 1
            if identity_owner and identity_owner != model_owner:
                self.coverage[identity_owner].misuse_calls += 1
            for share in self._shares(self.coverage[model_owner], call):
                share.aip_calls += 1
        elif identity_owner:
            entry = self._touch(self.coverage[identity_owner], call)
            entry.mantle_calls += call.on_mantle
            if entry.by_principal and not call.on_mantle:
                entry.principal_calls += 1
            else:
                entry.bypass_calls += 1
                entry.bypass_models[route_of(call)] += 1
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


def route_of(call: RuntimeCall) -> str:
    """What a call ran on, as reports name it: the model id, prefixed ``bedrock-mantle:`` on that endpoint."""
    return f"bedrock-mantle:{call.model_id}" if call.on_mantle else call.model_id


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
    trails: list[DataTrail] = []
    mantle_visible: bool | None = None
    mantle_error: str | None = None
    if use_cloudtrail:
        sources.append("cloudtrail")
        trail = Trail(target)
        for call in trail.runtime_calls(start, end, progress):
            classifier.add(call)
        requests += trail.requests
        readable, mantle_error = trail.readable_data_trails()
        trails = readable
        mantle_visible = bool(readable) if mantle_error is None else None
        for data_trail in readable:
            if "cloudtrail-data-events" not in sources:
                sources.append("cloudtrail-data-events")
            for call in trail.mantle_calls(data_trail, start, end, progress):
                classifier.add(call)
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
        sorted(classifier.bearer.values(), key=lambda b: (-sum(b.types.values()), b.identity)),
        trails,
        mantle_visible,
        mantle_error,
    )


def merged(parts: Sequence[tuple[str, VerifyReport]]) -> VerifyReport:
    """The reports of several accounts × Regions (labelled) as one: per caller the sums, and its calls per placement."""
    callers: dict[str, CallerCoverage] = {}
    unknown: dict[str, UnknownIdentity] = {}
    bearer: dict[str, BearerUse] = {}
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
                "mantle_calls",
            ):
                setattr(into, name, getattr(into, name) + getattr(found, name))
            into.last_seen = max(filter(None, (into.last_seen, found.last_seen)), default=None)
            into.bypass_models.update(found.bypass_models)
            into.bearer_token_calls.update(found.bearer_token_calls)
            for mine, theirs in ((into.identities, found.identities), (into.tenants, found.tenants)):
                for key, share in theirs.items():
                    total = mine.setdefault(key, Share())
                    total.aip_calls += share.aip_calls
                    total.bypass_calls += share.bypass_calls
            if found.aip_calls or found.bypass_calls:
                into.placements[label] = Share(found.aip_calls, found.bypass_calls)
        for use in report.bearer_tokens:
            total_use = bearer.setdefault(use.identity, BearerUse(use.identity, use.caller))
            total_use.types.update(use.types)
            total_use.endpoints.update(use.endpoints)
            total_use.denied_calls += use.denied_calls
            total_use.last_seen = max(filter(None, (total_use.last_seen, use.last_seen)), default=None)
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
        sorted(bearer.values(), key=lambda b: (-sum(b.types.values()), b.identity)),
        list({t.arn: t for _, r in parts for t in r.trails}.values()),
        None if all(r.mantle_visible is None for _, r in parts) else all(r.mantle_visible for _, r in parts),
        "; ".join(f"{label}: {r.mantle_error}" for label, r in parts if r.mantle_error) or None,
    )
