"""GetMetricStatistics, GetMetricData and ListMetrics for AWS/Bedrock; moto serves other namespaces."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from math import isnan
from typing import Any

from aipctl_sim.cloudwatch import math
from aipctl_sim.cloudwatch.metrics import (
    BASIC,
    METRICS,
    NAMESPACE,
    Aggregate,
    from_rollup,
    model_ids,
    rollups_by_model,
    samples,
    samples_by_model,
    statistic,
    unit,
)
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
    """MetricStat queries, metric math, SEARCH and Metrics Insights, in one request (see cloudwatch.math)."""
    p = req.params
    start, end = _epoch(p["StartTime"]), _epoch(p["EndTime"])
    queries = {q["Id"]: q for q in p["MetricDataQueries"]}
    passes = _stat_passes(req, queries.values(), start, end)
    done: dict[str, math.Value] = {}
    busy: set[str] = set()

    def resolve(query_id: str) -> math.Value:
        if query_id in done:
            return done[query_id]
        if query_id not in queries:
            raise math.ValidationException(f"Invalid metrics data query id: {query_id} is not the Id of a query in this request")
        if query_id in busy:
            raise math.ValidationException(f"Circular dependency between the expressions of query {query_id}")
        busy.add(query_id)
        done[query_id] = _one_query(req, queries[query_id], ctx, passes)
        busy.discard(query_id)
        return done[query_id]

    ctx = math.Context(req.account_id, req.region, start, end, resolve, [i for i, q in queries.items() if "MetricStat" in q])
    ascending = p.get("ScanBy") == "TimestampAscending"
    results = []
    for query_id, query in queries.items():
        if not query.get("ReturnData", True):
            continue
        period = int(query.get("Period") or (query.get("MetricStat") or {}).get("Period") or 60)
        for series in math.as_series(resolve(query_id), ctx, period):
            ordered = sorted(((t, v) for t, v in series.points.items() if not isnan(v)), reverse=not ascending)
            label = query.get("Label") or series.label or query_id
            if query.get("Label") and series.label and len(math.as_series(done[query_id], ctx, period)) > 1:
                label = f"{query['Label']} {series.label}"
            results.append(
                {
                    "Id": query_id,
                    "Label": label,
                    "StatusCode": "Complete",
                    "Timestamps": [t for t, _ in ordered],  # epoch seconds: what the JSON protocol sends
                    "Values": [v for _, v in ordered],
                }
            )
    return {"MetricDataResults": results, "Messages": []}


def _stat_passes(
    req: Request, queries: Iterable[Mapping[str, Any]], start: float, end: float
) -> dict[tuple[str, int], dict[str, dict[float, list[float] | Aggregate]]]:
    """MetricStat queries on one ModelId each, answered from one pass per (metric, period), not one each."""
    grouped: dict[tuple[str, int], set[str]] = {}
    percentiles: set[tuple[str, int]] = set()
    extremes: set[tuple[str, int]] = set()
    for query in queries:
        if "MetricStat" not in query:
            continue
        model_id = _single_model(query["MetricStat"]["Metric"])
        if model_id is not None:
            key = (query["MetricStat"]["Metric"]["MetricName"], int(query["MetricStat"]["Period"]))
            grouped.setdefault(key, set()).add(model_id)
            if query["MetricStat"]["Stat"] not in BASIC:
                percentiles.add(key)
            if query["MetricStat"]["Stat"] in ("Minimum", "Maximum"):
                extremes.add(key)
    out: dict[tuple[str, int], dict[str, dict[float, list[float] | Aggregate]]] = {}
    combined: dict[int, dict[str, set[str]]] = {}  # period -> metric -> models: one rollup scan per period
    for (metric, period), ids in grouped.items():
        needs_values, needs_extremes = (metric, period) in percentiles, (metric, period) in extremes
        if metric in METRICS and not needs_values and from_rollup(metric, start, end, period, needs_extremes):
            combined.setdefault(period, {})[metric] = ids
            continue
        out[(metric, period)] = samples_by_model(
            req.account_id,
            req.region,
            metric,
            ids,
            start,
            end,
            period,
            need_values=needs_values,
            need_extremes=needs_extremes,
        )
    for period, wanted in combined.items():
        for metric, by_model in rollups_by_model(req.account_id, req.region, wanted, start, end, period).items():
            out[(metric, period)] = by_model
    return out


def _one_query(
    req: Request,
    query: Mapping[str, Any],
    ctx: math.Context,
    passes: Mapping[tuple[str, int], Mapping[str, Mapping[float, list[float] | Aggregate]]],
) -> math.Value:
    if "Expression" in query:
        expression = str(query["Expression"])
        if expression.lstrip().upper().startswith("SELECT"):
            if not query.get("Period"):
                raise math.ValidationException(f"Query {query['Id']}: a Metrics Insights query needs a Period")
            return math.insights(ctx, expression, int(query["Period"]))
        return math.evaluate(expression, ctx)
    stat_spec = query["MetricStat"]
    metric = stat_spec["Metric"]
    period = int(stat_spec["Period"])
    model_id = _single_model(metric)
    buckets: Mapping[float, list[float] | Aggregate]
    if model_id is not None:
        buckets = passes[(metric["MetricName"], period)].get(model_id, {})
    else:
        buckets = samples(
            req.account_id, req.region, metric["MetricName"], metric.get("Dimensions") or [], ctx.start, ctx.end, period
        )
    return math.Series({t: statistic(v, stat_spec["Stat"]) for t, v in buckets.items()}, period, metric["MetricName"])


def _single_model(metric: dict[str, Any]) -> str | None:
    dims = metric.get("Dimensions") or []
    return str(dims[0]["Value"]) if len(dims) == 1 and dims[0]["Name"] == "ModelId" else None


def list_metrics(req: Request) -> dict[str, Any]:
    wanted = req.params.get("MetricName")
    metrics = [
        {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": [{"Name": "ModelId", "Value": model_id}]}
        for model_id in model_ids(req.account_id, req.region)
        for name in METRICS
        if not wanted or name == wanted
    ]
    return {"Metrics": metrics}


def is_ours(req: Request) -> bool:
    """AWS/Bedrock is answered here: metric queries in that namespace and expressions over them (moto has the rest)."""
    p = req.params
    if req.operation == "GetMetricData":
        queries = p.get("MetricDataQueries") or []
        stats = [q for q in queries if "MetricStat" in q]
        expressions = [str(q.get("Expression", "")) for q in queries if "MetricStat" not in q]
        ours = all(q["MetricStat"]["Metric"].get("Namespace") == NAMESPACE for q in stats)
        aimed = any(NAMESPACE in e for e in expressions)
        return bool(queries) and ours and (bool(stats) or aimed)
    return p.get("Namespace") == NAMESPACE


__all__ = ["BASIC", "get_metric_data", "get_metric_statistics", "is_ours", "list_metrics"]
