"""The ``AWS/Bedrock`` CloudWatch namespace, computed from the runtime call rows.

Dimension ``ModelId`` is the model id a call resolved to for metrics: an AIP's short id for calls
through an AIP (what public code queries), the profile or model id otherwise; a query without
dimensions covers every model. Per call: Invocations 1 (successful calls), InvocationLatency in ms,
Input/Output/CacheRead/CacheWrite token counts, and 1 in InvocationClientErrors (4xx),
InvocationServerErrors (5xx) or InvocationThrottles (429) for failed calls. A call that never
reached a model — an unknown model or AIP, a model that takes no on-demand calls, a call IAM
denied — publishes nothing: there is no model to publish it under.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aipctl_sim import telemetry
from aipctl_sim.protocol import ValidationException

NAMESPACE = "AWS/Bedrock"
_SERVER_ERRORS = ("InternalServerException", "ServiceUnavailableException", "ModelErrorException", "ModelStreamErrorException")
#: metric -> (SQL value expression, SQL condition, unit)
METRICS: dict[str, tuple[str, str, str]] = {
    "Invocations": ("1", "status = 'ok'", "Count"),
    "InvocationLatency": ("latency_ms", "status = 'ok'", "Milliseconds"),
    "InputTokenCount": ("input_tokens", "status = 'ok'", "Count"),
    "OutputTokenCount": ("output_tokens", "status = 'ok'", "Count"),
    "CacheReadInputTokenCount": ("cache_read", "status = 'ok'", "Count"),
    "CacheWriteInputTokenCount": ("cache_write", "status = 'ok'", "Count"),
    "InvocationThrottles": ("1", "status = 'ThrottlingException'", "Count"),
    "InvocationServerErrors": ("1", f"status IN ({','.join(repr(c) for c in _SERVER_ERRORS)})", "Count"),
    "InvocationClientErrors": (
        "1",
        f"status NOT IN ('ok', 'ThrottlingException', {','.join(repr(c) for c in _SERVER_ERRORS)})",
        "Count",
    ),
}
BASIC = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
DAY = 86400
#: A metric's value expression -> its (sum, min, max) in ``call_days``.
_ROLLUP_VALUES = {
    "1": ("calls", "1", "1"),
    "latency_ms": ("latency_sum", "latency_min", "latency_max"),
    "input_tokens": ("input_tokens", "input_tokens", "input_tokens"),
    "output_tokens": ("output_tokens", "output_tokens", "output_tokens"),
    "cache_read": ("cache_read", "cache_read", "cache_read"),
    "cache_write": ("cache_write", "cache_write", "cache_write"),
}
#: Rows of calls that reached a model (the runtime records the others with no base model).
#: Calls that reached a model on bedrock-runtime (bedrock-mantle reports to its own namespace, AWS/BedrockMantle).
REACHED = "base_model != '' AND operation NOT LIKE 'mantle:%' AND operation NOT LIKE 'batch:%'"


def _model_filter(dimensions: Sequence[Mapping[str, str]]) -> tuple[str, list[Any]]:
    if not dimensions:
        return "", []
    for dim in dimensions:
        if dim["Name"] != "ModelId":
            return " AND 0", []  # AWS/Bedrock publishes no other dimension
    return " AND metric_id = ?", [dimensions[0]["Value"]]


def samples(
    account: str, region: str, metric: str, dimensions: Sequence[Mapping[str, str]], start: float, end: float, period: int
) -> dict[float, list[float]]:
    """Per period start: the sample values of ``metric``."""
    if metric not in METRICS:
        return {}
    value, condition, _ = METRICS[metric]
    where, args = _model_filter(dimensions)
    rows = telemetry.store().query(
        f"SELECT CAST(ts / ? AS INTEGER) * ?, {value} FROM calls WHERE account = ? AND region = ? AND ts >= ? AND ts < ? "
        f"AND {condition} AND {REACHED}{where}",
        (period, period, account, region, start, end, *args),
    )
    buckets: dict[float, list[float]] = defaultdict(list)
    for bucket, sample in rows:
        buckets[float(bucket)].append(float(sample))
    for values in buckets.values():
        values.sort()  # statistic() reads percentiles from sorted samples
    return buckets


@dataclass
class Aggregate:
    """Sum/count/min/max of a bucket, computed in SQL when no percentile is needed."""

    total: float
    count: int
    low: float
    high: float


def samples_by_model(
    account: str,
    region: str,
    metric: str,
    model_ids: set[str],
    start: float,
    end: float,
    period: int,
    need_values: bool,
    need_extremes: bool = True,
) -> dict[str, dict[float, list[float] | Aggregate]]:
    """model id -> period start -> sample values (or their SQL aggregate), for many model ids in one query.

    Sums and counts over whole days come from the daily rollup (``call_days``); so do Minimum and Maximum
    where it keeps them per call (latency), else (``need_extremes`` for token metrics) the calls are read."""
    if metric not in METRICS or not model_ids:
        return {}
    value, condition, _ = METRICS[metric]
    ids = sorted(model_ids)
    marks = ",".join("?" * len(ids))
    bucket = "CAST(ts / ? AS INTEGER) * ?"
    where = f"account = ? AND region = ? AND metric_id IN ({marks}) AND ts >= ? AND ts < ? AND {condition} AND {REACHED}"
    args = (period, period, account, region, *ids, start, end)
    out: dict[str, dict[float, list[float] | Aggregate]] = defaultdict(dict)
    if need_values:
        # One row per bucket with its samples joined by SQLite (which lets go of the GIL while it scans), split
        # and sorted by C loops: a 30-day percentile read of 1,000 AIPs is 300,000 samples, and a Python tuple
        # and loop turn per sample were most of the emulator's time in it. The value columns are integers, so
        # their text form is exact.
        for model_id, at, joined in telemetry.store().query(
            f"SELECT metric_id, {bucket}, group_concat({value}) FROM calls WHERE {where} GROUP BY 1, 2", args
        ):
            out[model_id][float(at)] = sorted(map(float, joined.split(",")))  # statistic() reads sorted samples
        return out
    if from_rollup(metric, start, end, period, need_extremes):
        total, low, high = _ROLLUP_VALUES[value]
        sql = (
            f"SELECT metric_id, CAST(day * 86400 / ? AS INTEGER) * ?, SUM({total}), SUM(calls), MIN({low}), MAX({high}) "
            f"FROM call_days WHERE account = ? AND region = ? AND metric_id IN ({marks}) AND day >= ? AND day < ? "
            f"AND {condition} AND reached = 1 GROUP BY 1, 2"
        )
        args = (period, period, account, region, *ids, int(start // DAY), int(end // DAY))
    else:
        sql = (
            f"SELECT metric_id, {bucket}, SUM({value}), COUNT(*), MIN({value}), MAX({value}) "
            f"FROM calls WHERE {where} GROUP BY 1, 2"
        )
    for model_id, at, total_value, count, low_value, high_value in telemetry.store().query(sql, args):
        out[model_id][float(at)] = Aggregate(float(total_value), int(count), float(low_value), float(high_value))
    return out


def from_rollup(metric: str, start: float, end: float, period: int, need_extremes: bool) -> bool:
    """Whether the daily rollup answers ``metric`` (sums and counts over whole days; per-call extremes of latency)."""
    whole_days = period % DAY == 0 and start % DAY == 0 and end % DAY == 0
    return whole_days and not (need_extremes and METRICS[metric][0].endswith(("_tokens", "cache_read", "cache_write")))


#: Per metric: which ``call_days`` statuses it counts (the Python form of its SQL condition in METRICS).
_COUNTS_STATUS: dict[str, Callable[[str], bool]] = {
    "InvocationThrottles": lambda status: status == "ThrottlingException",
    "InvocationServerErrors": lambda status: status in _SERVER_ERRORS,
    "InvocationClientErrors": lambda status: status not in ("ok", "ThrottlingException", *_SERVER_ERRORS),
}
_ROLLUP_COLUMNS = ("calls", "input_tokens", "output_tokens", "cache_read", "cache_write", "latency_sum")


def rollups_by_model(
    account: str, region: str, wanted: Mapping[str, set[str]], start: float, end: float, period: int
) -> dict[str, dict[str, dict[float, list[float] | Aggregate]]]:
    """metric -> model id -> period start -> Aggregate, for several metrics of the daily rollup in one SQL pass.

    What samples_by_model answers per metric, with one scan of ``call_days`` for all of them (a
    GetMetricData call of 500 queries usually asks 4-7 metrics over the same models and period)."""
    ids = sorted(set().union(*wanted.values())) if wanted else []
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    sums = ", ".join(f"SUM({c})" for c in _ROLLUP_COLUMNS)
    rows = telemetry.store().query(
        f"SELECT metric_id, CAST(day * 86400 / ? AS INTEGER) * ?, status, {sums}, MIN(latency_min), MAX(latency_max), "
        "MIN(input_tokens), MAX(input_tokens), MIN(output_tokens), MAX(output_tokens), "
        "MIN(cache_read), MAX(cache_read), MIN(cache_write), MAX(cache_write) "
        f"FROM call_days WHERE account = ? AND region = ? AND metric_id IN ({marks}) AND day >= ? AND day < ? "
        "AND reached = 1 GROUP BY 1, 2, 3",
        (period, period, account, region, *ids, int(start // DAY), int(end // DAY)),
    )
    out: dict[str, dict[str, dict[float, list[float] | Aggregate]]] = {m: defaultdict(dict) for m in wanted}
    for model_id, at, status, calls, tin, tout, cread, cwrite, lsum, lmin, lmax, *extremes in rows:
        for metric, models in wanted.items():
            if model_id not in models:
                continue
            value = METRICS[metric][0]
            if metric in _COUNTS_STATUS:
                if not _COUNTS_STATUS[metric](status):
                    continue
                total, low, high = float(calls), 1.0, 1.0
            elif status != "ok":
                continue
            elif value == "1":
                total, low, high = float(calls), 1.0, 1.0
            elif value == "latency_ms":
                total, low, high = float(lsum), float(lmin), float(lmax)
            else:
                index = ("input_tokens", "output_tokens", "cache_read", "cache_write").index(value)
                total = float((tin, tout, cread, cwrite)[index])
                low, high = float(extremes[2 * index]), float(extremes[2 * index + 1])
            buckets = out[metric][model_id]
            found = buckets.get(float(at))
            if isinstance(found, Aggregate):  # several statuses of one metric (client and server errors)
                buckets[float(at)] = Aggregate(
                    found.total + total, found.count + int(calls), min(found.low, low), max(found.high, high)
                )
            else:
                buckets[float(at)] = Aggregate(total, int(calls), low, high)
    return out


def model_ids(account: str, region: str) -> list[str]:
    """Every ModelId the account has metrics for in the Region."""
    rows = telemetry.store().query(
        "SELECT DISTINCT metric_id FROM call_days WHERE account = ? AND region = ? AND reached = 1 ORDER BY 1", (account, region)
    )  # the daily rollup has every call's metric id: a scan of 46 k rows instead of 450 k
    return [str(model_id) for (model_id,) in rows]


def statistic(values: list[float] | Aggregate, stat: str) -> float:
    """One statistic of a bucket; ``values`` are sorted ascending (as samples() returns them)."""
    if isinstance(values, Aggregate):
        simple = {
            "SampleCount": float(values.count),
            "Sum": values.total,
            "Average": values.total / values.count,
            "Minimum": values.low,
            "Maximum": values.high,
        }
        if stat not in simple:
            raise ValidationException(f"Statistic {stat} needs the sample values")
        return simple[stat]
    if stat == "SampleCount":
        return float(len(values))
    if stat == "Sum":
        return float(sum(values))
    if stat == "Average":
        return sum(values) / len(values)
    if stat == "Minimum":
        return min(values)
    if stat == "Maximum":
        return max(values)
    if stat.startswith("p"):
        try:
            rank = float(stat[1:])
        except ValueError:
            raise ValidationException(f"Unsupported statistic {stat}") from None
        return values[max(0, math.ceil(rank / 100 * len(values)) - 1)]  # nearest rank; samples are sorted
    raise ValidationException(f"Unsupported statistic {stat}")


def unit(metric: str) -> str:
    return METRICS.get(metric, ("", "", "None"))[2]
