"""CloudWatch adapter: AWS/Bedrock metrics per model id, many at once (GetMetricData, 500 queries a call)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target

NAMESPACE = "AWS/Bedrock"
MAX_QUERIES = 500
#: Batches of one read in flight at once. GetMetricData allows 50 requests per second per account and Region
#: (CloudWatch service quotas); a 30-day report of 1,000 callers sends 42 batches.
IN_FLIGHT = 4
#: The token counts a call is priced from: input, output, cache read, cache write (in this order).
TOKEN_METRICS = (
    ("InputTokenCount", "Sum"),
    ("OutputTokenCount", "Sum"),
    ("CacheReadInputTokenCount", "Sum"),
    ("CacheWriteInputTokenCount", "Sum"),
)


class BedrockMetrics:
    def __init__(self, target: Target) -> None:
        self.client = target.client("cloudwatch", validated=False)  # the queries are built below, 500 a call

    @requires("cloudwatch:GetMetricData")
    def values(
        self, model_ids: Sequence[str], metrics: Sequence[tuple[str, str]], start: dt.datetime, end: dt.datetime, period: int
    ) -> dict[tuple[str, str, str], list[tuple[dt.datetime, float]]]:
        """(model id, metric, stat) -> [(timestamp, value)] oldest first, for every combination.

        The queries go in batches of 500, :data:`IN_FLIGHT` batches at a time: one after another, a report's 42
        batches waited for each other's round trips."""
        queries: list[dict[str, Any]] = []
        keys: dict[str, tuple[str, str, str]] = {}
        for i, model_id in enumerate(model_ids):
            for j, (metric, stat) in enumerate(metrics):
                query_id = f"q{i}_{j}"
                keys[query_id] = (model_id, metric, stat)
                queries.append(
                    {
                        "Id": query_id,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": NAMESPACE,
                                "MetricName": metric,
                                "Dimensions": [{"Name": "ModelId", "Value": model_id}],
                            },
                            "Period": period,
                            "Stat": stat,
                        },
                    }
                )
        out: dict[tuple[str, str, str], list[tuple[dt.datetime, float]]] = {key: [] for key in keys.values()}
        batches = [queries[at : at + MAX_QUERIES] for at in range(0, len(queries), MAX_QUERIES)]
        with ThreadPoolExecutor(max_workers=min(IN_FLIGHT, len(batches)) or 1, thread_name_prefix="aipctl-metrics") as pool:
            for results in pool.map(lambda batch: self._results(batch, start, end), batches):
                for result in results:
                    out[keys[result["Id"]]].extend(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
        return out

    @requires("cloudwatch:GetMetricData")
    def _results(self, queries: list[dict[str, Any]], start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        """Every MetricDataResult of one batch (up to 500 queries), all its pages."""
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        results: list[dict[str, Any]] = []
        while True:
            with aws_call("cloudwatch", "GetMetricData"):
                page = self.client.get_metric_data(**kwargs)
            results += page.get("MetricDataResults", [])
            if not page.get("NextToken"):
                return results
            kwargs["NextToken"] = page["NextToken"]


class Alarms:
    """CloudWatch alarms aipctl manages (names start with ``aipctl-<inventory>-``)."""

    def __init__(self, target: Target) -> None:
        self.client = target.client("cloudwatch")

    @requires("cloudwatch:DescribeAlarms")
    def managed(self, prefix: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"AlarmNamePrefix": prefix, "AlarmTypes": ["MetricAlarm"]}
        while True:
            with aws_call("cloudwatch", "DescribeAlarms", prefix):
                page = self.client.describe_alarms(**kwargs)
            for alarm in page.get("MetricAlarms", []):
                out[alarm["AlarmName"]] = alarm
            if not page.get("NextToken"):
                return out
            kwargs["NextToken"] = page["NextToken"]

    @requires("cloudwatch:PutMetricAlarm", "cloudwatch:TagResource")
    def put(self, spec: dict[str, Any]) -> None:
        with aws_call("cloudwatch", "PutMetricAlarm", spec["AlarmName"]):
            self.client.put_metric_alarm(**spec)

    @requires("cloudwatch:DeleteAlarms")
    def delete(self, names: Sequence[str]) -> None:
        for start in range(0, len(names), 100):
            with aws_call("cloudwatch", "DeleteAlarms"):
                self.client.delete_alarms(AlarmNames=list(names[start : start + 100]))
