"""What did each caller cost? Cost Explorer by caller tag, CloudWatch per AIP, and an estimate.

Three views of the same usage, side by side per caller:

- **billed** — Cost Explorer, ``GetCostAndUsage`` grouped by the caller tag (``Application``),
  DAILY, filtered to Bedrock's services; usage without the tag is the *untagged remainder*.
- **metrics** — CloudWatch ``AWS/Bedrock`` per AIP (``ModelId`` = the AIP's short id):
  invocations, tokens, latency percentiles, throttles, errors.
- **estimated** — tokens from CloudWatch × the price of the AIP's base model (``aipctl.pricing``),
  available before Cost Explorer has the day. ``deviation`` compares estimate and bill on the days
  Cost Explorer already has in full.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aipctl.aws.ce import CostAllocationTags, CostExplorer
from aipctl.aws.cloudwatch import TOKEN_METRICS, BedrockMetrics
from aipctl.aws.target import Target
from aipctl.inventory import LoadedInventory, rules
from aipctl.pricing import ModelRef, price_book

CALLER_TAG = rules.TAG_APPLICATION
BILLING_LAG = dt.timedelta(hours=24)
#: Once for the whole period.
PERIOD_METRICS = (
    ("Invocations", "Sum"),
    ("InvocationThrottles", "Sum"),
    ("InvocationClientErrors", "Sum"),
    ("InvocationServerErrors", "Sum"),
    ("InvocationLatency", "p50"),
    ("InvocationLatency", "p90"),
    ("InvocationLatency", "p99"),
)


@dataclass
class CallerCost:
    caller: str
    billed: Decimal = Decimal(0)
    billed_by_day: dict[str, Decimal] = field(default_factory=dict)
    estimated: Decimal = Decimal(0)
    estimated_by_day: dict[str, Decimal] = field(default_factory=dict)
    invocations: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    throttles: int = 0
    errors: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    second_key: dict[str, Decimal] = field(default_factory=dict)
    deviation: float | None = None
    metered: Decimal | None = None  # from the ledger (aipctl meter), None when no ledger was read
    metered_by_day: dict[str, Decimal] = field(default_factory=dict)
    metered_calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "caller": self.caller,
            "billed_usd": float(round(self.billed, 6)),
            "estimated_usd": float(round(self.estimated, 6)),
            "deviation": self.deviation,
            "billed_by_day": {d: float(round(v, 6)) for d, v in sorted(self.billed_by_day.items())},
            "estimated_by_day": {d: float(round(v, 6)) for d, v in sorted(self.estimated_by_day.items())},
            "invocations": self.invocations,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "throttles": self.throttles,
            "errors": self.errors,
            "latency_ms": self.latency_ms,
            "by_second_key": {k: float(round(v, 6)) for k, v in sorted(self.second_key.items())},
            "metered_usd": None if self.metered is None else float(round(self.metered, 6)),
            "metered_by_day": {d: float(round(v, 6)) for d, v in sorted(self.metered_by_day.items())},
            "metered_calls": self.metered_calls,
        }


@dataclass
class CostReport:
    start: dt.date
    end: dt.date  # exclusive
    callers: list[CallerCost]
    untagged: Decimal
    other_tagged: dict[str, Decimal]
    total_billed: Decimal
    services: list[str]
    complete_until: dt.date
    warnings: list[str]
    second_key: str | None = None
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)
    brakes: dict[str, dict[str, str]] = field(default_factory=dict)  # braked callers: at, reason
    ledger: str | None = None  # the ledger file read as the third source
    metered_other: dict[str, float] = field(default_factory=dict)  # ledger callers outside the inventory

    def top(self, n: int) -> list[CallerCost]:
        return sorted(self.callers, key=lambda c: (c.billed or c.estimated, c.estimated), reverse=True)[:n]

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        total = self.total_billed
        return {
            "period": {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "complete_until": self.complete_until.isoformat(),
            },
            "callers": [c.to_dict() for c in (self.top(top) if top else self.top(len(self.callers)))],
            "untagged_usd": float(round(self.untagged, 6)),
            "untagged_share": float(round(self.untagged / total, 4)) if total else 0.0,
            "other_tagged_usd": {k: float(round(v, 6)) for k, v in sorted(self.other_tagged.items())},
            "total_billed_usd": float(round(total, 6)),
            "total_estimated_usd": float(round(sum((c.estimated for c in self.callers), Decimal(0)), 6)),
            "services": self.services,
            "second_key": self.second_key,
            "warnings": self.warnings,
            "coverage": self.coverage,
            "brakes": self.brakes,
            "sources": ["cost_explorer", "cloudwatch", *(["ledger"] if self.ledger else [])],
            "ledger": self.ledger,
            "total_metered_usd": float(round(sum((c.metered or Decimal(0) for c in self.callers), Decimal(0)), 6))
            if self.ledger
            else None,
            "metered_other_usd": self.metered_other,
        }


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


def build_report(
    loaded: LoadedInventory,
    target: Target,
    *,
    since: dt.timedelta,
    now: dt.datetime,
    second_key: str | None = None,
    profiles: Iterable[Any] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> CostReport:
    """Gather the three views for the inventory's callers over the last ``since`` (whole UTC days)."""
    from aipctl.plan.reconcile import read_live_state

    step = on_step or (lambda _text: None)
    end = now.date() + dt.timedelta(days=1)
    start = (now - since).date()
    warnings: list[str] = []
    live = list(profiles) if profiles is not None else list(read_live_state(target, []).profiles)
    aips = [
        p
        for p in live
        if p.tags.get(rules.TAG_MANAGED) == loaded.inventory.name and p.tags.get(rules.TAG_CALLER) in loaded.inventory.callers
    ]
    costs = {name: CallerCost(name) for name in loaded.inventory.callers}

    step("Cost Explorer")
    explorer = CostExplorer(target)
    services = explorer.services_matching(start.isoformat(), end.isoformat(), "Bedrock")
    untagged = Decimal(0)
    other: dict[str, Decimal] = defaultdict(lambda: Decimal(0))
    total = Decimal(0)
    complete_until = (now - BILLING_LAG).date()
    if services:
        group_by = [{"Type": "TAG", "Key": CALLER_TAG}] + ([{"Type": "TAG", "Key": second_key}] if second_key else [])
        results = explorer.cost_and_usage(
            TimePeriod={"Start": start.isoformat(), "End": end.isoformat()},
            Granularity="DAILY",
            Metrics=["UnblendedCost"],
            GroupBy=group_by,
            Filter={"Dimensions": {"Key": "SERVICE", "Values": services}},
        )
        for period in results:
            day = period["TimePeriod"]["Start"]
            for group in period.get("Groups", []):
                amount = Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
                caller = group["Keys"][0].split("$", 1)[1]
                total += amount
                if not caller:
                    untagged += amount
                elif caller in costs:
                    entry = costs[caller]
                    entry.billed += amount
                    entry.billed_by_day[day] = entry.billed_by_day.get(day, Decimal(0)) + amount
                    if second_key:
                        value = group["Keys"][1].split("$", 1)[1] or "(untagged)"
                        entry.second_key[value] = entry.second_key.get(value, Decimal(0)) + amount
                else:
                    other[caller] += amount
    warnings += _tag_warnings(target, start, now)
    if complete_until < end - dt.timedelta(days=1):
        warnings.append(
            f"Cost Explorer lags about a day: days after {complete_until.isoformat()} are incomplete (the estimate covers them)"
        )

    step("CloudWatch")
    book = price_book()
    unpriced: set[str] = set()
    first, last = dt.datetime.combine(start, dt.time(), dt.timezone.utc), dt.datetime.combine(end, dt.time(), dt.timezone.utc)
    ids = [p.profile_id for p in aips]
    daily = BedrockMetrics(target).values(ids, TOKEN_METRICS, first, last, 86400) if aips else {}
    whole = BedrockMetrics(target).values(ids, PERIOD_METRICS, first, last, int((last - first).total_seconds())) if aips else {}
    busiest: dict[str, float] = {}
    for profile in aips:
        entry = costs[profile.tags[rules.TAG_CALLER]]
        ref = ModelRef.from_source(profile.tags.get(rules.TAG_SOURCE, ""))
        for day, values in _by_day(daily, profile.profile_id).items():
            tokens = [int(values.get(metric, 0)) for metric, _ in TOKEN_METRICS]
            entry.input_tokens += tokens[0]
            entry.output_tokens += tokens[1]
            entry.cache_read_tokens += tokens[2]
            entry.cache_write_tokens += tokens[3]
            if book.knows(ref):
                estimate = book.cost(
                    ref, input_tokens=tokens[0], output_tokens=tokens[1], cache_read=tokens[2], cache_write=tokens[3]
                )
                entry.estimated += estimate
                entry.estimated_by_day[day] = entry.estimated_by_day.get(day, Decimal(0)) + estimate
            else:
                unpriced.add(ref.model_id)
        calls = _period_sum(whole, profile.profile_id, "Invocations")
        entry.invocations += int(calls)
        entry.throttles += int(_period_sum(whole, profile.profile_id, "InvocationThrottles"))
        entry.errors += int(
            _period_sum(whole, profile.profile_id, "InvocationClientErrors")
            + _period_sum(whole, profile.profile_id, "InvocationServerErrors")
        )
        if calls > busiest.get(entry.caller, 0):  # latency of the caller's busiest AIP
            busiest[entry.caller] = calls
            for stat in ("p50", "p90", "p99"):
                series = whole.get((profile.profile_id, "InvocationLatency", stat), [])
                if series:
                    entry.latency_ms[stat] = series[0][1]
    for model_id in sorted(unpriced):
        warnings.append(f"no price for {model_id}: its calls are not in the estimate")
    for entry in costs.values():
        entry.deviation = _deviation(entry, complete_until)
    from aipctl.guard.brake import brakes

    braked = brakes(aips)
    for caller, brake in sorted(braked.items()):
        warnings.append(f"{caller} is braked since {brake['at']} ({brake['reason']}); `aipctl release {caller}` lifts it")
    report = CostReport(
        start, end, list(costs.values()), untagged, dict(other), total, services, complete_until, warnings, second_key
    )
    report.brakes = braked
    return report


def add_ledger(report: CostReport, ledger: str) -> None:
    """The third source: per-request cost from the metering ledger, per caller and day."""
    from aipctl.meter import open_ledger, query

    con = open_ledger(ledger)
    since = dt.datetime.combine(report.start, dt.time(), dt.timezone.utc)
    until = report.end.isoformat()
    by_name = {c.caller: c for c in report.callers}
    for entry in report.callers:
        entry.metered = Decimal(0)
    for row in query(con, "day", since):
        if row["day"] >= until:
            continue
        amount = Decimal(str(row["cost_usd"] or 0))
        found = by_name.get(row["caller"])
        if found is None:
            report.metered_other[row["caller"]] = round(report.metered_other.get(row["caller"], 0.0) + float(amount), 6)
            continue
        found.metered = (found.metered or Decimal(0)) + amount
        found.metered_by_day[row["day"]] = found.metered_by_day.get(row["day"], Decimal(0)) + amount
        found.metered_calls += int(row["calls"])
    report.ledger = ledger


def _period_sum(metrics: dict[tuple[str, str, str], list[tuple[dt.datetime, float]]], model_id: str, metric: str) -> float:
    return sum(v for _, v in metrics.get((model_id, metric, "Sum"), []))


def _by_day(metrics: dict[tuple[str, str, str], list[tuple[dt.datetime, float]]], model_id: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for metric, stat in TOKEN_METRICS:
        for when, value in metrics.get((model_id, metric, stat), []):
            day = when.astimezone(dt.timezone.utc).date().isoformat()
            out[day][metric] = out[day].get(metric, 0.0) + value
    return out


def _deviation(entry: CallerCost, complete_until: dt.date) -> float | None:
    """(estimate - billed) / billed over the days Cost Explorer has in full."""
    days = [d for d in entry.billed_by_day if d < complete_until.isoformat()]
    billed = sum((entry.billed_by_day[d] for d in days), Decimal(0))
    estimated = sum((entry.estimated_by_day.get(d, Decimal(0)) for d in days), Decimal(0))
    return float(round((estimated - billed) / billed, 4)) if billed else None


def _tag_warnings(target: Target, start: dt.date, now: dt.datetime) -> list[str]:
    status = CostAllocationTags(target).status([CALLER_TAG])[0]
    if status.status != "Active":
        return [
            f"cost-allocation tag {CALLER_TAG} is {status.status}: Cost Explorer cannot split cost by caller "
            "(`aipctl tags activate`; not retroactive)"
        ]
    if status.last_updated:
        activated = dt.datetime.fromisoformat(status.last_updated.replace("Z", "+00:00"))
        if activated.date() > start:
            return [
                f"{CALLER_TAG} was activated on {activated.date().isoformat()}, after the period started: "
                "earlier usage is untagged (activation is not retroactive)"
            ]
    return []
