"""The ``AWS/Bedrock`` CloudWatch namespace, computed from the runtime call rows.

Dimension ``ModelId`` is the model id a call resolved to for metrics: an AIP's short id for calls
through an AIP (what public code queries), the profile or model id otherwise; a query without
dimensions covers every model. Per call: Invocations 1 (successful calls), InvocationLatency in ms,
Input/Output/CacheRead/CacheWrite token counts, and 1 in InvocationClientErrors (4xx),
InvocationServerErrors (5xx) or InvocationThrottles (429) for failed calls.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
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
        f"AND {condition}{where}",
        (period, period, account, region, start, end, *args),
    )
    buckets: dict[float, list[float]] = defaultdict(list)
    for bucket, sample in rows:
        buckets[float(bucket)].append(float(sample))
    return buckets


def samples_by_model(
    account: str, region: str, metric: str, model_ids: set[str], start: float, end: float, period: int
) -> dict[str, dict[float, list[float]]]:
    """model id -> period start -> sample values, for many model ids in one pass."""
    if metric not in METRICS:
        return {}
    value, condition, _ = METRICS[metric]
    rows = telemetry.store().query(
        f"SELECT metric_id, CAST(ts / ? AS INTEGER) * ?, {value} FROM calls WHERE account = ? AND region = ? "
        f"AND ts >= ? AND ts < ? AND {condition}",
        (period, period, account, region, start, end),
    )
    out: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for model_id, bucket, sample in rows:
        if model_id in model_ids:
            out[model_id][float(bucket)].append(float(sample))
    return out


def statistic(values: list[float], stat: str) -> float:
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
        ordered = sorted(values)
        return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]  # nearest rank
    raise ValidationException(f"Unsupported statistic {stat}")


def unit(metric: str) -> str:
    return METRICS.get(metric, ("", "", "None"))[2]
