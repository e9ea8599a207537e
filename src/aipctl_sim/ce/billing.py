"""Billing of emulated usage: line items from runtime calls, and GetCostAndUsage over them.

Each successful call yields up to five line items (input, output, cache-read, 5-minute and 1-hour
cache-write tokens), priced from the emulator's Price List (``aipctl_sim.pricing.rates``) at the call's
Region, route and service tier: cross-Region ``global.`` profiles at the global price, geo profiles
(``us.``, ``eu.`` …) and in-Region calls at the regional price (about 10 % more for recent Anthropic
models). Usage types and usage quantities are the Price List's (millions of tokens for Marketplace
models, thousands for Amazon's). Third-party models bill under their own "(Amazon Bedrock Edition)"
SERVICE, Amazon's under "Amazon Bedrock". ``NetUnblendedCost`` and ``NetAmortizedCost`` apply the
account's private-pricing discount (``SimSettings.billing_discount_pct``); the other cost metrics are list
price. A line item carries only the tags that were active
cost-allocation tags when the call happened (recorded with the call). Usage becomes visible after
the billing lag (``SimSettings.billing_lag_hours``, default 24).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aipctl_sim import settings, telemetry
from aipctl_sim.bedrock.catalog import catalog
from aipctl_sim.organizations import members
from aipctl_sim.pricing.rates import rate, route_of
from aipctl_sim.protocol import ValidationException

COST_METRICS = ("UnblendedCost", "BlendedCost", "AmortizedCost", "NetUnblendedCost", "NetAmortizedCost")
METRICS = (*COST_METRICS, "UsageQuantity")
DIMENSIONS = ("SERVICE", "USAGE_TYPE", "REGION", "LINKED_ACCOUNT", "OPERATION", "RECORD_TYPE")
#: The Region part of usage types, as AWS bills it ("Region billing codes",
#: https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-region-billing-codes.html).
REGION_CODES = {
    "us-east-1": "USE1", "us-east-2": "USE2", "us-west-1": "USW1", "us-west-2": "USW2",
    "us-gov-east-1": "UGE1", "us-gov-west-1": "UGW1", "ca-central-1": "CAN1", "ca-west-1": "CAN2",
    "mx-central-1": "MXC1", "sa-east-1": "SAE1", "af-south-1": "AFS1", "il-central-1": "ILC1",
    "me-central-1": "MEC1", "me-south-1": "MES1", "eu-central-1": "EUC1", "eu-central-2": "EUC2",
    "eu-north-1": "EUN1", "eu-south-1": "EUS1", "eu-south-2": "EUS2", "eu-west-1": "EU",
    "eu-west-2": "EUW2", "eu-west-3": "EUW3", "ap-east-1": "APE1", "ap-east-2": "APE2",
    "ap-northeast-1": "APN1", "ap-northeast-2": "APN2", "ap-northeast-3": "APN3", "ap-south-1": "APS3",
    "ap-south-2": "APS5", "ap-southeast-1": "APS1", "ap-southeast-2": "APS2", "ap-southeast-3": "APS4",
    "ap-southeast-4": "APS6", "ap-southeast-5": "APS7", "ap-southeast-6": "APS8", "ap-southeast-7": "APS9",
}  # fmt: skip
#: The token kinds of a call row, in the order of its token columns (cache writes split by TTL).
KINDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
NET_METRICS = ("NetUnblendedCost", "NetAmortizedCost")


@dataclass(frozen=True)
class LineItem:
    period: str
    dimensions: Mapping[str, str]
    tags: Mapping[str, str]
    #: In the usage type's pricing unit (1M or 1K tokens), as Cost Explorer's UsageQuantity reports it.
    usage: Decimal
    cost: Decimal


def split_tokens(input_: int, output: int, cache_read: int, cache_write: int, cache_write_1h: int) -> tuple[int, ...]:
    """A call row's token sums per kind of :data:`KINDS` (its ``cache_write`` includes the 1-hour writes)."""
    return input_, output, cache_read, cache_write - cache_write_1h, cache_write_1h


def _bucket(granularity: str) -> str:
    return {"DAILY": "%Y-%m-%d", "MONTHLY": "%Y-%m-01", "HOURLY": "%Y-%m-%dT%H:00:00Z"}[granularity]


def line_items(account: str, start: float, end: float, granularity: str) -> tuple[LineItem, ...]:
    """Aggregated line items per period; one SQL pass over the call rows.

    Kept for the next query on the same data and clock: a report asks Cost Explorer the same period twice
    (by caller tag and by principal tag), and its dimension lookups ask it again by month."""
    visible_until = _visible_until()
    store = telemetry.store()
    billed = members(account)  # the management account of an organization sees every member's usage
    key = (str(store.path), store.generation, billed, start, min(end, visible_until) // 60, granularity)
    if key not in _items_cache:
        if len(_items_cache) >= 8:  # bounded: a few periods at a time (a client may ask a long one in slices)
            del _items_cache[next(iter(_items_cache))]
        _items_cache[key] = tuple(
            item for member in billed for item in _line_items(member, start, min(end, visible_until), granularity)
        )
    credits = Decimal(str(settings.settings().billing_credits_usd))
    return _items_cache[key] if not credits else _with_credits(_items_cache[key], credits)


def _with_credits(items: tuple[LineItem, ...], credits: Decimal) -> tuple[LineItem, ...]:
    """The account's monthly credits (``SimSettings.billing_credits_usd``) as ``RECORD_TYPE`` Credit items beside
    each usage item, the same share of each, until a month's usage has used them up (as promotional credits
    show in Cost Explorer: negative, on the service and day of the usage they cover)."""
    by_month: dict[str, Decimal] = defaultdict(Decimal)
    for item in items:
        by_month[item.period[:7]] += item.cost
    share = {month: min(Decimal(1), credits / total) for month, total in by_month.items() if total > 0}
    credited = []
    kinds: dict[int, Mapping[str, str]] = {}
    for item in items:
        rate_ = share.get(item.period[:7])
        if not rate_:
            continue
        dims = kinds.get(id(item.dimensions))
        if dims is None:
            dims = kinds[id(item.dimensions)] = {**item.dimensions, "RECORD_TYPE": "Credit", "USAGE_TYPE": "Credit"}
        credited.append(LineItem(item.period, dims, item.tags, Decimal(0), -item.cost * rate_))
    return items + tuple(credited)


_items_cache: dict[tuple[Any, ...], tuple[LineItem, ...]] = {}


def _line_items(account: str, start: float, end: float, granularity: str) -> Iterator[LineItem]:
    fmt = _bucket(granularity)
    sql = (
        "SELECT strftime(?, ts, 'unixepoch'), region, base_model, geo, cost_tags, COALESCE(service_tier, 'default'), "
        "SUM(input_tokens), SUM(output_tokens), SUM(cache_read), SUM(cache_write), SUM(cache_write_1h) "
        "FROM calls WHERE account = ? AND region = ? AND status = 'ok' AND ts >= ? AND ts < ? "
        "GROUP BY 1, 2, 3, 4, 5, 6"
    )
    rows: list[tuple[Any, ...]] = []
    whole_until = start
    if granularity != "HOURLY" and start % 86400 == 0:  # whole days from the daily rollup, the rest from the calls
        whole_until = max(start, end // 86400 * 86400)
        rows += telemetry.store().query(
            "SELECT strftime(?, day * 86400, 'unixepoch'), region, base_model, NULLIF(geo, ''), NULLIF(cost_tags, ''), "
            "COALESCE(NULLIF(tier, ''), 'default'), "
            "SUM(input_tokens), SUM(output_tokens), SUM(cache_read), SUM(cache_write), SUM(cache_write_1h) "
            "FROM call_days WHERE account = ? AND status = 'ok' AND day >= ? AND day < ? GROUP BY 1, 2, 3, 4, 5, 6",
            (fmt, account, int(start // 86400), int(whole_until // 86400)),
        )
    if whole_until < end:  # per Region, so that the (account, region, ts) index bounds the scan to the period
        for (region,) in telemetry.store().query("SELECT DISTINCT region FROM call_days WHERE account = ?", (account,)):
            rows += telemetry.store().query(sql, (fmt, account, region, whole_until, end))
    tags_of: dict[str | None, Mapping[str, str]] = {None: {}}
    lines_of: dict[tuple[str, str, str | None, str], list[_Line | None] | None] = {}
    for period, region, model_id, geo, cost_tags, tier, *sums in rows:
        lines = lines_of.get((region, model_id, geo, tier), ())
        if lines == ():
            lines = lines_of[(region, model_id, geo, tier)] = _price_lines(account, region, model_id, geo, tier)
        if lines is None:
            continue  # a model the catalog does not know: not billed
        tags = tags_of.get(cost_tags)
        if tags is None:
            tags = tags_of[cost_tags] = json.loads(cost_tags)
        for line, count in zip(lines, split_tokens(*(int(n or 0) for n in sums)), strict=True):
            if count and line is not None:
                dims, usage_per_token, usd_per_token = line
                yield LineItem(period, dims, tags, usage_per_token * count, usd_per_token * count)


_MILLION = Decimal(1_000_000)
#: A token kind's line: its dimensions, and per token its usage (in pricing units) and list price. Both per-token
#: factors are exact decimals (a unit is 10^3 or 10^6 tokens), so ``factor * count`` is the quotient of the
#: division it replaces, once per kind instead of per line item.
_Line = tuple[Mapping[str, str], Decimal, Decimal]


def _price_lines(account: str, region: str, model_id: str, geo: str | None, tier: str) -> list[_Line | None] | None:
    """Per token kind (in :data:`KINDS` order): its line item's dimensions and per-token factors (None: no such price)."""
    model = catalog().models.get(model_id)
    if model is None:
        return None
    out: list[_Line | None] = []
    for kind in KINDS:
        found = rate(model_id, region, route_of(geo), tier, kind)
        out.append(
            None
            if found is None
            else (
                {
                    "SERVICE": model.billing_service,
                    "USAGE_TYPE": found.usage_type,
                    "REGION": region,
                    "LINKED_ACCOUNT": account,
                    "OPERATION": "Usage",
                    "RECORD_TYPE": "Usage",
                },
                Decimal(1) / found.unit_tokens,
                found.usd_per_million / _MILLION,
            )
        )
    return out


def _matches(expression: Mapping[str, Any], item: LineItem) -> bool:
    if "And" in expression:
        return all(_matches(e, item) for e in expression["And"])
    if "Or" in expression:
        return any(_matches(e, item) for e in expression["Or"])
    if "Not" in expression:
        return not _matches(expression["Not"], item)
    if "Dimensions" in expression:
        spec = expression["Dimensions"]
        if spec["Key"] not in DIMENSIONS:
            raise ValidationException(f"Unsupported dimension {spec['Key']}")
        return _value_matches(item.dimensions.get(spec["Key"]), spec)
    if "Tags" in expression:
        spec = expression["Tags"]
        return _value_matches(item.tags.get(spec["Key"]), spec)
    if "CostCategories" in expression:
        return False  # no cost categories in the emulated account
    raise ValidationException("Expression must contain one of And, Or, Not, Dimensions, Tags, CostCategories.")


def _value_matches(value: str | None, spec: Mapping[str, Any]) -> bool:
    options = spec.get("MatchOptions") or ["EQUALS"]
    values = spec.get("Values") or []
    if "ABSENT" in options:
        return value is None or value == ""
    if value is None:
        return False
    insensitive = "CASE_INSENSITIVE" in options
    subject = value.lower() if insensitive else value
    candidates = [v.lower() for v in values] if insensitive else list(values)
    if "STARTS_WITH" in options:
        return any(subject.startswith(c) for c in candidates)
    if "ENDS_WITH" in options:
        return any(subject.endswith(c) for c in candidates)
    if "CONTAINS" in options:
        return any(c in subject for c in candidates)
    return subject in candidates


def _periods(start: dt.date, end: dt.date, granularity: str) -> list[tuple[str, str, str]]:
    """(bucket key, period start, period end) covering [start, end)."""
    out = []
    if granularity == "MONTHLY":
        cursor = start
        while cursor < end:
            nxt = (cursor.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            out.append((cursor.strftime("%Y-%m-01"), cursor.isoformat(), min(nxt, end).isoformat()))
            cursor = nxt
    elif granularity == "DAILY":
        cursor = start
        while cursor < end:
            out.append((cursor.isoformat(), cursor.isoformat(), (cursor + dt.timedelta(days=1)).isoformat()))
            cursor += dt.timedelta(days=1)
    else:
        moment = dt.datetime.combine(start, dt.time(), dt.timezone.utc)
        stop = dt.datetime.combine(end, dt.time(), dt.timezone.utc)
        while moment < stop:
            key = moment.strftime("%Y-%m-%dT%H:00:00Z")
            out.append((key, key, (moment + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:00:00Z")))
            moment += dt.timedelta(hours=1)
    return out


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise ValidationException(f"{name} '{value}' is not a date in the format YYYY-MM-DD.") from None


def _amount(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.0000000001"), rounding=ROUND_HALF_UP).normalize(), "f") if value else "0"


_results_cache: dict[str, tuple[list[dict[str, Any]], list[Any]]] = {}


def get_cost_and_usage(account: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Computed once per query; its further pages come from the cache (same data generation and clock)."""
    key = json.dumps(
        [
            account,
            {k: v for k, v in params.items() if k != "NextPageToken"},
            str(telemetry.store().path),
            telemetry.store().generation,
            settings.settings().clock_offset_s,
            settings.settings().billing_lag_hours,
            settings.settings().billing_credits_usd,
            settings.settings().billing_discount_pct,
            _visible_minute(params),
            settings.now().date().isoformat(),  # the Estimated flags
        ],
        sort_keys=True,
        default=str,
    )
    if key not in _results_cache:
        if len(_results_cache) >= 8:  # a few queries' pages at a time (clients page several queries at once)
            del _results_cache[next(iter(_results_cache))]
        _results_cache[key] = _compute(account, params)
    results, group_by = _results_cache[key]
    return _page(results, params.get("NextPageToken"), group_by)


def _visible_minute(params: Mapping[str, Any]) -> int | None:
    """The minute up to which a query's period is billed by now (see line_items): a period that ended before the
    billing lag stays the same answer from minute to minute. None: no readable end (the query fails in _compute)."""
    try:
        end = dt.datetime.combine(_date(params["TimePeriod"]["End"], "End"), dt.time(), dt.timezone.utc).timestamp()
    except (KeyError, TypeError, ValidationException):
        return None
    return int(min(end, _visible_until()) // 60)


def _visible_until() -> float:
    """The moment before which usage is billed by now (the billing lag)."""
    return settings.now().timestamp() - settings.settings().billing_lag_hours * 3600


def _compute(account: str, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[Any]]:
    period = params["TimePeriod"]
    start, end = _date(period["Start"], "Start"), _date(period["End"], "End")
    if start >= end:
        raise ValidationException("Start date must be before End date (End is exclusive).")
    granularity = params.get("Granularity", "MONTHLY")
    metrics = params.get("Metrics") or []
    if not metrics:
        raise ValidationException("Metrics is required.")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValidationException(f"Unsupported metric(s): {', '.join(unknown)}")
    group_by = params.get("GroupBy") or []
    if len(group_by) > 2:
        raise ValidationException("You can group by at most two dimensions, tags or cost categories.")
    for group in group_by:
        if group["Type"] == "DIMENSION" and group["Key"] not in DIMENSIONS:
            raise ValidationException(f"Unsupported group-by dimension {group['Key']}")
    expression = params.get("Filter")
    start_ts = dt.datetime.combine(start, dt.time(), dt.timezone.utc).timestamp()
    end_ts = dt.datetime.combine(end, dt.time(), dt.timezone.utc).timestamp()
    totals: dict[str, dict[tuple[str, ...], list[Decimal]]] = defaultdict(lambda: defaultdict(lambda: [Decimal(0), Decimal(0)]))
    # Items share their dimension and tag mappings (see line_items): filter and group once per pair.
    verdicts: dict[tuple[int, int], tuple[str, ...] | None] = {}
    for item in line_items(account, start_ts, end_ts, granularity):
        pair = (id(item.dimensions), id(item.tags))
        if pair in verdicts:
            keys = verdicts[pair]
        else:
            keys = verdicts[pair] = (
                tuple(_group_key(group, item) for group in group_by) if not expression or _matches(expression, item) else None
            )
        if keys is None:
            continue
        bucket = totals[item.period][keys]
        bucket[0] += item.cost
        bucket[1] += item.usage
    results = []
    factor = net_factor()
    now = settings.now()
    for key, period_start, period_end in _periods(start, end, granularity):
        groups = totals.get(key, {})
        estimated = period_end >= now.date().isoformat()
        entry: dict[str, Any] = {"TimePeriod": {"Start": period_start, "End": period_end}, "Estimated": estimated}
        if group_by:
            entry["Total"] = {}
            entry["Groups"] = [
                {"Keys": list(k), "Metrics": _metric_values(metrics, v, factor)} for k, v in sorted(groups.items())
            ]
        else:
            total = groups.get((), [Decimal(0), Decimal(0)])
            entry["Total"] = _metric_values(metrics, total, factor)
            entry["Groups"] = []
        results.append(entry)
    return results, group_by


def _group_key(group: Mapping[str, str], item: LineItem) -> str:
    if group["Type"] == "TAG":
        return f"{group['Key']}${item.tags.get(group['Key'], '')}"
    if group["Type"] == "DIMENSION":
        return item.dimensions[group["Key"]]
    return f"{group['Key']}$"


def _metric_values(metrics: list[str], totals: list[Decimal], factor: Decimal | None = None) -> dict[str, dict[str, str]]:
    """The metrics of one group; each amount is formatted once (a report's query answers ~30,000 groups)."""
    out: dict[str, dict[str, str]] = {}
    cost = usage = net = None
    for m in metrics:
        if m in NET_METRICS:
            net = net or _amount(totals[0] * (factor if factor is not None else net_factor()))
            out[m] = {"Amount": net, "Unit": "USD"}
        elif m in COST_METRICS:
            cost = cost or _amount(totals[0])
            out[m] = {"Amount": cost, "Unit": "USD"}
        else:
            usage = usage or _amount(totals[1])
            out[m] = {"Amount": usage, "Unit": "N/A"}
    return out


def net_factor() -> Decimal:
    """What the account pays of list price (its private-pricing discount, ``SimSettings.billing_discount_pct``)."""
    return 1 - Decimal(str(settings.settings().billing_discount_pct)) / 100


def _page(results: list[dict[str, Any]], token: str | None, group_by: list[Any]) -> dict[str, Any]:
    """Whole periods per page, at most ``SimSettings.ce_page_groups`` groups in a page."""
    offset = 0
    if token:
        try:
            offset = int(base64.b64decode(token).decode())
        except ValueError:
            raise ValidationException("Invalid NextPageToken") from None
    limit = settings.settings().ce_page_groups
    page: list[dict[str, Any]] = []
    used = 0
    for entry in results[offset:]:
        size = max(1, len(entry["Groups"]))
        if page and used + size > limit:
            break
        page.append(entry)
        used += size
    out: dict[str, Any] = {
        "ResultsByTime": page,
        "GroupDefinitions": [{"Type": g["Type"], "Key": g["Key"]} for g in group_by],
        "DimensionValueAttributes": [],
    }
    if offset + len(page) < len(results):
        out["NextPageToken"] = base64.b64encode(str(offset + len(page)).encode()).decode()
    return out


def get_dimension_values(account: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Values of a dimension in the period (SearchString: case-insensitive substring)."""
    dimension = params["Dimension"]
    if dimension not in DIMENSIONS:
        raise ValidationException(f"Unsupported dimension {dimension}")
    start = _date(params["TimePeriod"]["Start"], "Start")
    end = _date(params["TimePeriod"]["End"], "End")
    start_ts = dt.datetime.combine(start, dt.time(), dt.timezone.utc).timestamp()
    end_ts = dt.datetime.combine(end, dt.time(), dt.timezone.utc).timestamp()
    search = str(params.get("SearchString") or "").lower()
    values = sorted(
        {
            item.dimensions[dimension]
            for item in line_items(account, start_ts, end_ts, "MONTHLY")
            if search in item.dimensions[dimension].lower()
        }
    )
    return {
        "DimensionValues": [{"Value": v, "Attributes": {}} for v in values],
        "ReturnSize": len(values),
        "TotalSize": len(values),
    }


def _window(params: Mapping[str, Any]) -> tuple[dt.date, dt.date, float, float]:
    start = _date(params["TimePeriod"]["Start"], "Start")
    end = _date(params["TimePeriod"]["End"], "End")
    if start >= end:
        raise ValidationException("Start date must be before End date (End is exclusive).")
    as_ts = [dt.datetime.combine(d, dt.time(), dt.timezone.utc).timestamp() for d in (start, end)]
    return start, end, as_ts[0], as_ts[1]


def get_tags(account: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Tag keys with billed usage in the period, or with ``TagKey`` that key's values (SearchString: substring)."""
    _, _, start_ts, end_ts = _window(params)
    expression = params.get("Filter")
    key = params.get("TagKey")
    found: set[str] = set()
    for item in line_items(account, start_ts, end_ts, "MONTHLY"):
        if expression and not _matches(expression, item):
            continue
        if key is None:
            found.update(item.tags)
        elif item.tags.get(key):
            found.add(item.tags[key])
    search = str(params.get("SearchString") or "")
    tags = sorted(t for t in found if search in t)
    return _token_page(tags, params, "Tags")


def _token_page(values: list[str], params: Mapping[str, Any], field: str) -> dict[str, Any]:
    offset = 0
    if params.get("NextPageToken"):
        try:
            offset = int(base64.b64decode(params["NextPageToken"]).decode())
        except ValueError:
            raise ValidationException("Invalid NextPageToken") from None
    size = int(params.get("MaxResults") or 1000)
    page = values[offset : offset + size]
    out: dict[str, Any] = {field: page, "ReturnSize": len(page), "TotalSize": len(values)}
    if offset + size < len(values):
        out["NextPageToken"] = base64.b64encode(str(offset + size).encode()).decode()
    return out


#: GetCostForecast metric -> what of a line item it adds up (the emulated account has no discounts or credits).
FORECAST_METRICS = {
    "UNBLENDED_COST": "cost",
    "BLENDED_COST": "cost",
    "AMORTIZED_COST": "cost",
    "NET_UNBLENDED_COST": "cost",
    "NET_AMORTIZED_COST": "cost",
    "USAGE_QUANTITY": "tokens",
}
#: Days of billed history a forecast is drawn from.
FORECAST_HISTORY_DAYS = 14
#: Two-sided normal quantiles for the prediction interval (PredictionIntervalLevel, 51-99; default 80).
_Z = {80: 1.2816, 90: 1.6449, 95: 1.96, 99: 2.5758}


class DataUnavailableException(ValidationException):
    code, status = "DataUnavailableException", 400


def get_cost_forecast(account: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A forecast from the mean and spread of the last billed days (same filter), for each day or month ahead."""
    start, end, _, _ = _window(params)
    today = settings.now().date()
    if start < today:
        raise ValidationException(f"Start date {start} is before today ({today}): a forecast starts today or later.")
    metric = params.get("Metric", "")
    if metric not in FORECAST_METRICS:
        raise ValidationException(f"Metric {metric!r} must be one of {', '.join(FORECAST_METRICS)}.")
    granularity = params.get("Granularity", "MONTHLY")
    if granularity not in ("DAILY", "MONTHLY"):
        raise ValidationException("Granularity must be DAILY or MONTHLY for a forecast.")
    level = int(params.get("PredictionIntervalLevel") or 80)
    if not 51 <= level <= 99:
        raise ValidationException("PredictionIntervalLevel must be between 51 and 99.")
    history_start = today - dt.timedelta(days=FORECAST_HISTORY_DAYS)
    daily: dict[str, Decimal] = defaultdict(Decimal)
    start_ts = dt.datetime.combine(history_start, dt.time(), dt.timezone.utc).timestamp()
    end_ts = dt.datetime.combine(today, dt.time(), dt.timezone.utc).timestamp()
    expression = params.get("Filter")
    for item in line_items(account, start_ts, end_ts, "DAILY"):
        if expression and not _matches(expression, item):
            continue
        daily[item.period] += item.cost if FORECAST_METRICS[metric] == "cost" else item.usage
    if not daily:
        raise DataUnavailableException("Insufficient amount of historical data to generate forecast.")
    days = [daily.get(d, Decimal(0)) for d, _, _ in _periods(min(dt.date.fromisoformat(p) for p in daily), today, "DAILY")]
    mean = sum(days, Decimal(0)) / len(days)
    variance = sum(((d - mean) ** 2 for d in days), Decimal(0)) / len(days)
    spread = variance.sqrt()
    z = Decimal(str(_Z.get(level, 1.2816 + (level - 80) * 0.0333)))
    unit = "USD" if FORECAST_METRICS[metric] == "cost" else "N/A"
    results, total = [], Decimal(0)
    for _, period_start, period_end in _periods(start, end, granularity):
        n = (dt.date.fromisoformat(period_end) - dt.date.fromisoformat(period_start)).days
        value, width = mean * n, z * spread * Decimal(n).sqrt()
        total += value
        results.append(
            {
                "TimePeriod": {"Start": period_start, "End": period_end},
                "MeanValue": _amount(value),
                "PredictionIntervalLowerBound": _amount(max(Decimal(0), value - width)),
                "PredictionIntervalUpperBound": _amount(value + width),
            }
        )
    return {"Total": {"Amount": _amount(total), "Unit": unit}, "ForecastResultsByTime": results}
