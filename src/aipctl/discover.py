"""``aipctl discover``: who calls Bedrock in this account and Region (runbook Phase 1), and a draft inventory.

Sources, fastest first: the metering ledger (invocation logs, with tokens and price-book cost, and
CUR 2.0 lines billed per IAM principal), else CloudTrail — runtime management events
(``LookupEvents``, 2 requests/s, the last 90 days) plus bedrock-mantle's data events from the log
files of trails that record them. Each call's identity is its IAM role (the issuer of an
assumed-role session) or IAM user; what runs as it (Lambda, ECS task, EC2 instance, SSO user, a
gateway with many session names) is read from session names, role names and the User-Agent's
``exec-env``. An identity becomes a candidate caller named after the ``Application`` tag of the AIPs
it already calls, else after its role or user name. The draft inventory lists, per caller, its
identity and the models it called (by the model or system profile id it used, or the model an AIP of
it copies), with the evidence as comments, and parses as an inventory as it is (owner and
environment are placeholders to edit); merged into an existing inventory it only appends.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aipctl._exceptions import UsageError
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
    billed_usd: float | None = None  # CUR 2.0 lines billed to it, when the ledger holds a CUR export
    input_tokens: int | None = None  # from invocation logs (CloudTrail carries no tokens)
    output_tokens: int | None = None
    routes: Counter[str] = field(default_factory=Counter)  # bedrock-runtime | bedrock-mantle
    bearer_calls: int = 0  # calls made with a Bedrock API key
    user_agents: Counter[str] = field(default_factory=Counter)  # exec-env values seen
    sources: set[str] = field(default_factory=set)

    @property
    def runs_as(self) -> str:
        """What calls as this identity, from the evidence at hand (a guess a human confirms)."""
        if self.kind == "user":
            return "iam-user"
        if self.kind != "role":
            return "other"
        envs = " ".join(self.user_agents)
        if self.name.startswith("AWSReservedSSO_"):
            return "sso-user"
        if "AWS_Lambda" in envs:
            return "lambda"
        if "AWS_ECS" in envs or (self.sessions and all(_ECS_TASK.match(s) for s in self.sessions)):
            return "ecs-task"
        if self.sessions and all(_INSTANCE.match(s) for s in self.sessions):
            return "ec2-instance"
        if len(self.sessions) >= GATEWAY_SESSIONS:
            return "gateway"
        return "role"

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
            "runs_as": self.runs_as,
            "candidate_caller": self.caller_name(),
            "calls": self.calls,
            "errors": self.errors,
            "via_aip": self.via_aip,
            # CloudTrail's management events carry no tokens: the cost comes from the ledger (invocation logs), if read
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "billed_usd": None if self.billed_usd is None else round(self.billed_usd, 6),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "routes": dict(self.routes.most_common()),
            "bearer_calls": self.bearer_calls,
            "aip_coverage": round(self.via_aip / self.calls, 4) if self.calls else 0.0,
            "models": dict(self.models.most_common()),
            "sessions": len(self.sessions),
            "first_seen": self.first.isoformat() if self.first else None,
            "last_seen": self.last.isoformat() if self.last else None,
            "sources": sorted(self.sources),
        }

    def count(self, when: dt.datetime, failed: bool, session: str | None) -> None:
        self.calls += 1
        self.errors += failed
        self.first = min(self.first or when, when)
        self.last = max(self.last or when, when)
        if session:
            self.sessions.add(session)


@dataclass
class Discovery:
    """What discover found, and what it read to find it."""

    identities: list[Identity]
    sources: tuple[str, ...]
    requests: int = 0  # LookupEvents requests
    records: int = 0  # ledger records read
    #: Whether bedrock-mantle's calls were visible (a trail records them); None: CloudTrail was not read.
    mantle_visible: bool | None = None


#: Session names: an ECS task's id (32 hex digits), an EC2 instance id.
_ECS_TASK = re.compile(r"^[0-9a-f]{32}$")
_INSTANCE = re.compile(r"^i-[0-9a-f]{8,17}$")
_EXEC_ENV = re.compile(r"exec-env/(\S+)")
#: A role assumed under this many session names or more is a shared gateway (its sessions: tenants).
GATEWAY_SESSIONS = 3


def _identity_of(call: RuntimeCall) -> tuple[str, str, str | None]:
    """(role or user ARN, kind, session name)."""
    if call.role_arn:
        session = call.principal_arn.rsplit("/", 1)[-1] if ":assumed-role/" in call.principal_arn else None
        return call.role_arn, "role", session
    if ":user/" in call.principal_arn:
        return call.principal_arn, "user", None
    return call.principal_arn or "(unknown principal)", "other", None


def identities(calls: Iterable[RuntimeCall], profiles: Iterable[LiveProfile], source: str = "cloudtrail") -> list[Identity]:
    """Every identity in ``calls``, busiest first; AIP calls resolved through ``profiles`` (their tags).
    A call on bedrock-mantle reaches no AIP, whatever its model field names."""
    by_arn = {p.arn: p for p in profiles}
    found: dict[str, Identity] = {}
    for call in calls:
        arn, kind, session = _identity_of(call)
        entry = found.setdefault(arn, Identity(arn, kind))
        entry.count(call.time, call.error_code is not None, session)
        entry.sources.add("cloudtrail-data-events" if call.on_mantle else source)
        entry.routes["bedrock-mantle" if call.on_mantle else "bedrock-runtime"] += 1
        entry.bearer_calls += call.bearer is not None
        if env := _EXEC_ENV.search(call.user_agent):
            entry.user_agents[env.group(1)] += 1
        _model_seen(entry, None if call.on_mantle else by_arn.get(call.model_id), call.model_id)
    return sorted(found.values(), key=lambda i: (-i.calls, i.arn))


def _model_seen(entry: Identity, profile: LiveProfile | None, model_id: str, calls: int = 1) -> None:
    if profile is not None:
        entry.via_aip += calls
        entry.models[_model_of_profile(profile)] += calls
        if application := profile.tags.get(rules.TAG_APPLICATION):
            entry.applications[application] += calls
    else:
        entry.models[_short_model(model_id)] += calls


def _role_key(arn: str) -> tuple[str, str, str | None]:
    """A principal ARN from a log or a bill as (identity, kind, session): a session counts as its role."""
    if ":assumed-role/" in arn:  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION -> the role
        partition, account = arn.split(":")[1], arn.split(":")[4]
        parts = arn.split("/")
        return f"arn:{partition}:iam::{account}:role/{parts[1]}", "role", parts[2] if len(parts) > 2 else None
    if ":user/" in arn:
        return arn, "user", None
    return arn, "other", None


def ledger_identities(
    path: str, start: dt.datetime, end: dt.datetime, profiles: Iterable[LiveProfile]
) -> tuple[list[Identity], int]:
    """Identities from the ledger: its invocation-log records in [start, end) (calls, tokens, price-book cost per
    identity, model and session), and the CUR 2.0 lines billed to each IAM principal; and the records read."""
    from aipctl.meter import open_ledger

    by_arn = {p.arn: p for p in profiles}
    found: dict[str, Identity] = {}
    con = open_ledger(path)
    try:
        rows = con.execute(
            "SELECT identity_arn, model_id, count(*), count(error_code), min(ts), max(ts), sum(coalesce(input_tokens, 0)), "
            "sum(coalesce(output_tokens, 0)), sum(coalesce(cost_usd, 0)) FROM invocations "
            "WHERE ts >= ? AND ts < ? AND identity_arn IS NOT NULL GROUP BY 1, 2",
            [start, end],
        ).fetchall()
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        billed = (
            con.execute(
                "SELECT principal_arn, sum(coalesce(unblended_cost, 0)) FROM bill_lines "
                "WHERE usage_start >= ? AND usage_start < ? AND principal_arn IS NOT NULL GROUP BY 1",
                [start, end],
            ).fetchall()
            if "bill_lines" in tables
            else []
        )
    finally:
        con.close()
    records = 0
    for principal, model_id, calls, errors, first, last, tokens_in, tokens_out, usd in rows:
        arn, kind, session = _role_key(str(principal))
        entry = found.setdefault(arn, Identity(arn, kind, cost_usd=0.0, input_tokens=0, output_tokens=0))
        entry.sources.add("invocation-logs")
        entry.calls += int(calls)
        entry.errors += int(errors)
        entry.first = min(entry.first or first, first)
        entry.last = max(entry.last or last, last)
        if session:
            entry.sessions.add(session)
        entry.input_tokens = (entry.input_tokens or 0) + int(tokens_in)
        entry.output_tokens = (entry.output_tokens or 0) + int(tokens_out)
        entry.cost_usd = (entry.cost_usd or 0.0) + float(usd)
        entry.routes["bedrock-runtime"] += int(calls)
        _model_seen(entry, by_arn.get(str(model_id)), str(model_id), int(calls))
        records += int(calls)
    for principal, usd in billed:
        arn, kind, session = _role_key(str(principal))
        entry = found.setdefault(arn, Identity(arn, kind))
        entry.sources.add("cur")
        entry.billed_usd = (entry.billed_usd or 0.0) + float(usd)
        if session:
            entry.sessions.add(session)
    return sorted(found.values(), key=lambda i: (-i.calls, -(i.billed_usd or 0), i.arn)), records


def ledger_has_records(path: str, start: dt.datetime, end: dt.datetime) -> bool:
    """Whether the ledger holds invocation records in [start, end) (then it is discover's faster source)."""
    from aipctl.meter import open_ledger

    con = open_ledger(path)
    try:
        row = con.execute("SELECT count(*) FROM invocations WHERE ts >= ? AND ts < ?", [start, end]).fetchone()
    finally:
        con.close()
    return bool(row and row[0])


def _model_of_profile(profile: LiveProfile) -> str:
    """The model an AIP copies: aipctl's source tag, else the AIP (an ARN the draft can still name)."""
    return profile.tags.get(rules.TAG_SOURCE) or profile.arn


def _short_model(model_id: str) -> str:
    """A foundation-model or system-profile ARN as its id (what an inventory's ``models:`` takes)."""
    for marker in (":foundation-model/", ":inference-profile/"):
        if marker in model_id:
            return model_id.split(marker, 1)[1]
    return model_id


def _aliases(models: Iterable[str], taken: dict[str, str] | None = None) -> dict[str, str]:
    """model -> alias for ``models``; ``taken`` (model -> alias of an inventory) is reused and never collided with."""
    known = dict(taken or {})
    used = set(known.values())
    out: dict[str, str] = {}
    for model in sorted(set(models)):
        if model in known:
            out[model] = known[model]
            continue
        base = _short_model(model).split(".")[-1] if not model.startswith("arn:") else model.rsplit("/", 1)[-1]
        alias = re.sub(r"[^A-Za-z0-9]+", "-", base.split(":")[0]).strip("-")[:48] or "model"
        while alias in used:
            alias += "-2"
        used.add(alias)
        out[model] = alias
    return out


#: At most this many session names become a gateway's tenants in a draft (the rest: see the JSON).
DRAFT_TENANTS = 50


def _caller_lines(identity: Identity, caller: str, aliases: dict[str, str], account: str) -> list[str]:
    """One caller of a draft (two-space indents under ``callers:``), its evidence as a comment above it."""
    from aipctl.inventory.loader import tenant_name_problem

    pattern = _pattern(identity, account)
    seen = f"{identity.first:%Y-%m-%d} .. {identity.last:%Y-%m-%d}" if identity.first and identity.last else "?"
    evidence = (
        f"  # {identity.arn} ({identity.runs_as}): {identity.calls:,} calls ({identity.errors} failed), "
        f"{identity.via_aip:,} through AIPs, {len(identity.sessions)} session name(s), seen {seen}"
    )
    if identity.cost_usd is not None or identity.billed_usd is not None:
        money = [f"metered ${identity.cost_usd:,.2f}" if identity.cost_usd is not None else ""]
        money.append(f"billed ${identity.billed_usd:,.2f}" if identity.billed_usd is not None else "")
        evidence += "; " + ", ".join(m for m in money if m)
    if identity.routes.get("bedrock-mantle"):
        evidence += f"; {identity.routes['bedrock-mantle']:,} on bedrock-mantle"
    lines = [
        evidence,
        f"  {caller}:",
        f"    owner: {OWNER_PLACEHOLDER}",
        f"    environment: {ENVIRONMENT_PLACEHOLDER}",
        f"    models: [{', '.join(aliases[m] for m, _ in identity.models.most_common())}]",
        *([f'    identities: ["{pattern}"]'] if pattern else ["    # (no IAM role or user to name: a root or federated call)"]),
    ]
    tenants = sorted(t for t in identity.sessions if tenant_name_problem(t) is None)[:DRAFT_TENANTS]
    if identity.runs_as == "gateway" and pattern and tenants:
        lines += [
            "    # a shared role under many session names: its sessions as tenants (billed by principal)",
            "    attribution: both",
            f"    tenants: [{', '.join(tenants)}]",
        ]
    return lines


def _named(found: Iterable[Identity], used: set[str]) -> list[tuple[Identity, str]]:
    out = []
    for identity in found:
        caller = identity.caller_name()
        while caller in used:
            caller += "-2"
        used.add(caller)
        out.append((identity, caller))
    return out


def draft_inventory(found: Iterable[Identity], region: str, account: str, name: str = "discovered") -> str:
    """An inventory a human finishes: one caller per identity, its models as aliases, evidence as comments."""
    found = [i for i in found if i.models]  # billed only (CUR): no model to give it
    aliases = _aliases(m for identity in found for m in identity.models)
    lines = [
        f"# Draft inventory written by `aipctl discover` ({account}, {region}).",
        f"# Replace owner: {OWNER_PLACEHOLDER} and environment: {ENVIRONMENT_PLACEHOLDER}, check the names, then `aipctl plan`.",
        f"name: {name}",
        f"region: {region}",
        "models:",
        *(f"  {alias}: {model}" for model, alias in sorted(aliases.items(), key=lambda kv: kv[1])),
        "callers:",
    ]
    for identity, caller in _named(found, set()):
        lines += _caller_lines(identity, caller, aliases, account)
    return "\n".join(lines) + "\n"


_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:(.*)$")


def _block(lines: list[str], key: str, path: str) -> tuple[int, int, str]:
    """(the line of ``key:``, the line after its block's last indented line, its children's indent)."""
    starts = [(i, m) for i, line in enumerate(lines) if (m := _TOP_KEY.match(line))]
    for n, (index, match) in enumerate(starts):
        if match.group(1) != key:
            continue
        if match.group(2).split("#", 1)[0].strip():
            raise UsageError(
                f"{path}:{index + 1}: '{key}:' is written inline; discover appends to block mappings only",
                hint=f"write {key} as one entry per line, or --force to replace the file",
            )
        stop = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        body = [i for i in range(index + 1, stop) if lines[i].strip() and lines[i][0] in " \t"]
        entries = [lines[i] for i in body if not lines[i].lstrip().startswith("#")]
        indent = (entries[0][: len(entries[0]) - len(entries[0].lstrip())]) if entries else "  "
        return index, (body[-1] + 1 if body else index + 1), indent
    raise UsageError(f"{path}: no top-level '{key}:' to merge into", hint="--force replaces the file with a new draft")


def _reindent(line: str, unit: str) -> str:
    """A draft line (two spaces a level) at the file's own indent ``unit`` a level."""
    stripped = line.lstrip(" ")
    return unit * ((len(line) - len(stripped)) // 2) + stripped


def merge_draft(existing: str, path: str, found: Iterable[Identity], region: str, account: str) -> tuple[str, list[str]]:
    """``existing`` with a caller appended for each identity no caller of it names yet (and the model aliases they
    need): nothing a human wrote is rewritten — lines, comments and order stay. Returns (text, callers added)."""
    from aipctl.inventory import parse_inventory

    loaded = parse_inventory(existing, path)
    inventory = loaded.inventory
    if inventory.region and inventory.region != region:
        raise UsageError(
            f"{path} is an inventory of {inventory.region}; discover read {region}",
            hint=f"discover with --region {inventory.region}, or --write another file",
        )
    known = [(name, pattern) for name, caller in inventory.callers.items() for pattern in caller.identities]
    new = [i for i in found if i.models and not any(fnmatch.fnmatchcase(i.arn, p) for _, p in known)]
    if not new:
        return existing, []
    by_model = {model_id: alias for alias, model_id in inventory.models.items()}
    aliases = _aliases((m for i in new for m in i.models), by_model)
    added_models = [(alias, model) for model, alias in sorted(aliases.items(), key=lambda kv: kv[1]) if model not in by_model]
    named = _named(new, set(inventory.callers))
    lines = existing.splitlines()
    _, models_end, model_indent = _block(lines, "models", path)
    _, callers_end, caller_indent = _block(lines, "callers", path)
    caller_text = [
        _reindent(line, caller_indent) for identity, caller in named for line in _caller_lines(identity, caller, aliases, account)
    ]
    model_text = [f"{model_indent}{alias}: {model}" for alias, model in added_models]
    stamp = f"{caller_indent}# added by `aipctl discover` on {dt.date.today().isoformat()}"
    edits = sorted([(models_end, model_text), (callers_end, [stamp, *caller_text])], key=lambda e: -e[0])
    for at, text in edits:
        if text:
            lines[at:at] = text
    merged = "\n".join(lines) + "\n"
    after = parse_inventory(merged, path).inventory  # the merge must leave an inventory, and the old callers as they were
    unchanged = all(after.callers[n].model_dump() == c.model_dump() for n, c in inventory.callers.items())
    if not unchanged or any(after.models.get(a) != m for a, m in inventory.models.items()):
        raise UsageError(f"merging into {path} would change what it says; nothing was written", hint="--force replaces it")
    return merged, [caller for _, caller in named]


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
        key = _role_key(str(arn))[0]
        out[key] = out.get(key, 0.0) + float(usd)
    return out
