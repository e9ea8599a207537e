"""GetMetricStatistics, GetMetricData and ListMetrics for AWS/Bedrock; moto serves other namespaces."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from aipctl_sim import telemetry
from aipctl_sim.cloudwatch.metrics import BASIC, METRICS, NAMESPACE, Aggregate, samples, samples_by_model, statistic, unit
from aipctl_sim.protocol import Request, ValidationException


def _epoch(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _when(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc)


def get_metric_statistics(req: Request) -> dict[str, Any]:
    p = req.params
    stats, extended = p.get("Statistics") or [], p.get("ExtendedStatistics") or []
    if not stats and not extended:
        raise ValidationException("Either Statistics or ExtendedStatistics must be specified.")
    period = int(p["Period"])
    buckets = samples(
        req.account_id,
        req.region,
        p["MetricName"],
        p.get("Dimensions") or [],
        _epoch(p["StartTime"]),
        _epoch(p["EndTime"]),
        period,
    )
    points = []
    for bucket, values in sorted(buckets.items()):
        point: dict[str, Any] = {"Timestamp": _when(bucket), "Unit": unit(p["MetricName"])}
        for stat in stats:
            point[stat] = statistic(values, stat)
        if extended:
            point["ExtendedStatistics"] = {e: statistic(values, e) for e in extended}
        points.append(point)
    return {"Label": p["MetricName"], "Datapoints": points}


def get_metric_data(req: Request) -> dict[str, Any]:
    p = req.params
    start, end = _epoch(p["StartTime"]), _epoch(p["EndTime"])
    ascending = p.get("ScanBy") == "TimestampAscending"
    # Queries on one ModelId each are answered from one pass per (metric, period), not one each.
    grouped: dict[tuple[str, int], set[str]] = {}
    percentiles: set[tuple[str, int]] = set()
    for query in p["MetricDataQueries"]:
        model_id = _single_model(query["MetricStat"]["Metric"])
        if model_id is not None:
            key = (query["MetricStat"]["Metric"]["MetricName"], int(query["MetricStat"]["Period"]))
            grouped.setdefault(key, set()).add(model_id)
            if query["MetricStat"]["Stat"] not in BASIC:
                percentiles.add(key)
    passes = {
        key: samples_by_model(req.account_id, req.region, key[0], ids, start, end, key[1], need_values=key in percentiles)
        for key, ids in grouped.items()
    }
    results = []
    for query in p["MetricDataQueries"]:
        stat_spec = query["MetricStat"]
        metric = stat_spec["Metric"]
        period = int(stat_spec["Period"])
        model_id = _single_model(metric)
        buckets: Mapping[float, list[float] | Aggregate]
        if model_id is not None:
            buckets = passes[(metric["MetricName"], period)].get(model_id, {})
        else:
            buckets = samples(
                req.account_id, req.region, metric["MetricName"], metric.get("Dimensions") or [], start, end, period
            )
        ordered = sorted(buckets.items(), reverse=not ascending)
        if query.get("ReturnData", True):
            results.append(
                {
                    "Id": query["Id"],
                    "Label": query.get("Label") or metric["MetricName"],
                    "StatusCode": "Complete",
                    "Timestamps": [_when(b) for b, _ in ordered],
                    "Values": [statistic(v, stat_spec["Stat"]) for _, v in ordered],
                }
            )
    return {"MetricDataResults": results, "Messages": []}


def _single_model(metric: dict[str, Any]) -> str | None:
    dims = metric.get("Dimensions") or []
    return str(dims[0]["Value"]) if len(dims) == 1 and dims[0]["Name"] == "ModelId" else None


def list_metrics(req: Request) -> dict[str, Any]:
    rows = telemetry.store().query(
        "SELECT DISTINCT metric_id FROM calls WHERE account = ? AND region = ? ORDER BY 1", (req.account_id, req.region)
    )
    wanted = req.params.get("MetricName")
    metrics = [
        {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": [{"Name": "ModelId", "Value": model_id}]}
        for (model_id,) in rows
        for name in METRICS
        if not wanted or name == wanted
    ]
    return {"Metrics": metrics}


def is_ours(req: Request) -> bool:
    p = req.params
    if req.operation == "GetMetricData":
        queries = p.get("MetricDataQueries") or []
        return bool(queries) and all(
            "MetricStat" in q and q["MetricStat"]["Metric"].get("Namespace") == NAMESPACE and not q.get("Expression")
            for q in queries
        )
    return p.get("Namespace") == NAMESPACE


__all__ = ["BASIC", "get_metric_data", "get_metric_statistics", "is_ours", "list_metrics"]
