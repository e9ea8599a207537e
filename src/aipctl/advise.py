"""``aipctl advise`` (runbook Phase 5): idle AIPs, right-sizing, routing and prompt caching, from CloudWatch.

Per managed AIP over the window: ``Invocations``, input/output token sums, the smallest and largest input of a
call and the cache tokens (one GetMetricData batch; hourly ``Invocations`` for caching candidates). Each
recommendation only where the data supports it; savings are per 30 days, priced by the price book:

- **routing**: a geo (``eu.``, ``us.`` …) or in-Region route of a model whose ``global.`` profile costs less for
  the same tokens (recent Claude models: about 9 %); confidence medium — global routes to any Region.
- **cache**: inputs of at least 2,000 tokens, all within 25 % of one size, and no cache tokens: a cache point
  after the shared prefix (assumed: the smallest input) bills it at the cache-read price, less one write per 5
  minutes of each hour with calls; confidence low — aipctl sees sizes, not contents.
- **batch** / **flex**: at least 80 % of the calls between 22:00 and 06:00 UTC (nobody waits for them): batch
  inference at the batch price where the model has one, else the flex tier; confidence medium.
- **budget**: a caller whose month-to-date spend (CloudWatch tokens × the price book) reached 80 % of its budget.
- **wire** (:func:`wire_advice`, with ``--coverage``): callers whose calls went to models directly (CloudTrail).

- **idle**: no call in the window although the AIP is older than the window: prune it (saving
  $0 — an AIP costs nothing idle — but it is a route nobody watches).
- **right-size**: calls that are short on both sides (mean output ≤ 100 tokens, mean input ≤ 2,000)
  on a model with a cheaper sibling of the same provider (Sonnet → Haiku, Opus → Sonnet, Nova Pro →
  Nova Lite …), with at least 100 calls: the saving is the window's tokens priced at the sibling,
  per 30 days. Confidence ``medium``: aipctl sees sizes, not answer quality — try it on a tenant first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from aipctl.aws.cloudwatch import BedrockMetrics
from aipctl.aws.live import ManagedProfiles
from aipctl.aws.target import Target
from aipctl.inventory import rules
from aipctl.pricing import ModelRef, PriceBook, price_book, usd_text

#: A model's cheaper sibling of the same provider (what right-sizing suggests), by model id.
SMALLER = {
    "anthropic.claude-opus-4-6-v1": "anthropic.claude-sonnet-4-6",
    "anthropic.claude-opus-4-5-20251101-v1:0": "anthropic.claude-sonnet-4-6",
    "anthropic.claude-opus-4-1-20250805-v1:0": "anthropic.claude-sonnet-4-6",
    "anthropic.claude-sonnet-4-6": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-sonnet-4-5-20250929-v1:0": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-sonnet-4-20250514-v1:0": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "amazon.nova-premier-v1:0": "amazon.nova-pro-v1:0",
    "amazon.nova-pro-v1:0": "amazon.nova-lite-v1:0",
}
MAX_MEAN_OUTPUT = 100
MAX_MEAN_INPUT = 2000
MIN_CALLS = 100
#: Prompt caching: the smallest input of a call at least this (Bedrock caches prefixes of 1,024 tokens and more,
#: and below ~2,000 the saving hardly pays the writes), input sizes within this spread (max/min), no cache use yet.
MIN_CACHE_INPUT = 2000
MAX_INPUT_SPREAD = 1.25
#: Off-hours (UTC, from 22:00 to 06:00): a workload with at least NIGHT_SHARE of its calls there is not interactive.
NIGHT = (22, 6)
NIGHT_SHARE = 0.8
#: A caller near its budget: month-to-date spend at least this share of its monthly budget.
NEAR_BUDGET = 0.8
_METRICS = (
    ("Invocations", "Sum"),
    ("InputTokenCount", "Sum"),
    ("OutputTokenCount", "Sum"),
    ("InputTokenCount", "Minimum"),
    ("InputTokenCount", "Maximum"),
    ("CacheReadInputTokenCount", "Sum"),
    ("CacheWriteInputTokenCount", "Sum"),
)


@dataclass(frozen=True)
class Advice:
    kind: str  # idle | right-size (the kinds: right-size, cache, batch, flex, routing, idle, wire, budget)
    caller: str
    alias: str
    aip: str
    detail: str
    monthly_saving_usd: float
    confidence: str
    evidence: dict[str, Any]
    #: A tenant of the caller (``advise --ledger``): the advice rests on its own calls, not its AIP's aggregate.
    tenant: str | None = None

    @property
    def subject(self) -> str:
        """caller/alias, with the tenant when it is a tenant's advice."""
        return f"{self.caller}/{self.alias or '-'}" + (f" (tenant {self.tenant})" if self.tenant else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "caller": self.caller,
            "tenant": self.tenant,
            "alias": self.alias,
            "aip": self.aip,
            "detail": self.detail,
            "monthly_saving_usd": self.monthly_saving_usd,
            "confidence": self.confidence,
            "evidence": self.evidence,
        }


def advise(
    target: Target,
    managed: ManagedProfiles,
    since: dt.timedelta,
    now: dt.datetime,
    book: PriceBook | None = None,
    budgets: Mapping[str, float] | None = None,
) -> list[Advice]:
    """Recommendations for the inventory's AIPs over [now - since, now), biggest saving first; ``budgets``: the
    callers' monthly budgets (USD), for the ones near theirs."""
    book = book or price_book()
    profiles = list(managed)
    if not profiles:
        return []
    start = now - since
    period = max(60, int(since.total_seconds()) // 60 * 60)
    metrics = BedrockMetrics(target)
    values = metrics.values([p.profile_id for p in profiles], _METRICS, start, now, period)
    busy = [
        p.profile_id for p in profiles if sum(v for _, v in values.get((p.profile_id, "Invocations", "Sum"), [])) >= MIN_CALLS
    ]
    hourly = metrics.values(busy, [("Invocations", "Sum")], start, now, 3600) if busy else {}
    scale = Decimal(30 * 86400) / Decimal(int(since.total_seconds()))
    out: list[Advice] = _near_budget(target, managed, budgets or {}, now)
    for profile in profiles:
        caller, alias = profile.tags.get(rules.TAG_CALLER, ""), profile.tags.get(rules.TAG_ALIAS, "")
        series = {(m, st): [v for _, v in values.get((profile.profile_id, m, st), [])] for m, st in _METRICS}
        calls, tin, tout = (int(sum(series[(m, "Sum")])) for m in ("Invocations", "InputTokenCount", "OutputTokenCount"))
        cached = sum(series[("CacheReadInputTokenCount", "Sum")]) + sum(series[("CacheWriteInputTokenCount", "Sum")])
        smallest = min(series[("InputTokenCount", "Minimum")], default=0.0)
        largest = max(series[("InputTokenCount", "Maximum")], default=0.0)
        if calls == 0:
            if profile.created_at is not None and profile.created_at <= start:
                out.append(
                    Advice(
                        "idle",
                        caller,
                        alias,
                        profile.arn,
                        f"no call in {since.days} days: remove {alias!r} from {caller!r} and `apply --prune`, "
                        "or wire the caller to it",
                        0.0,
                        "high",
                        {"calls": 0, "created_at": profile.created_at.isoformat()},
                    )
                )
            continue
        ref = ModelRef.from_source(profile.tags.get(rules.TAG_SOURCE, ""), target.region)
        if not book.knows(ref) or calls < MIN_CALLS:
            continue
        usage = Usage(calls, tin, tout, int(smallest), int(largest), int(cached))
        out += [a for a in (_routing(book, ref, caller, alias, profile.arn, usage, scale),) if a]
        hours = hourly.get((profile.profile_id, "Invocations", "Sum"), [])
        usage = replace(
            usage,
            active_hours=sum(1 for _, v in hours if v > 0),
            night_calls=int(sum(v for when, v in hours if when.hour >= NIGHT[0] or when.hour < NIGHT[1])),
        )
        out += [found] if (found := _caching(book, ref, caller, alias, profile.arn, usage, scale)) else []
        out += [found] if (found := _off_hours(book, ref, caller, alias, profile.arn, usage, scale)) else []
        out += [found] if (found := _right_size(book, ref, caller, alias, profile.arn, usage, scale)) else []
    return sorted(out, key=lambda a: (-a.monthly_saving_usd, a.kind, a.caller, a.alias))


@dataclass(frozen=True)
class Usage:
    """One AIP's traffic over the window, from CloudWatch."""

    calls: int
    input_tokens: int
    output_tokens: int
    smallest_input: int  # the smallest InputTokenCount of one call
    largest_input: int
    cache_tokens: int  # cache reads and writes
    active_hours: int = 0  # hours of the window with calls
    night_calls: int = 0  # calls between NIGHT[0] and NIGHT[1] o'clock UTC


def _right_size(book: PriceBook, ref: ModelRef, caller: str, alias: str, aip: str, usage: Usage, scale: Decimal) -> Advice | None:
    """Calls short on both sides on a model with a cheaper sibling of the same provider, on the same route."""
    calls, tin, tout = usage.calls, usage.input_tokens, usage.output_tokens
    sibling_id = SMALLER.get(ref.model_id)
    if sibling_id is None or calls < MIN_CALLS:
        return None
    sibling = ModelRef(sibling_id, ref.geo, ref.region)  # the same route (in-Region, geo or global)
    if not book.knows(sibling) or tout / calls > MAX_MEAN_OUTPUT or tin / calls > MAX_MEAN_INPUT:
        return None
    now_cost = book.cost(ref, input_tokens=tin, output_tokens=tout)
    cheaper = book.cost(sibling, input_tokens=tin, output_tokens=tout)
    saving = (now_cost - cheaper) * scale
    if saving <= 0:
        return None
    return Advice(
        "right-size",
        caller,
        alias,
        aip,
        f"{calls:,} calls averaging {tin / calls:,.0f} tokens in and {tout / calls:,.0f} out on {ref.model_id}: "
        f"{sibling_id} costs {cheaper / now_cost:.0%} as much for the same tokens",
        round(float(saving), 4),
        "medium",
        {
            "calls": calls,
            "mean_input_tokens": round(tin / calls, 1),
            "mean_output_tokens": round(tout / calls, 1),
            "window_cost_usd": round(float(now_cost), 6),
            "window_cost_at_sibling_usd": round(float(cheaper), 6),
            "sibling": sibling_id,
        },
    )


def _routing(book: PriceBook, ref: ModelRef, caller: str, alias: str, aip: str, usage: Usage, scale: Decimal) -> Advice | None:
    """A geo or in-Region route where the model's ``global.`` profile is cheaper for the same tokens."""
    if ref.geo == "global":
        return None
    cross = ModelRef(ref.model_id, "global", ref.region)
    if book.rate(cross, "input") is None:
        return None
    now_cost = book.cost(ref, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    global_cost = book.cost(cross, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    saving = (now_cost - global_cost) * scale
    if saving <= 0:
        return None
    route = f"the {ref.geo}. profile" if ref.geo else "in-Region calls"
    return Advice(
        "routing",
        caller,
        alias,
        aip,
        f"{route} of {ref.model_id} cost {now_cost / global_cost - 1:.0%} more than its global. profile for the same "
        "tokens; global. routes to any commercial Region (check data-residency rules before you move)",
        round(float(saving), 4),
        "medium",
        {
            "calls": usage.calls,
            "route": ref.geo or "in-region",
            "window_cost_usd": round(float(now_cost), 6),
            "window_cost_global_usd": round(float(global_cost), 6),
            "global_profile": f"global.{ref.model_id}",
        },
    )


def _caching(book: PriceBook, ref: ModelRef, caller: str, alias: str, aip: str, usage: Usage, scale: Decimal) -> Advice | None:
    """Large inputs of nearly one size and no cache use: a prompt-cache point after the shared part would bill
    it at the cache-read price. The shared part is assumed to be the smallest input (sizes, not contents, are
    what aipctl sees: confidence low); against it count the writes: one per 5 minutes of each hour with calls."""
    if (
        usage.cache_tokens
        or usage.smallest_input < MIN_CACHE_INPUT
        or usage.largest_input > usage.smallest_input * MAX_INPUT_SPREAD
    ):
        return None
    price = book.price(ref)
    if not price.cache_read or not price.cache_write:
        return None
    prefix = usage.smallest_input
    reads = Decimal(usage.calls * prefix) * (price.input - price.cache_read) / 1_000_000
    # a write costs more than input; one write per 5 minutes of each hour with calls keeps the prefix cached
    writes = Decimal(min(usage.calls, 12 * usage.active_hours) * prefix) * (price.cache_write - price.cache_read) / 1_000_000
    saving = (reads - writes) * scale
    if saving <= 0:
        return None
    return Advice(
        "cache",
        caller,
        alias,
        aip,
        f"{usage.calls:,} calls of {usage.smallest_input:,}-{usage.largest_input:,} input tokens and no prompt caching: a "
        f"cache point after the shared prefix (up to {prefix:,} tokens) bills it at ${price.cache_read}/M instead of "
        f"${price.input}/M",
        round(float(saving), 4),
        "low",
        {
            "calls": usage.calls,
            "smallest_input_tokens": usage.smallest_input,
            "largest_input_tokens": usage.largest_input,
            "assumed_prefix_tokens": prefix,
            "cache_read_usd_per_million": float(price.cache_read),
            "input_usd_per_million": float(price.input),
        },
    )


def _off_hours(book: PriceBook, ref: ModelRef, caller: str, alias: str, aip: str, usage: Usage, scale: Decimal) -> Advice | None:
    """Calls that run at night (UTC) are not waiting users: batch inference (results within 24 hours) at the batch
    price, else the flex tier where the model serves it."""
    if usage.calls < MIN_CALLS or usage.night_calls < NIGHT_SHARE * usage.calls:
        return None
    now_cost = book.cost(ref, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    for kind, tier, how in (
        ("batch", "batch", "as a batch inference job (CreateModelInvocationJob: JSONL in S3, results within 24 h)"),
        ("flex", "flex", 'on the flex tier (serviceTier {"type": "flex"}: slower when Bedrock is busy)'),
    ):
        if book.rate(ref, "input", tier) is None:
            continue
        cheaper = book.cost(ref, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, tier=tier)
        saving = (now_cost - cheaper) * scale
        if saving <= 0:
            continue
        share = usage.night_calls / usage.calls
        return Advice(
            kind,
            caller,
            alias,
            aip,
            f"{share:.0%} of {usage.calls:,} calls ran between {NIGHT[0]}:00 and {NIGHT[1]}:00 UTC: no one waits for "
            f"them; run them {how} at {cheaper / now_cost:.0%} of the on-demand price",
            round(float(saving), 4),
            "medium",
            {
                "calls": usage.calls,
                "night_calls": usage.night_calls,
                "window_cost_usd": round(float(now_cost), 6),
                f"window_cost_{tier}_usd": round(float(cheaper), 6),
            },
        )
    return None


def month_to_date(target: Target, managed: ManagedProfiles, now: dt.datetime) -> dict[str, Decimal]:
    """Per caller, the month-to-date spend of ``managed``'s AIPs: the CloudWatch estimate, as ``guard watch
    --source cloudwatch`` reads it."""
    from aipctl.spend import SpendWindow
    from aipctl.spend.cloudwatch import CloudWatchSource

    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spent: dict[str, Decimal] = {}
    for row in CloudWatchSource(target, managed).read(SpendWindow(month, now, "month")).rows:
        if row.caller is not None and row.usd is not None:
            spent[row.caller] = spent.get(row.caller, Decimal(0)) + row.usd
    return spent


def _near_budget(target: Target, managed: ManagedProfiles, budgets: Mapping[str, float], now: dt.datetime) -> list[Advice]:
    """Callers whose month-to-date spend reached NEAR_BUDGET of their budget."""
    if not budgets:
        return []
    return budget_advice(month_to_date(target, managed, now), budgets, now)


def budget_advice(spent: Mapping[str, Decimal], budgets: Mapping[str, float], now: dt.datetime) -> list[Advice]:
    """``budget`` advice for the callers whose ``spent`` (month to date) reached NEAR_BUDGET of their budget."""
    out = []
    for caller, usd in sorted(spent.items()):
        if caller not in budgets:
            continue
        budget = Decimal(str(budgets[caller]))
        if budget and usd >= budget * Decimal(str(NEAR_BUDGET)):
            out.append(
                Advice(
                    "budget",
                    caller,
                    "",
                    "",
                    f"{usd / budget:.0%} of the ${budget:,.2f} monthly budget spent by {now:%d %b}: raise it, cap the "
                    "caller (limits:), or act on the other advice before guard watch brakes it",
                    0.0,
                    "high",
                    {"month_to_date_usd": round(float(usd), 6), "budget_usd": float(budget)},
                )
            )
    return out


BEGIN, END = "<!-- aipctl:advise:begin -->", "<!-- aipctl:advise:end -->"


def tenant_advice(
    ledger: str,
    managed: ManagedProfiles,
    since: dt.timedelta,
    now: dt.datetime,
    region: str,
    *,
    skip: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
    book: PriceBook | None = None,
) -> list[Advice]:
    """Per tenant of a caller, from the ledger's invocation records (a shared role's sessions): right-size, cache,
    batch/flex and routing where the tenant's own calls support it. ``skip``: (kind, AIP ARN) already advised for
    the whole AIP — a tenant's share of that is not news; what its aggregate hides is."""
    from aipctl.meter import open_ledger

    book = book or price_book()
    aliases = {p.arn: p.tags.get(rules.TAG_ALIAS, "") for p in managed}
    con = open_ledger(ledger)
    try:
        rows = con.execute(
            "SELECT caller, tenant, model_id, base_model, geo, count(*), sum(coalesce(input_tokens, 0)), "
            "sum(coalesce(output_tokens, 0)), min(coalesce(input_tokens, 0)), max(coalesce(input_tokens, 0)), "
            "sum(coalesce(cache_read, 0) + coalesce(cache_write, 0)), count(DISTINCT date_trunc('hour', ts)), "
            f"count(*) FILTER (WHERE hour(ts) >= {NIGHT[0]} OR hour(ts) < {NIGHT[1]}) "
            "FROM invocations WHERE tenant IS NOT NULL AND error_code IS NULL AND ts >= ? AND ts < ? "
            "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3",
            [now - since, now],
        ).fetchall()
    finally:
        con.close()
    scale = Decimal(30 * 86400) / Decimal(int(since.total_seconds()))
    out: list[Advice] = []
    for caller, tenant, aip, base_model, geo, calls, tin, tout, smallest, largest, cached, hours, night in rows:
        if int(calls) < MIN_CALLS or not base_model:
            continue
        ref = ModelRef(str(base_model), str(geo) if geo else None, region)
        if not book.knows(ref):
            continue
        usage = Usage(int(calls), int(tin), int(tout), int(smallest), int(largest), int(cached), int(hours), int(night))
        alias = aliases.get(str(aip), "")
        for rule in (_right_size, _caching, _off_hours, _routing):
            found = rule(book, ref, str(caller), alias, str(aip), usage, scale)
            if found is not None and (found.kind, str(aip)) not in skip:
                out.append(replace(found, tenant=str(tenant), detail=f"tenant {tenant}: {found.detail}"))
    return sorted(out, key=lambda a: (-a.monthly_saving_usd, a.kind, a.caller, a.tenant or ""))


def markdown_block(found: list[Advice], since: str) -> str:
    """The recommendations as a marked markdown block (``aipctl advise --markdown FILE``, idempotent)."""
    lines = [BEGIN, f"### Where to save (aipctl advise, last {since})", ""]
    if not found:
        lines.append("Nothing to advise: the data supports no recommendation.")
    else:
        lines += ["| kind | caller | model alias | monthly saving | confidence | why |", "|---|---|---|---:|---|---|"]
        for item in found:
            saving = usd_text(item.monthly_saving_usd) if item.monthly_saving_usd else "–"
            detail = item.detail.replace("|", "/")
            who = item.caller + (f" (tenant {item.tenant})" if item.tenant else "")
            lines.append(f"| {item.kind} | {who} | {item.alias or '–'} | {saving} | {item.confidence} | {detail} |")
    lines += ["", "_Maintained by `aipctl advise --markdown`; edits inside this block are replaced._", END]
    return "\n".join(lines)


def wire_advice(coverage: Any) -> list[Advice]:
    """Callers whose calls went to models directly (``aipctl verify``'s coverage): wire them to their AIPs."""
    out = []
    for row in coverage.callers:
        if row.by_principal or not row.bypass_calls:
            continue
        models = ", ".join(m for m, _ in row.bypass_models.most_common(3))
        out.append(
            Advice(
                "wire",
                row.caller,
                "",
                "",
                f"{row.bypass_calls:,} of {row.aip_calls + row.bypass_calls:,} calls went to models directly ({models}): their "
                f"cost is on no caller's line. `aipctl wire --caller {row.caller}`, then `aipctl iam render --caller "
                f"{row.caller} --attach` so nothing but its AIPs is reachable",
                0.0,
                "high",
                {"bypass_calls": row.bypass_calls, "aip_calls": row.aip_calls, "bypass_models": dict(row.bypass_models)},
            )
        )
    return out
