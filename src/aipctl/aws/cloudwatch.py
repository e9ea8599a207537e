"""CloudWatch adapter: AWS/Bedrock metrics per model id, many at once (GetMetricData, 500 queries a call)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target

NAMESPACE = "AWS/Bedrock"
MAX_QUERIES = 500
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
        """(model id, metric, stat) -> [(timestamp, value)] oldest first, for every combination."""
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
        for batch_start in range(0, len(queries), MAX_QUERIES):
            kwargs: dict[str, Any] = {
                "MetricDataQueries": queries[batch_start : batch_start + MAX_QUERIES],
                "StartTime": start,
                "EndTime": end,
                "ScanBy": "TimestampAscending",
            }
            while True:
                with aws_call("cloudwatch", "GetMetricData"):
                    page = self.client.get_metric_data(**kwargs)
                for result in page.get("MetricDataResults", []):
                    out[keys[result["Id"]]].extend(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        return out


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
