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
from collections.abc import Mapping, Sequence
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
REACHED = "base_model != '' AND operation NOT LIKE 'mantle:%'"


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
        for model_id, at, sample in telemetry.store().query(
            f"SELECT metric_id, {bucket}, {value} FROM calls WHERE {where}", args
        ):
            values = out[model_id].setdefault(float(at), [])
            assert isinstance(values, list)
            values.append(float(sample))
        for buckets in out.values():
            for values in buckets.values():
                if isinstance(values, list):
                    values.sort()  # statistic() reads percentiles from sorted samples
        return out
    whole_days = period % DAY == 0 and start % DAY == 0 and end % DAY == 0
    if whole_days and not (need_extremes and value.endswith(("_tokens", "cache_read", "cache_write"))):
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


def model_ids(account: str, region: str) -> list[str]:
    """Every ModelId the account has metrics for in the Region."""
    rows = telemetry.store().query(
        f"SELECT DISTINCT metric_id FROM calls WHERE account = ? AND region = ? AND {REACHED} ORDER BY 1", (account, region)
    )
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
