"""Batch inference in the emulator: CreateModelInvocationJob over JSONL in S3, results and manifest back in
S3, billed at the batch price (read from the emulator's Price List here), refused where Bedrock refuses."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import REGION
from tests.sim.test_prices_and_tiers import HAIKU_SERVICE, price_list

HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _record(n: int, text: str) -> str:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200, "messages": [{"role": "user", "content": text}]}
    return json.dumps({"recordId": f"CALL{n:07d}", "modelInput": body})


@pytest.fixture
def clients(session: Any, emulator: str) -> dict[str, Any]:
    s3 = session.client("s3", endpoint_url=emulator)
    s3.create_bucket(Bucket="batch-in", CreateBucketConfiguration={"LocationConstraint": REGION})
    lines = [_record(n, f"Summarise call transcript number {n}. " * 20) for n in range(5)]
    lines.append("{not json")
    s3.put_object(Bucket="batch-in", Key="jobs/calls.jsonl", Body="\n".join(lines).encode())
    role = session.client("iam", endpoint_url=emulator).create_role(
        RoleName="bedrock-batch", AssumeRolePolicyDocument=json.dumps(TRUST)
    )["Role"]["Arn"]
    return {
        "s3": s3,
        "bedrock": session.client("bedrock", endpoint_url=emulator),
        "ce": session.client("ce", region_name="us-east-1", endpoint_url=emulator),
        "pricing": session.client("pricing", region_name="us-east-1", endpoint_url=emulator),
        "role": role,
    }


def _job(c: dict[str, Any], model: str, **extra: Any) -> dict[str, Any]:
    return c["bedrock"].create_model_invocation_job(
        jobName="nightly-calls",
        roleArn=c["role"],
        modelId=model,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://batch-in/jobs/"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://batch-in/out/"}},
        **extra,
    )


def test_a_batch_job_runs_writes_results_and_bills_at_the_batch_price(clients: dict[str, Any], sim: Any) -> None:
    arn = _job(clients, f"eu.{HAIKU}", clientRequestToken="nightly-1")["jobArn"]
    assert _job(clients, f"eu.{HAIKU}", clientRequestToken="nightly-1")["jobArn"] == arn, "idempotent"
    job = clients["bedrock"].get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == "PartiallyCompleted" and (job["successRecordCount"], job["errorRecordCount"]) == (5, 1)
    job_id = arn.rsplit("/", 1)[-1]
    out = clients["s3"].get_object(Bucket="batch-in", Key=f"out/{job_id}/calls.jsonl.out")["Body"].read().decode()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["recordId"] for r in rows[:5]] == [f"CALL{n:07d}" for n in range(5)]
    assert all(r["modelOutput"]["type"] == "message" for r in rows[:5]) and rows[5]["error"]["errorCode"] == 400
    manifest = json.loads(clients["s3"].get_object(Bucket="batch-in", Key=f"out/{job_id}/manifest.json.out")["Body"].read())
    assert manifest["successRecordCount"] == 5 and manifest["inputTokenCount"] == sum(
        r["modelOutput"]["usage"]["input_tokens"] for r in rows[:5]
    )
    listed = clients["bedrock"].list_model_invocation_jobs(statusEquals="PartiallyCompleted")["invocationJobSummaries"]
    assert [j["jobArn"] for j in listed] == [arn]

    sim.advance(25 * 3600)
    rates = price_list(clients["pricing"], "AmazonBedrockFoundationModels", REGION, servicename=HAIKU_SERVICE)
    batch_in = rates["EUC1-MP:EUC1_InputTokenCount_Batch-Units"][0]
    assert batch_in * 2 == rates["EUC1-MP:EUC1_InputTokenCount-Units"][0], "half the on-demand price"
    today = dt.datetime.fromisoformat(sim.clock()["now"]).date()
    answer = clients["ce"].get_cost_and_usage(
        TimePeriod={"Start": str(today - dt.timedelta(days=3)), "End": str(today + dt.timedelta(days=1))},
        Granularity="MONTHLY",
        Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    )
    billed = {
        g["Keys"][0]: Decimal(g["Metrics"]["UnblendedCost"]["Amount"]) for p in answer["ResultsByTime"] for g in p["Groups"]
    }
    expected_in = manifest["inputTokenCount"] * batch_in / 1_000_000
    expected_out = manifest["outputTokenCount"] * rates["EUC1-MP:EUC1_OutputTokenCount_Batch-Units"][0] / 1_000_000
    assert billed == {
        "EUC1-MP:EUC1_InputTokenCount_Batch-Units": expected_in.quantize(Decimal("1e-10")).normalize(),
        "EUC1-MP:EUC1_OutputTokenCount_Batch-Units": expected_out.quantize(Decimal("1e-10")).normalize(),
    }


def test_refusals(clients: dict[str, Any], sim: Any) -> None:
    for model, message in (
        ("amazon.titan-embed-text-v2:0", "does not support batch inference"),
        ("vendor.nothing-v1", "The provided model identifier is invalid"),
    ):
        with pytest.raises(ClientError) as refused:
            _job(clients, model)
        assert message in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as missing:
        clients["bedrock"].get_model_invocation_job(jobIdentifier="nope12345678")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    sim.set_settings(batch_job_seconds=3600)
    arn = _job(clients, f"eu.{HAIKU}")["jobArn"]
    assert clients["bedrock"].get_model_invocation_job(jobIdentifier=arn)["status"] == "InProgress"
    clients["bedrock"].stop_model_invocation_job(jobIdentifier=arn)
    assert clients["bedrock"].get_model_invocation_job(jobIdentifier=arn)["status"] == "Stopped"
    with pytest.raises(ClientError):
        clients["bedrock"].stop_model_invocation_job(jobIdentifier=arn)
