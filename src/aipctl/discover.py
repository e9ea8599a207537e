"""``aipctl discover``: who calls Bedrock in this account and Region (runbook Phase 1), and a draft inventory.

First source: CloudTrail's runtime management events (``LookupEvents``, 2 requests/s, the last 90 days).
Each call's identity is its IAM role (the issuer of an assumed-role session) or IAM user; an identity
becomes a candidate caller named after the ``Application`` tag of the AIPs it already calls, else after
its role or user name. The draft inventory lists, per caller, its identity and the models it called
(by the model or system profile id it used, or the model an AIP of it copies), with the evidence as
comments, and parses as an inventory as it is (owner and environment are placeholders to edit).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aipctl.aws.bedrock import LiveProfile
from aipctl.aws.cloudtrail import RuntimeCall
from aipctl.inventory import rules

#: The placeholders a human replaces in the draft (they parse, and they read as what they are).
OWNER_PLACEHOLDER = "unassigned"
ENVIRONMENT_PLACEHOLDER = "unknown"


@dataclass
class Identity:
    """One IAM role or user seen calling bedrock-runtime."""

    arn: str  # the role or user (not the session)
    kind: str  # role | user | other
    calls: int = 0
    errors: int = 0
    via_aip: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    models: Counter[str] = field(default_factory=Counter)  # the model each call ran (AIPs resolved to their source)
    sessions: set[str] = field(default_factory=set)
    applications: Counter[str] = field(default_factory=Counter)  # Application tags of the AIPs it called
    cost_usd: float | None = None  # metered (ledger), when a ledger was read

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    def caller_name(self) -> str:
        """The Application of the AIPs it calls most, else its role or user name, made an identifier."""
        base = self.applications.most_common(1)[0][0] if self.applications else self.name
        cleaned = re.sub(r"[^A-Za-z0-9]+", "-", base).strip("-") or "caller"
        return cleaned[:64]

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.arn,
            "kind": self.kind,
            "candidate_caller": self.caller_name(),
            "calls": self.calls,
            "errors": self.errors,
            "via_aip": self.via_aip,
            # CloudTrail's management events carry no tokens: the cost comes from the ledger (invocation logs), if read
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "aip_coverage": round(self.via_aip / self.calls, 4) if self.calls else 0.0,
            "models": dict(self.models.most_common()),
            "sessions": len(self.sessions),
            "first_seen": self.first.isoformat() if self.first else None,
            "last_seen": self.last.isoformat() if self.last else None,
        }


def _identity_of(call: RuntimeCall) -> tuple[str, str, str | None]:
    """(role or user ARN, kind, session name)."""
    if call.role_arn:
        session = call.principal_arn.rsplit("/", 1)[-1] if ":assumed-role/" in call.principal_arn else None
        return call.role_arn, "role", session
    if ":user/" in call.principal_arn:
        return call.principal_arn, "user", None
    return call.principal_arn or "(unknown principal)", "other", None


def identities(calls: Iterable[RuntimeCall], profiles: Iterable[LiveProfile]) -> list[Identity]:
    """Every identity in ``calls``, busiest first; AIP calls resolved through ``profiles`` (their tags)."""
    by_arn = {p.arn: p for p in profiles}
    found: dict[str, Identity] = {}
    for call in calls:
        arn, kind, session = _identity_of(call)
        entry = found.setdefault(arn, Identity(arn, kind))
        entry.calls += 1
        entry.errors += call.error_code is not None
        entry.first = min(entry.first or call.time, call.time)
        entry.last = max(entry.last or call.time, call.time)
        if session:
            entry.sessions.add(session)
        profile = by_arn.get(call.model_id)
        if profile is not None:
            entry.via_aip += 1
            entry.models[_model_of_profile(profile)] += 1
            if application := profile.tags.get(rules.TAG_APPLICATION):
                entry.applications[application] += 1
        else:
            entry.models[_short_model(call.model_id)] += 1
    return sorted(found.values(), key=lambda i: (-i.calls, i.arn))


def _model_of_profile(profile: LiveProfile) -> str:
    """The model an AIP copies: aipctl's source tag, else the AIP (an ARN the draft can still name)."""
    return profile.tags.get(rules.TAG_SOURCE) or profile.arn


def _short_model(model_id: str) -> str:
    """A foundation-model or system-profile ARN as its id (what an inventory's ``models:`` takes)."""
    for marker in (":foundation-model/", ":inference-profile/"):
        if marker in model_id:
            return model_id.split(marker, 1)[1]
    return model_id


def draft_inventory(found: Iterable[Identity], region: str, account: str, name: str = "discovered") -> str:
    """An inventory a human finishes: one caller per identity, its models as aliases, evidence as comments."""
    aliases: dict[str, str] = {}
    for model in sorted({m for identity in found for m in identity.models}):
        base = _short_model(model).split(".")[-1] if not model.startswith("arn:") else model.rsplit("/", 1)[-1]
        alias = re.sub(r"[^A-Za-z0-9]+", "-", base.split(":")[0]).strip("-")[:48] or "model"
        while alias in aliases.values():
            alias += "-2"
        aliases[model] = alias
    lines = [
        f"# Draft inventory written by `aipctl discover` from CloudTrail ({account}, {region}).",
        f"# Replace owner: {OWNER_PLACEHOLDER} and environment: {ENVIRONMENT_PLACEHOLDER}, check the names, then `aipctl plan`.",
        f"name: {name}",
        f"region: {region}",
        "models:",
        *(f"  {alias}: {model}" for model, alias in sorted(aliases.items(), key=lambda kv: kv[1])),
        "callers:",
    ]
    used: set[str] = set()
    for identity in found:
        caller = identity.caller_name()
        while caller in used:
            caller += "-2"
        used.add(caller)
        pattern = _pattern(identity, account)
        seen = f"{identity.first:%Y-%m-%d} .. {identity.last:%Y-%m-%d}" if identity.first and identity.last else "?"
        lines += [
            f"  # {identity.arn}: {identity.calls:,} calls ({identity.errors} failed), "
            f"{identity.via_aip:,} through AIPs, {len(identity.sessions)} session name(s), seen {seen}",
            f"  {caller}:",
            f"    owner: {OWNER_PLACEHOLDER}",
            f"    environment: {ENVIRONMENT_PLACEHOLDER}",
            f"    models: [{', '.join(aliases[m] for m, _ in identity.models.most_common())}]",
            *(
                [f'    identities: ["{pattern}"]']
                if pattern
                else ["    # (no IAM role or user to name: a root or federated call)"]
            ),
        ]
    return "\n".join(lines) + "\n"


def _pattern(identity: Identity, account: str) -> str | None:
    if identity.kind == "role":
        return f"arn:aws:iam::{account}:role/{identity.name}"
    if identity.kind == "user":
        return identity.arn
    return None


def ledger_costs(path: str, start: dt.datetime, end: dt.datetime) -> dict[str, float]:
    """Metered cost per identity (an assumed-role session counts as its role) from the ledger's priced records."""
    from aipctl.meter import open_ledger

    con = open_ledger(path)
    try:
        rows = con.execute(
            "SELECT identity_arn, sum(coalesce(cost_usd, 0)) FROM invocations WHERE ts >= ? AND ts < ? "
            "AND identity_arn IS NOT NULL GROUP BY 1",
            [start, end],
        ).fetchall()
    finally:
        con.close()
    out: dict[str, float] = {}
    for arn, usd in rows:
        key = str(arn)
        if ":assumed-role/" in key:  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION -> the role
            partition, account = key.split(":")[1], key.split(":")[4]
            key = f"arn:{partition}:iam::{account}:role/{key.split('/')[1]}"
        out[key] = out.get(key, 0.0) + float(usd)
    return out
