"""What did each caller cost? Every spend source side by side, per caller, plus CloudWatch health per AIP.

The report is a loop over :class:`aipctl.spend.CostSource` s; each fills one column per caller:

- **billed** — Cost Explorer grouped by the caller tag (``Application``), DAILY, filtered to Bedrock's
  services; usage without the tag is the *untagged remainder*;
- **estimated** — CloudWatch token counts per AIP × the price of the AIP's base model and route,
  available before Cost Explorer has the day; ``deviation`` compares estimate and bill on the days
  the billed source already has in full;
- **metered** — the per-request ledger (``aipctl meter``), when one is read.

Beside the money, CloudWatch ``AWS/Bedrock`` per AIP (``ModelId`` = the AIP's short id) gives
invocations, throttles, errors and latency percentiles (:func:`read_health`).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from typing import Any

from aipctl.aws.cloudwatch import BedrockMetrics
from aipctl.aws.live import Brake, ManagedProfiles
from aipctl.aws.target import Target
from aipctl.inventory import LoadedInventory, rules
from aipctl.pricing import Terms, price_book
from aipctl.progress import NO_PROGRESS, Progress
from aipctl.spend import CostSource, SourceKind, SpendReading, SpendRow, SpendWindow
from aipctl.spend.cost_explorer import UNTAGGED_GROUP

CALLER_TAG = rules.TAG_APPLICATION
#: Once for the whole period, per AIP.
COUNT_METRICS = (
    ("Invocations", "Sum"),
    ("InvocationThrottles", "Sum"),
    ("InvocationClientErrors", "Sum"),
    ("InvocationServerErrors", "Sum"),
)
#: Read for each caller's busiest AIP only (what the report shows), after the counts.
LATENCY_METRICS = (("InvocationLatency", "p50"), ("InvocationLatency", "p90"), ("InvocationLatency", "p99"))
#: The inventory's labels on every row (chargeback): ``cost_center`` is the caller's ``CostCenter`` tag.
CHARGEBACK_LABELS = ("owner", "environment", "tier", "cost_center")
#: How ``to_dict`` names a source's calls that no caller owns.
NOBODY = {"billed": "(untagged)", "estimated": "(unknown)", "metered": "unattributed", "principal": "(unknown principal)"}


def _usd(value: Decimal) -> float:
    return float(round(value, 6))


def _usd_or_none(value: Decimal | None) -> float | None:
    return None if value is None else _usd(value)


@dataclass(frozen=True)
class CostLine:
    """One source's numbers for one caller over the period."""

    usd: Decimal = Decimal(0)
    by_day: Mapping[str, Decimal] = field(default_factory=dict)
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    #: Spend by the value of the report's second key (``--by``), when the source was asked for one.
    by_group: Mapping[str, Decimal] = field(default_factory=dict)
    #: Spend in ``usd`` that is in no ``by_day`` entry: rows summing several days (SpendRow.days).
    undated: Decimal = Decimal(0)
    #: After discounts: the bill's own net (NetUnblendedCost), else ``usd`` under the inventory's ``pricing:``
    #: terms; None when neither is known. ``net_by_day``: the same per day.
    net_usd: Decimal | None = None
    net_by_day: Mapping[str, Decimal] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[SpendRow], terms: Terms | None = None) -> CostLine:
        usd, undated, calls, tokens = Decimal(0), Decimal(0), 0, [0, 0, 0, 0]
        net: Decimal | None = None
        net_by_day: dict[str, Decimal] = defaultdict(Decimal)
        by_day: dict[str, Decimal] = defaultdict(Decimal)
        by_group: dict[str, Decimal] = defaultdict(Decimal)
        for row in rows:
            tokens = [
                tokens[0] + row.input_tokens,
                tokens[1] + row.output_tokens,
                tokens[2] + row.cache_read_tokens,
                tokens[3] + row.cache_write_tokens,
            ]
            calls += row.calls or 0
            if row.usd is None:
                continue
            paid = row.net_usd if row.net_usd is not None else (row.usd * terms.factor(row.model) if terms else None)
            if paid is not None:
                net = (net or Decimal(0)) + paid
                if row.days == 1:
                    net_by_day[row.day] += paid
            usd += row.usd
            if row.days > 1:
                undated += row.usd
            else:
                by_day[row.day] += row.usd
            if row.group is not None:
                by_group[row.group] += row.usd
        return cls(
            usd,
            dict(by_day),
            calls,
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            cache_read_tokens=tokens[2],
            cache_write_tokens=tokens[3],
            by_group=dict(by_group),
            undated=undated,
            net_usd=net,
            net_by_day=dict(net_by_day),
        )


@dataclass(frozen=True)
class CallerHealth:
    """CloudWatch over the period for a caller's AIPs; latency is that of its busiest AIP."""

    invocations: int = 0
    throttles: int = 0
    errors: int = 0
    latency_ms: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CallerCost:
    """One row of the report: a caller (``tenant`` None) or one tenant of a caller."""

    caller: str
    lines: Mapping[SourceKind, CostLine]
    health: CallerHealth = CallerHealth()
    deviation: float | None = None
    tenant: str | None = None
    attribution: str = "both"
    #: Chargeback labels from the inventory: owner, environment, tier, cost_center (the CostCenter tag).
    labels: Mapping[str, str | None] = field(default_factory=dict)
    #: The caller's monthly budget (its own or its tier's), when it has one.
    budget_usd: float | None = None
    #: (estimate net of the inventory's terms - the bill's net) / the bill's net, on the days the bill has.
    net_deviation: float | None = None
    #: What can make this caller's estimate differ from its bill (when they differ).
    deviation_reasons: tuple[str, ...] = ()

    @property
    def bill(self) -> Decimal:
        """What AWS bills this row: its AIPs' tag (the AIP plane), or its principals' for tenants and
        ``attribution: principal`` callers (who have no AIP)."""
        if self.tenant is not None or self.attribution == "principal":
            return self.line("principal").usd
        return self.billed

    @property
    def outside_aips(self) -> Decimal:
        """Billed to this caller's principals but not through its AIPs: a bypass, priced (principal plane)."""
        if self.tenant is not None or self.attribution == "principal":
            return Decimal(0)
        return self.line("principal").by_group.get(UNTAGGED_GROUP, Decimal(0))

    def line(self, kind: SourceKind) -> CostLine:
        """The caller's numbers from the source of ``kind`` (an empty line when it was not read)."""
        return self.lines.get(kind) or CostLine()

    def daily(self, complete_until: dt.date) -> dict[str, Decimal]:
        """Spend per day: the bill for the days it has in full, the CloudWatch estimate after them
        (the bill lags a day; the estimate does not), so a forecast sees today too."""
        if self.tenant is not None or self.attribution == "principal":
            billed = dict(self.line("principal").by_day)
        else:  # both planes: a caller's principals also pay for its calls outside its AIPs
            aip, principal = self.line("billed").by_day, self.line("principal").by_day
            billed = {d: max(aip.get(d, Decimal(0)), principal.get(d, Decimal(0))) for d in {*aip, *principal}}
        cut = complete_until.isoformat()
        days = {d: v for d, v in billed.items() if d < cut}
        for day, value in self.line("estimated").by_day.items():
            if day >= cut:
                days[day] = value
        if self.tenant is not None:  # tenants have no AIPs of their own: the bill alone
            days |= {d: v for d, v in billed.items() if d >= cut}
        return dict(sorted(days.items()))

    @property
    def billed(self) -> Decimal:
        return self.line("billed").usd

    @property
    def estimated(self) -> Decimal:
        return self.line("estimated").usd

    @property
    def metered(self) -> Decimal | None:
        return self.lines["metered"].usd if "metered" in self.lines else None

    def to_dict(self) -> dict[str, Any]:
        billed, estimated, metered = self.line("billed"), self.line("estimated"), self.line("metered")
        principal = self.line("principal")
        return {
            "caller": self.caller,
            "tenant": self.tenant,
            "attribution": self.attribution,
            **{k: self.labels.get(k) for k in CHARGEBACK_LABELS},
            "billed_usd": _usd(self.bill),
            "aip_billed_usd": _usd(billed.usd),
            "principal_billed_usd": _usd(principal.usd) if "principal" in self.lines else None,
            "principal_by_day": {d: _usd(v) for d, v in sorted(principal.by_day.items())},
            "outside_aips_usd": _usd(self.outside_aips),
            "estimated_usd": _usd(estimated.usd),
            "deviation": self.deviation,
            "billed_by_day": {d: _usd(v) for d, v in sorted(billed.by_day.items())},
            "estimated_by_day": {d: _usd(v) for d, v in sorted(estimated.by_day.items())},
            # the estimate of the days before the report's estimated_by_day_from, as one sum
            "estimated_unsplit_usd": _usd(estimated.undated),
            "invocations": self.health.invocations,
            "input_tokens": estimated.input_tokens,
            "output_tokens": estimated.output_tokens,
            "cache_read_tokens": estimated.cache_read_tokens,
            "cache_write_tokens": estimated.cache_write_tokens,
            "throttles": self.health.throttles,
            "errors": self.health.errors,
            "latency_ms": dict(self.health.latency_ms),
            "by_second_key": {k: _usd(v) for k, v in sorted(billed.by_group.items())},
            "billed_net_usd": _usd_or_none(billed.net_usd),
            "estimated_net_usd": _usd_or_none(estimated.net_usd),
            "metered_net_usd": _usd_or_none(metered.net_usd) if self.metered is not None else None,
            "net_deviation": self.net_deviation,
            "deviation_reasons": list(self.deviation_reasons),
            "metered_usd": None if self.metered is None else _usd(metered.usd),
            "metered_by_day": {d: _usd(v) for d, v in sorted(metered.by_day.items())},
            "metered_calls": metered.calls,
            "budget_usd": self.budget_usd,
        }


@dataclass(frozen=True)
class CostReport:
    start: dt.date
    end: dt.date  # exclusive
    callers: tuple[CallerCost, ...]
    #: Per source kind: spend of calls outside the inventory's callers (None: untagged/unattributed);
    #: ``principal_untagged``: the principal plane's share of those that went through no AIP.
    outside: Mapping[str, Mapping[str | None, Decimal]]
    services: tuple[str, ...]
    complete_until: dt.date
    warnings: tuple[str, ...]
    #: The sources read, in order, and what kind of number each gave.
    sources: Mapping[str, SourceKind]
    second_key: str | None = None
    coverage: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    brakes: Mapping[str, Brake] = field(default_factory=dict)  # braked callers
    #: Callers released by hand until a UTC time (`aipctl release --until`), still in force.
    released: Mapping[str, str] = field(default_factory=dict)
    ledger: str | None = None  # the ledger file read as the metered source
    #: ``--by tier|owner|environment|<tag>``: the callers rolled up by that inventory field or tag.
    groups: tuple[Mapping[str, Any], ...] = ()
    #: The same rollup by tier, whenever a caller has one (the dashboard's tier view).
    tiers: tuple[Mapping[str, Any], ...] = ()
    #: The estimate's rows per AIP and day for the inventory's callers (the FOCUS export splits by them).
    detail: tuple[SpendRow, ...] = ()
    #: The price book in use, the inventory's negotiated terms, and what could not be priced.
    pricing: Mapping[str, Any] = field(default_factory=dict)
    #: ``report --advise``: aipctl advise's recommendations over the same window (Advice.to_dict()).
    advice: tuple[Mapping[str, Any], ...] | None = None
    #: The first day the estimate is per day (before it, one sum per AIP: CloudWatchSource.daily_from).
    estimated_daily_from: dt.date | None = None
    #: Organization inventories: (alias, account id) of ``accounts:``, and per caller its (alias, Region)s; the bill
    #: and the estimate of each caller are then split by account (the ``group`` of their rows is the account id).
    accounts: tuple[tuple[str, str], ...] = ()
    placements: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def account_lines(self, row: CallerCost) -> list[dict[str, Any]]:
        """A caller's cost line per account it runs in (or was billed in): billed and estimated, with its Regions."""
        billed, estimated = row.line("billed").by_group, row.line("estimated").by_group
        where = self.placements.get(row.caller, ())
        out = []
        for alias, account_id in self.accounts:
            regions = [region for a, region in where if a == alias]
            if not regions and account_id not in billed and account_id not in estimated:
                continue
            out.append(
                {
                    "account": alias,
                    "account_id": account_id,
                    "regions": regions,
                    "billed_usd": _usd(billed.get(account_id, Decimal(0))),
                    "estimated_usd": _usd(estimated.get(account_id, Decimal(0))),
                }
            )
        return out

    @property
    def estimated_by_day_from(self) -> dt.date:
        return self.estimated_daily_from or self.start

    @property
    def caller_rows(self) -> tuple[CallerCost, ...]:
        """The callers without their tenants (tenants' spend is part of their caller's)."""
        return tuple(c for c in self.callers if c.tenant is None)

    def tenants_of(self, caller: str) -> list[CallerCost]:
        return list(self._tenants.get(caller, ()))

    @cached_property
    def _tenants(self) -> dict[str, list[CallerCost]]:
        """Per caller its tenants, costliest first: indexed once (rows() asks for every caller's)."""
        out: dict[str, list[CallerCost]] = defaultdict(list)
        for c in self.callers:
            if c.tenant is not None:
                out[c.caller].append(c)
        return {caller: sorted(rows, key=lambda c: (-c.bill, c.tenant or "")) for caller, rows in out.items()}

    @property
    def untagged(self) -> Decimal:
        return self.outside.get("billed", {}).get(None, Decimal(0))

    def untagged_split(self) -> dict[str, Any] | None:
        """The untagged remainder on the principal plane: callers' principals outside their AIPs, and the rest."""
        if "principal" not in self.sources.values():
            return None
        known = {c.caller: _usd(c.outside_aips) for c in self.caller_rows if c.outside_aips}
        unknown = self.outside.get("principal_untagged", {}).get(None, Decimal(0))
        others = {
            k: _usd(v) for k, v in sorted(self.outside.get("principal_untagged", {}).items(), key=lambda kv: kv[0] or "") if k
        }
        return {"known_principal_no_aip_usd": known, "unknown_principal_usd": _usd(unknown), "other_principals_usd": others}

    @property
    def total_billed(self) -> Decimal:
        return sum((c.billed for c in self.caller_rows), Decimal(0)) + sum(self.outside.get("billed", {}).values(), Decimal(0))

    @property
    def untagged_share(self) -> float:
        total = self.total_billed
        return float(round(self.untagged / total, 4)) if total else 0.0

    @property
    def total_estimated(self) -> Decimal:
        return sum((c.estimated for c in self.caller_rows), Decimal(0))

    @property
    def total_metered(self) -> Decimal | None:
        """Metered total of the inventory's callers; None when no ledger was read."""
        if "metered" not in self.sources.values():
            return None
        return sum((c.metered or Decimal(0) for c in self.caller_rows), Decimal(0))

    def top(self, n: int) -> list[CallerCost]:
        """The ``n`` callers that cost most (tenants not counted: :meth:`tenants_of` gives them)."""
        return sorted(self.caller_rows, key=lambda c: (c.bill or c.estimated, c.estimated), reverse=True)[:n]

    def rows(self, top: int | None = None) -> list[CallerCost]:
        """The top callers, each followed by its tenants."""
        return [row for c in self.top(top or len(self.callers)) for row in (c, *self.tenants_of(c.caller))]

    @property
    def today(self) -> dt.date:
        """The last day of the period (the report runs up to and including today)."""
        return self.end - dt.timedelta(days=1)

    @cached_property
    def _forecasts(self) -> dict[tuple[str, str | None], dict[str, Any]]:
        return {}  # per (caller, tenant): the dashboard, CSV and JSON ask for the same forecasts

    @cached_property
    def _dailies(self) -> dict[tuple[str, str | None], dict[str, Decimal]]:
        return {}

    def daily(self, row: CallerCost) -> dict[str, Decimal]:
        """``row``'s spend per day (:meth:`CallerCost.daily` at this report's cut), worked out once per row:
        the forecast, the movers and the dashboard's chart all read it."""
        key = (row.caller, row.tenant)
        if key not in self._dailies:
            self._dailies[key] = row.daily(self.complete_until)
        return self._dailies[key]

    def forecast(self, row: CallerCost) -> dict[str, Any]:
        """Month-end forecast of ``row``'s spend in the month of :attr:`today` (computed once per row)."""
        key = (row.caller, row.tenant)
        if key not in self._forecasts:
            self._forecasts[key] = self._forecast(row)
        return self._forecasts[key]

    def _forecast(self, row: CallerCost) -> dict[str, Any]:
        """Month-end forecast of ``row``'s spend in the month of :attr:`today`.

        Month to date is what the period has of this month (bill, then estimate: :meth:`CallerCost.daily`);
        every day of the month the period does not cover — before its start and after today — is filled
        with the run rate, the mean of the last (up to) 7 whole days before today.
        """
        daily = self.daily(row)
        today = self.today
        month = today.strftime("%Y-%m")
        first = dt.date(today.year, today.month, 1)
        mtd = sum((v for d, v in daily.items() if d.startswith(month)), Decimal(0))
        whole = _days(max(self.start, today - dt.timedelta(days=7)), today)
        rate = sum((daily.get(d, Decimal(0)) for d in whole), Decimal(0)) / len(whole) if whole else Decimal(0)
        covered = len(_days(max(self.start, first), today + dt.timedelta(days=1)))
        days_in_month = calendar.monthrange(today.year, today.month)[1]
        forecast = mtd + rate * (days_in_month - covered)
        budget = row.budget_usd
        return {
            "month": month,
            "mtd_usd": _usd(mtd),
            "run_rate_usd_per_day": _usd(rate),
            "forecast_usd": _usd(forecast),
            "budget_usd": budget,
            "forecast_pct_of_budget": float(round(forecast / Decimal(str(budget)) * 100, 1)) if budget else None,
        }

    def movers(self, n: int = 5) -> list[dict[str, Any]]:
        """The callers whose daily spend changed most: mean per day over the later half of the whole days
        before today against the earlier half (largest change first)."""
        days = _days(self.start, self.today)
        if len(days) < 2:
            return []
        half = len(days) // 2
        early, late = days[: len(days) - half], days[len(days) - half :]
        out: list[dict[str, Any]] = []
        for row in self.caller_rows:
            daily = self.daily(row)
            before = sum((daily.get(d, Decimal(0)) for d in early), Decimal(0)) / len(early)
            after = sum((daily.get(d, Decimal(0)) for d in late), Decimal(0)) / len(late)
            if before or after:
                out.append(
                    {
                        "caller": row.caller,
                        "before_usd_per_day": _usd(before),
                        "after_usd_per_day": _usd(after),
                        "change_usd_per_day": _usd(after - before),
                        "change_pct": float(round((after - before) / before * 100, 1)) if before else None,
                    }
                )
        return sorted(out, key=lambda m: (-abs(m["change_usd_per_day"]), m["caller"]))[:n]

    def bypassers(self) -> list[dict[str, Any]]:
        """Callers that call outside their AIPs: by CloudTrail coverage, or priced on the principal plane."""
        out = []
        for row in self.caller_rows:
            verdict = (self.coverage.get(row.caller) or {}).get("verdict")
            if verdict == "bypassing" or row.outside_aips:
                out.append({"caller": row.caller, "verdict": verdict, "outside_aips_usd": _usd(row.outside_aips)})
        return out

    def _outside(self, kind: SourceKind, *, named_only: bool) -> dict[str, float]:
        found = self.outside.get(kind, {})
        return {
            (name or NOBODY[kind]): _usd(value)
            for name, value in sorted(found.items(), key=lambda kv: kv[0] or "")
            if not (named_only and name is None)
        }

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        metered = self.total_metered
        return {
            "period": {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "complete_until": self.complete_until.isoformat(),
                "estimated_by_day_from": self.estimated_by_day_from.isoformat(),
            },
            "callers": [c.to_dict() | ({"accounts": self.account_lines(c)} if self.accounts else {}) for c in self.rows(top)],
            "untagged_usd": _usd(self.untagged),
            "untagged_split": self.untagged_split(),
            "untagged_share": self.untagged_share,
            "other_tagged_usd": self._outside("billed", named_only=True),
            "total_billed_usd": _usd(self.total_billed),
            "total_estimated_usd": _usd(self.total_estimated),
            "services": list(self.services),
            "second_key": self.second_key,
            "warnings": list(self.warnings),
            "coverage": dict(self.coverage),
            "brakes": {caller: brake.to_dict() for caller, brake in self.brakes.items()},
            "released_until": dict(self.released),
            "sources": list(self.sources),
            "ledger": self.ledger,
            "total_metered_usd": None if metered is None else _usd(metered),
            "metered_other_usd": self._outside("metered", named_only=False),
            "groups": [dict(g) for g in self.groups],
            "forecast": {c.caller: self.forecast(c) for c in self.caller_rows},
            "movers": self.movers(),
            "bypassers": self.bypassers(),
            "pricing": dict(self.pricing),
            "advice": None if self.advice is None else [dict(a) for a in self.advice],
            "total_billed_net_usd": _usd_or_none(self._net("billed")),
            "total_estimated_net_usd": _usd_or_none(self._net("estimated")),
        }

    def _net(self, kind: SourceKind) -> Decimal | None:
        values = [c.line(kind).net_usd for c in self.caller_rows]
        known = [v for v in values if v is not None]
        return sum(known, Decimal(0)) if known else None


def build_report(
    loaded: LoadedInventory,
    sources: Sequence[CostSource],
    window: SpendWindow,
    *,
    health: Mapping[str, CallerHealth] | None = None,
    brakes: Mapping[str, Brake] | None = None,
    coverage: Mapping[str, Mapping[str, Any]] | None = None,
    second_key: str | None = None,
    progress: Progress = NO_PROGRESS,
    readings: Sequence[SpendReading] | None = None,
    released: Mapping[str, str] | None = None,
) -> CostReport:
    """One column per source for every caller of the inventory over ``window`` (whole UTC days).

    ``readings``: what ``sources`` said, when the caller read them already (see read_sources)."""
    if readings is None:
        readings = read_sources(sources, window, progress=progress)
    terms = Terms.of(loaded.inventory)
    lines, outside = _columns(readings, loaded, terms)
    billed = next((r for r in readings if r.kind == "billed"), None)
    complete_until = billed.complete_until if billed and billed.complete_until else window.end_day
    braked = dict(brakes or {})
    warnings = (
        [w for r in readings for w in r.warnings]
        + [
            f"{caller} is braked since {brake.at} ({brake.reason}); `aipctl release {caller}` lifts it"
            for caller, brake in sorted(braked.items())
        ]
        + [
            f"{caller} is released by hand until {until}: guard watch does not brake it before then"
            for caller, until in sorted((released or {}).items())
        ]
    )
    health = health or {}
    callers = tuple(
        CallerCost(
            name,
            columns,
            health.get(name, CallerHealth()) if tenant is None else CallerHealth(),
            _deviation(columns, complete_until) if tenant is None else None,
            tenant,
            loaded.inventory.callers[name].attribution,
            _labels(loaded, name),
            _budget(loaded, name) if tenant is None else None,
            _net_deviation(columns, complete_until) if tenant is None else None,
        )
        for (name, tenant), columns in lines.items()
    )
    unpriced = sorted({w for r in readings for w in r.warnings if w.startswith("no price for")})
    callers = tuple(replace(c, deviation_reasons=_deviation_reasons(loaded, c, unpriced)) if c.deviation else c for c in callers)
    return CostReport(
        start=window.first_day,
        end=window.end_day,
        callers=callers,
        outside=outside,
        services=billed.scope if billed else (),
        complete_until=complete_until,
        warnings=tuple(warnings),
        sources={r.source: r.kind for r in readings},
        second_key=second_key,
        coverage=dict(coverage or {}),
        brakes=braked,
        released=dict(released or {}),
        ledger=next((r.scope[0] for r in readings if r.kind == "metered" and r.scope), None),
        groups=rollup(loaded, callers, second_key) if second_key else (),
        tiers=rollup(loaded, callers, "tier") if any(c.labels.get("tier") for c in callers) else (),
        detail=tuple(row for r in readings if r.kind == "estimated" for row in r.rows if row.caller in loaded.inventory.callers),
        pricing={"book": price_book().describe(), "terms": terms.to_dict() if terms else None, "gaps": unpriced},
        estimated_daily_from=max(
            (
                dt.date.fromisoformat(row.day) + dt.timedelta(days=row.days)
                for r in readings
                if r.kind == "estimated"
                for row in r.rows
                if row.days > 1
            ),
            default=None,
        ),
    )


def read_sources(
    sources: Sequence[CostSource], window: SpendWindow, *, pool: Executor | None = None, progress: Progress = NO_PROGRESS
) -> list[SpendReading]:
    """Every source's reading, in the order of ``sources``; concurrently on ``pool`` when given.

    The sources are independent services (Cost Explorer, CloudWatch, a local ledger): read one after
    another, a report waits for the sum of their latencies instead of the longest."""
    progress("reading " + ", ".join(source.name for source in sources))
    if pool is None:
        return [source.read(window) for source in sources]
    futures = [pool.submit(source.read, window) for source in sources]
    return [future.result() for future in futures]


def _deviation_reasons(loaded: LoadedInventory, row: CallerCost, gaps: Sequence[str]) -> tuple[str, ...]:
    """Where the estimate (CloudWatch tokens × list price) and the bill part ways, for this caller's models: what
    CloudWatch cannot see (tiers, cache TTLs), what the book cannot price, what the estimate cannot know."""
    from aipctl.pricing import ModelRef

    book = price_book()
    reasons = []
    spec = loaded.inventory.callers[row.caller]
    for alias in spec.models:
        source = loaded.inventory.models.get(alias, "")
        ref = ModelRef.from_source(source, loaded.inventory.region)
        model = ref.model_id
        if any(f"no price for {model}" in g for g in gaps):
            reasons.append(f"{alias}: the price book has no price for {model}, so the estimate leaves its calls out")
            continue
        tiers = [t for t in ("flex", "priority") if book.rate(ref, "input", t) is not None]
        if tiers:
            reasons.append(
                f"{alias}: {model} also serves the {'/'.join(tiers)} tier, which CloudWatch does not report: the estimate "
                "prices every call at the standard tier (the ledger, with text delivery on, prices each call's tier)"
            )
        if row.line("estimated").cache_write_tokens and book.rate(ref, "cache_write_1h") is not None:
            reasons.append(
                f"{alias}: cache writes with a 1-hour TTL cost more than 5-minute ones; CloudWatch counts both as one "
                "metric and the estimate prices them at the 5-minute rate"
            )
    if spec.attribution == "both" and row.health.invocations == 0 and row.billed:
        reasons.append("billed usage without calls in CloudWatch for its AIPs (batch jobs, or calls outside the AIPs)")
    return tuple(reasons)


def _labels(loaded: LoadedInventory, caller: str) -> dict[str, str | None]:
    spec = loaded.inventory.callers[caller]
    return {"owner": spec.owner, "environment": spec.environment, "tier": spec.tier, "cost_center": spec.tags.get("CostCenter")}


def _budget(loaded: LoadedInventory, caller: str) -> float | None:
    budget = loaded.inventory.callers[caller].budget
    return budget.monthly_usd if budget else None


def _days(first: dt.date, end: dt.date) -> list[str]:
    """The ISO days from ``first`` up to ``end`` (exclusive)."""
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((end - first).days)]


def group_value(loaded: LoadedInventory, caller: str, key: str) -> str | None:
    """A caller's value for ``--by``: ``tier``, ``owner``, ``environment``, ``application``, else one of its tags."""
    spec = loaded.inventory.callers[caller]
    fields = {"tier": spec.tier, "owner": spec.owner, "environment": spec.environment, "application": caller}
    return fields[key.lower()] if key.lower() in fields else spec.tags.get(key)


def rollup(loaded: LoadedInventory, callers: Sequence[CallerCost], key: str) -> tuple[dict[str, Any], ...]:
    """Totals per value of ``key`` over the callers (tenants are in their caller's figures already)."""
    totals: dict[str, dict[str, Any]] = {}
    for row in callers:
        if row.tenant is not None:
            continue
        value = group_value(loaded, row.caller, key) or UNTAGGED_GROUP
        entry = totals.setdefault(
            value,
            {
                "by": key,
                "value": value,
                "billed_usd": Decimal(0),
                "estimated_usd": Decimal(0),
                "metered_usd": Decimal(0),
                "budget_usd": None,
                "callers": [],
            },
        )
        if row.budget_usd is not None:
            entry["budget_usd"] = (entry["budget_usd"] or 0.0) + row.budget_usd
        entry["billed_usd"] += row.bill
        entry["estimated_usd"] += row.estimated
        entry["metered_usd"] += row.metered or Decimal(0)
        entry["callers"].append(row.caller)
    out = []
    for entry in sorted(totals.values(), key=lambda e: (-e["billed_usd"], e["value"])):
        out.append(
            {
                **entry,
                "billed_usd": _usd(entry["billed_usd"]),
                "estimated_usd": _usd(entry["estimated_usd"]),
                "metered_usd": _usd(entry["metered_usd"]),
                "callers": sorted(entry["callers"]),
            }
        )
    return tuple(out)


def _columns(
    readings: Sequence[SpendReading], loaded: LoadedInventory, terms: Terms | None = None
) -> tuple[dict[tuple[str, str | None], dict[SourceKind, CostLine]], dict[str, dict[str | None, Decimal]]]:
    """Per caller (and tenant), one :class:`CostLine` per source kind; and per kind, the spend of rows no
    caller of ours owns (``principal_untagged``: of those, what went through no AIP)."""
    callers = loaded.inventory.callers
    keys: list[tuple[str, str | None]] = []
    for name, caller in callers.items():
        keys += [(name, None), *((name, t) for t in caller.tenants)]
    for reading in readings:  # tenants seen in the bill but not (yet) in the inventory get rows too
        keys += [(r.caller, r.tenant) for r in reading.rows if r.tenant is not None and r.caller in callers]
    lines: dict[tuple[str, str | None], dict[SourceKind, CostLine]] = {key: {} for key in dict.fromkeys(keys)}
    outside: dict[str, dict[str | None, Decimal]] = {}
    for reading in readings:
        mine: dict[tuple[str, str | None], list[SpendRow]] = {key: [] for key in lines}
        others = outside.setdefault(reading.kind, {})
        for row in reading.rows:
            key = (row.caller or "", row.tenant)
            if key in mine:
                mine[key].append(row)
            elif row.usd is not None and row.tenant is None:
                others[row.caller] = others.get(row.caller, Decimal(0)) + row.usd
                if reading.kind == "principal" and row.group == UNTAGGED_GROUP:
                    bucket = outside.setdefault("principal_untagged", {})
                    bucket[row.caller] = bucket.get(row.caller, Decimal(0)) + row.usd
        for key, rows in mine.items():
            if rows or key[1] is None or reading.kind == "principal":
                lines[key][reading.kind] = CostLine.of(rows, terms)
    return lines, outside


def read_health(target: Target, managed: ManagedProfiles, window: SpendWindow) -> dict[str, CallerHealth]:
    """Invocations, throttles and errors per caller over the window, and the latency of its busiest AIP:
    the counts for every AIP in one GetMetricData batch, then percentiles for the busiest AIP per caller
    only (1,000 callers with 1,500 AIPs: 3,000 percentile queries instead of 4,500)."""
    profiles = list(managed)
    if not profiles:
        return {}
    period = int((window.end - window.start).total_seconds())
    metrics = BedrockMetrics(target)
    values = metrics.values([p.profile_id for p in profiles], COUNT_METRICS, window.start, window.end, period)

    def total(profile_id: str, metric: str) -> float:
        return sum(v for _, v in values.get((profile_id, metric, "Sum"), []))

    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    busiest: dict[str, tuple[float, str]] = {}
    for profile in profiles:
        caller, pid = profile.tags[rules.TAG_CALLER], profile.profile_id
        calls = total(pid, "Invocations")
        entry = sums[caller]
        entry[0] += int(calls)
        entry[1] += int(total(pid, "InvocationThrottles"))
        entry[2] += int(total(pid, "InvocationClientErrors") + total(pid, "InvocationServerErrors"))
        if calls > busiest.get(caller, (0.0, ""))[0]:
            busiest[caller] = (calls, pid)
    ids = sorted({pid for _, pid in busiest.values()})
    latencies = metrics.values(ids, LATENCY_METRICS, window.start, window.end, period) if ids else {}
    latency = {
        caller: {stat: series[0][1] for _, stat in LATENCY_METRICS if (series := latencies.get((pid, "InvocationLatency", stat)))}
        for caller, (_, pid) in busiest.items()
    }
    return {caller: CallerHealth(s[0], s[1], s[2], latency.get(caller, {})) for caller, s in sums.items()}


def report_window(since: dt.timedelta, now: dt.datetime) -> SpendWindow:
    """Whole UTC days: from the day ``since`` before ``now`` up to and including today."""
    start = dt.datetime.combine((now - since).date(), dt.time(), dt.timezone.utc)
    end = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    return SpendWindow(start, end)


def _net_deviation(lines: Mapping[SourceKind, CostLine], complete_until: dt.date) -> float | None:
    """(estimate under the inventory's terms - the bill's net) / the bill's net, over the days the bill has in full:
    near 0 when the inventory states the discount the account has, the gap when it does not."""
    billed_line, estimated_line = lines.get("billed"), lines.get("estimated")
    if billed_line is None or estimated_line is None or billed_line.net_usd is None or estimated_line.net_usd is None:
        return None
    cut = complete_until.isoformat()
    days = [d for d in billed_line.net_by_day if d < cut]
    billed = sum((billed_line.net_by_day[d] for d in days), Decimal(0))
    estimated = sum((estimated_line.net_by_day.get(d, Decimal(0)) for d in days), Decimal(0))
    if estimated_line.undated and billed_line.net_usd and billed_line.usd:  # the estimate of complete days as one sum
        estimated += estimated_line.undated * (estimated_line.net_usd / estimated_line.usd if estimated_line.usd else 1)
    return float(round((estimated - billed) / billed, 4)) if billed else None


def _deviation(lines: Mapping[SourceKind, CostLine], complete_until: dt.date) -> float | None:
    """(estimate - billed) / billed over the days the bill has in full."""
    billed_line, estimated_line = lines.get("billed"), lines.get("estimated")
    if billed_line is None or estimated_line is None:
        return None
    days = [d for d in billed_line.by_day if d < complete_until.isoformat()]
    billed = sum((billed_line.by_day[d] for d in days), Decimal(0))
    # The estimate of days the bill has in full may come as one sum (CloudWatchSource.daily_from).
    estimated = estimated_line.undated + sum((estimated_line.by_day.get(d, Decimal(0)) for d in days), Decimal(0))
    return float(round((estimated - billed) / billed, 4)) if billed else None
