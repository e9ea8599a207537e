"""The compiled JSON-protocol codec (aipctl.aws.codec) answers exactly as botocore's own walk does.

Real responses of the emulator for the operations the report reads in bulk are parsed by both
parsers; requests are serialised by both serialisers.
"""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.parsers import JSONParser
from botocore.serialize import JSONSerializer

from aipctl.aws.codec import CompiledJSONParser, CompiledJSONSerializer
from aipctl.aws.target import BILLING_REGION, SIM_ACCESS_KEY, SIM_SECRET_KEY, _epoch_or_text
from tests.conftest import REGION


def _captured(emulator: str, service: str, region: str, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[Any, Any]]:
    """(operation model, raw response) of each call, made by a plain boto3 client."""
    client = boto3.Session(aws_access_key_id=SIM_ACCESS_KEY, aws_secret_access_key=SIM_SECRET_KEY, region_name=region).client(
        service, endpoint_url=emulator
    )
    seen: list[tuple[Any, Any]] = []
    client.meta.events.register(
        "before-parse", lambda operation_model, response_dict, **_: seen.append((operation_model, response_dict))
    )
    for name, params in calls:
        getattr(client, name)(**params)
    assert len(seen) == len(calls)
    return seen


def _both(operation: Any, response: dict[str, Any]) -> tuple[Any, Any]:
    shape = operation.output_shape
    plain = JSONParser(timestamp_parser=_epoch_or_text).parse(dict(response), shape)
    compiled = CompiledJSONParser(timestamp_parser=_epoch_or_text).parse(dict(response), shape)
    return plain, compiled


def test_compiled_parser_equals_botocore_on_the_reports_bulk_reads(traffic: dict[str, Any], emulator: str) -> None:
    now = dt.datetime.fromisoformat(traffic["sim"].clock()["now"])
    bedrock = boto3.Session(aws_access_key_id=SIM_ACCESS_KEY, aws_secret_access_key=SIM_SECRET_KEY, region_name=REGION).client(
        "bedrock", endpoint_url=emulator
    )
    aip = bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"][0]["inferenceProfileArn"]
    days = {"Start": (now - dt.timedelta(days=3)).date().isoformat(), "End": now.date().isoformat()}
    ce = _captured(
        emulator,
        "ce",
        BILLING_REGION,
        [
            (
                "get_cost_and_usage",
                {
                    "TimePeriod": days,
                    "Granularity": "DAILY",
                    "Metrics": ["UnblendedCost", "NetUnblendedCost"],
                    "GroupBy": [{"Type": "TAG", "Key": "Application"}],
                },
            ),
            ("get_cost_and_usage", {"TimePeriod": days, "Granularity": "MONTHLY", "Metrics": ["UnblendedCost"]}),
        ],
    )
    queries = [
        {
            "Id": f"q{i}",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/Bedrock", "MetricName": metric, "Dimensions": [{"Name": "ModelId", "Value": aip}]},
                "Period": 3600,
                "Stat": "Sum",
            },
        }
        for i, metric in enumerate(("Invocations", "InputTokenCount", "OutputTokenCount"))
    ]
    cloudwatch = _captured(
        emulator,
        "cloudwatch",
        REGION,
        [
            ("get_metric_data", {"MetricDataQueries": queries, "StartTime": now - dt.timedelta(days=2), "EndTime": now}),
            ("describe_alarms", {}),
        ],
    )
    trail = _captured(emulator, "cloudtrail", REGION, [("lookup_events", {"MaxResults": 50})])
    groups = timestamps = 0
    for operation, response in ce + cloudwatch + trail:
        plain, compiled = _both(operation, response)
        assert compiled == plain, operation.name
        groups += sum(len(r.get("Groups", [])) for r in plain.get("ResultsByTime", []))
        timestamps += sum(len(r.get("Timestamps", [])) for r in plain.get("MetricDataResults", []))
        timestamps += len(plain.get("Events", []))
    assert groups > 0 and timestamps > 0  # the responses held what the codec converts
    events = _both(*trail[0])[1]["Events"]
    assert all(isinstance(e["EventTime"], dt.datetime) for e in events)


def test_compiled_parser_drops_nulls_and_unknown_members_as_botocore_does() -> None:
    model = boto3.Session(region_name=REGION).client("ce").meta.service_model.operation_model("GetCostAndUsage")
    body = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"},
                "Groups": [{"Keys": ["Application$chat", None], "Metrics": {"UnblendedCost": {"Amount": "1.5", "Unit": None}}}],
                "Total": None,
                "Estimated": False,
                "FieldAddedLater": {"x": 1},
            },
            None,
        ],
        "NextPageToken": None,
        "DimensionValueAttributes": [],
    }
    response = {"status_code": 200, "headers": {"x-amzn-requestid": "r-1"}, "body": json.dumps(body).encode()}
    plain, compiled = _both(model, response)
    assert compiled == plain
    assert "FieldAddedLater" not in compiled["ResultsByTime"][0] and "Total" not in compiled["ResultsByTime"][0]


def _same_request(compiled: dict[str, Any], plain: dict[str, Any]) -> None:
    """The same request as botocore's: everything but the body byte for byte, the body the same JSON (orjson
    writes it compactly, in UTF-8)."""
    assert {k: v for k, v in compiled.items() if k != "body"} == {k: v for k, v in plain.items() if k != "body"}
    assert json.loads(compiled["body"]) == json.loads(plain["body"])


def test_compiled_serializer_writes_the_same_request() -> None:
    client = boto3.Session(region_name=REGION).client("cloudwatch")
    operation = client.meta.service_model.operation_model("GetMetricData")
    params = {
        "MetricDataQueries": [
            {
                "Id": f"q{i}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Bedrock",
                        "MetricName": "Invocations",
                        "Dimensions": [{"Name": "ModelId", "Value": f"m{i}"}],
                    },
                    "Period": 86400,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
            for i in range(3)
        ]
        + [{"Id": "e", "Expression": "q0 + q1", "Label": "sum"}],
        "StartTime": dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc),
        "EndTime": dt.datetime(2026, 11, 2, 12, 30, 0, 250000, tzinfo=dt.timezone.utc),
        "ScanBy": "TimestampAscending",
        "MaxDatapoints": 100800,
    }
    for precision in ("default", "millisecond"):
        plain = JSONSerializer(timestamp_precision=precision).serialize_to_request(params, operation)
        compiled = CompiledJSONSerializer(timestamp_precision=precision).serialize_to_request(params, operation)
        _same_request(compiled, plain)
        assert len(compiled["body"]) < len(plain["body"])  # written by orjson, not botocore's json.dumps
    alarm = client.meta.service_model.operation_model("PutMetricAlarm")
    params = {"AlarmName": "a", "Threshold": 1.5, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold"}
    _same_request(
        CompiledJSONSerializer().serialize_to_request(params, alarm), JSONSerializer().serialize_to_request(params, alarm)
    )
    # what orjson refuses (an integer past 64 bits) is written by botocore's json, byte for byte
    huge = {**params, "EvaluationPeriods": 2**70}
    assert CompiledJSONSerializer().serialize_to_request(huge, alarm) == JSONSerializer().serialize_to_request(huge, alarm)


def test_compiled_serializer_keeps_each_threads_request_apart() -> None:
    """One serialiser serves a client's threads: each request gets its own body."""
    operation = boto3.Session(region_name=REGION).client("cloudwatch").meta.service_model.operation_model("PutMetricAlarm")
    serializer = CompiledJSONSerializer()

    def body(i: int) -> Any:
        params = {
            "AlarmName": f"a{i}",
            "Threshold": float(i),
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
        }
        return json.loads(serializer.serialize_to_request(params, operation)["body"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(body, range(400)))
    assert [b["AlarmName"] for b in bodies] == [f"a{i}" for i in range(400)]
    assert [b["Threshold"] for b in bodies] == [float(i) for i in range(400)]


def test_a_recursive_shape_parses_and_serialises_as_botocore_and_the_emulator_sends_it() -> None:
    """Cost Explorer's ``Expression`` holds ``And``/``Or`` lists of itself (botocore resolves a new shape object each
    time, so recursion is told by name)."""
    from aipctl_sim.protocol import _to_json

    ce = boto3.Session(region_name=REGION).client("ce").meta.service_model
    leaf = {"Tags": {"Key": "Application", "Values": ["chat"], "MatchOptions": None}}
    rule = {"And": [leaf, {"Or": [leaf, {"Not": leaf}]}], "Unknown": 1}
    body = {
        "CostCategory": {
            "CostCategoryArn": "arn:aws:ce::123456789012:costcategory/x",
            "EffectiveStart": "2026-11-01T00:00:00Z",
            "Name": "teams",
            "RuleVersion": "CostCategoryExpression.v1",
            "Rules": [{"Value": "chat", "Rule": rule}],
        }
    }
    response = {"status_code": 200, "headers": {}, "body": json.dumps(body).encode()}
    plain, compiled = _both(ce.operation_model("DescribeCostCategoryDefinition"), response)
    assert compiled == plain and compiled["CostCategory"]["Rules"][0]["Rule"]["And"][1]["Or"][1]["Not"] == {
        "Tags": {"Key": "Application", "Values": ["chat"]}
    }
    create = ce.operation_model("CreateCostCategoryDefinition")
    clean = {"Tags": {"Key": "Application", "Values": ["chat"], "MatchOptions": ["EQUALS"]}}
    nested = {"And": [clean, {"Or": [clean, {"Not": clean}]}]}
    params = {"Name": "teams", "RuleVersion": "CostCategoryExpression.v1", "Rules": [{"Value": "chat", "Rule": nested}]}
    _same_request(
        CompiledJSONSerializer().serialize_to_request(params, create), JSONSerializer().serialize_to_request(params, create)
    )
    sent = _to_json(ce.operation_model("DescribeCostCategoryDefinition").output_shape, body)
    assert sent["CostCategory"]["Rules"][0]["Rule"]["And"][1]["Or"][1]["Not"] == {
        "Tags": {"Key": "Application", "Values": ["chat"]}
    }
