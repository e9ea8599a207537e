"""GetMetricData with expressions (metric math, SEARCH, Metrics Insights) over AWS/Bedrock, with real boto3.

Expected figures come from the usage each call returned, not from the emulator's code.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import SONNET_PROFILE

MESSAGES = [{"role": "user", "content": [{"text": "How many tokens did the chat team use today?"}]}]


@pytest.fixture
def traffic(session, emulator: str, bedrock) -> dict[str, Any]:
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    usage: dict[str, list[dict[str, int]]] = {}
    ids = {}
    for name, calls in (("chat-sonnet", 3), ("batch-sonnet", 2)):
        arn = bedrock.create_inference_profile(inferenceProfileName=name, modelSource={"copyFrom": SONNET_PROFILE})[
            "inferenceProfileArn"
        ]
        ids[name] = arn.rsplit("/", 1)[-1]
        usage[ids[name]] = [
            runtime.converse(modelId=arn, messages=MESSAGES, inferenceConfig={"maxTokens": 20 + 7 * i})["usage"]
            for i in range(calls)
        ]
    return {"ids": ids, "usage": usage, "cloudwatch": session.client("cloudwatch", endpoint_url=emulator)}


def _stat(query_id: str, metric: str, model_id: str, period: int = 3600, *, returned: bool = True) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": "AWS/Bedrock", "MetricName": metric, "Dimensions": [{"Name": "ModelId", "Value": model_id}]},
            "Period": period,
            "Stat": "Sum",
        },
        "ReturnData": returned,
    }


def _window() -> dict[str, dt.datetime]:
    """Three whole hours ending with the current one, so the number of hourly periods never depends on the minute."""
    hour = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    return {"StartTime": hour - dt.timedelta(hours=2), "EndTime": hour + dt.timedelta(hours=1)}


def _results(answer: dict[str, Any]) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {}
    for result in answer["MetricDataResults"]:
        out.setdefault(result["Id"], []).extend((result["Label"], v) for v in result["Values"])
    return out


def test_metric_math_combines_series_and_keeps_plain_queries(traffic: dict[str, Any]) -> None:
    chat = traffic["ids"]["chat-sonnet"]
    calls = traffic["usage"][chat]
    tokens_in = sum(u["inputTokens"] for u in calls)
    tokens_out = sum(u["outputTokens"] for u in calls)
    answer = traffic["cloudwatch"].get_metric_data(
        MetricDataQueries=[
            _stat("tin", "InputTokenCount", chat, returned=False),
            _stat("tout", "OutputTokenCount", chat, returned=False),
            _stat("plain", "Invocations", chat),
            {"Id": "total", "Expression": "tin + tout", "Label": "tokens"},
            {"Id": "summed", "Expression": "SUM([tin, tout])"},
            {"Id": "scaled", "Expression": "(tin + tout) / 1000 * 2"},
            {"Id": "whole", "Expression": "SUM(tin)"},
            {"Id": "peak", "Expression": "MAX([tin, tout])"},
            {"Id": "filled", "Expression": "FILL(tin, 0)"},
        ],
        **_window(),
    )
    results = _results(answer)
    assert set(results) == {"plain", "total", "summed", "scaled", "whole", "peak", "filled"}, "ReturnData=False is honoured"
    assert sum(v for _, v in results["plain"]) == len(calls), "a plain query next to expressions still answers"
    assert sum(v for _, v in results["total"]) == tokens_in + tokens_out
    assert results["total"][0][0] == "tokens"
    assert sum(v for _, v in results["summed"]) == tokens_in + tokens_out
    assert sum(v for _, v in results["scaled"]) == pytest.approx((tokens_in + tokens_out) / 1000 * 2)
    assert {v for _, v in results["whole"]} == {tokens_in}, "SUM of one series is a scalar, returned over the window"
    assert sum(v for _, v in results["peak"]) == max(tokens_in, tokens_out)
    filled = [v for _, v in results["filled"]]
    assert len(filled) == 3 and sorted(filled)[:2] == [0.0, 0.0] and sum(filled) == tokens_in, "FILL gives every period a point"


def test_search_returns_one_series_per_matching_model(traffic: dict[str, Any]) -> None:
    answer = traffic["cloudwatch"].get_metric_data(
        MetricDataQueries=[
            {"Id": "s", "Expression": "SEARCH('{AWS/Bedrock,ModelId} MetricName=\"InputTokenCount\"', 'Sum', 3600)"},
            {"Id": "t", "Expression": "SUM(SEARCH('{AWS/Bedrock,ModelId} MetricName=\"InputTokenCount\"', 'Sum', 3600))"},
        ],
        **_window(),
    )
    by_label: dict[str, float] = {}
    for label, value in _results(answer)["s"]:
        by_label[label] = by_label.get(label, 0.0) + value
    expected = {model: float(sum(u["inputTokens"] for u in calls)) for model, calls in traffic["usage"].items()}
    assert by_label == expected
    assert sum(v for _, v in _results(answer)["t"]) == sum(expected.values())


def test_metrics_insights_groups_by_model(traffic: dict[str, Any]) -> None:
    answer = traffic["cloudwatch"].get_metric_data(
        MetricDataQueries=[
            {
                "Id": "q",
                "Expression": 'SELECT SUM(OutputTokenCount) FROM "AWS/Bedrock" GROUP BY ModelId ORDER BY SUM() DESC',
                "Period": 3600,
            },
            {"Id": "all", "Expression": 'SELECT SUM(OutputTokenCount) FROM SCHEMA("AWS/Bedrock", ModelId)', "Period": 3600},
            {
                "Id": "one",
                "Expression": 'SELECT COUNT(Invocations) FROM "AWS/Bedrock" '
                f"WHERE ModelId = '{traffic['ids']['batch-sonnet']}'",
                "Period": 3600,
            },
        ],
        **_window(),
    )
    results = _results(answer)
    expected = {model: float(sum(u["outputTokens"] for u in calls)) for model, calls in traffic["usage"].items()}
    grouped: dict[str, float] = {}
    for label, value in results["q"]:
        grouped[label] = grouped.get(label, 0.0) + value
    assert grouped == expected
    labels = [r["Label"] for r in answer["MetricDataResults"] if r["Id"] == "q"]
    assert labels[0] == max(expected, key=lambda m: expected[m]), "ORDER BY SUM() DESC"
    assert sum(v for _, v in results["all"]) == sum(expected.values())
    assert sum(v for _, v in results["one"]) == 2


@pytest.mark.parametrize(
    ("expression", "named"),
    [("RATE(m1)", "RATE"), ('SELECT SUM(InputTokenCount) FROM "AWS/Bedrock" GROUP BY Region', "Region"), ("m1 +", "malformed")],
)
def test_what_is_not_emulated_is_a_validation_error(traffic: dict[str, Any], expression: str, named: str) -> None:
    chat = traffic["ids"]["chat-sonnet"]
    with pytest.raises(ClientError) as exc:
        traffic["cloudwatch"].get_metric_data(
            MetricDataQueries=[
                _stat("m1", "InputTokenCount", chat, returned=False),
                {"Id": "e", "Expression": expression, "Period": 3600},
            ],
            **_window(),
        )
    assert exc.value.response["Error"]["Code"] == "ValidationError"
    assert named in exc.value.response["Error"]["Message"]
