"""Model invocation logging to S3 (gzip JSON lines, documented key layout) and CloudWatch Logs."""

from __future__ import annotations

import gzip
import json
import re

from tests.conftest import ACCOUNT, REGION, SONNET_PROFILE, TITAN_MODEL, log_destinations

MESSAGES = [{"role": "user", "content": [{"text": "log me"}]}]


def test_records_land_in_s3_and_cloudwatch_logs(session, emulator, bedrock, sim) -> None:
    s3 = session.client("s3", endpoint_url=emulator)
    emulated = lambda service: session.client(service, endpoint_url=emulator)  # noqa: E731
    log_destinations(emulated, "bedrock-logs", "raw", log_group="/bedrock/invocations", role="logs")
    logs = session.client("logs", endpoint_url=emulator)
    bedrock.put_model_invocation_logging_configuration(
        loggingConfig={
            "s3Config": {"bucketName": "bedrock-logs", "keyPrefix": "raw"},
            "cloudWatchConfig": {"logGroupName": "/bedrock/invocations", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/logs"},
            "textDataDeliveryEnabled": True,
            "embeddingDataDeliveryEnabled": False,
        }
    )
    aip = bedrock.create_inference_profile(inferenceProfileName="chat", modelSource={"copyFrom": SONNET_PROFILE})[
        "inferenceProfileArn"
    ]
    embed = bedrock.create_inference_profile(inferenceProfileName="embed", modelSource={"copyFrom": TITAN_MODEL})[
        "inferenceProfileArn"
    ]
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    usages = [runtime.converse(modelId=aip, messages=MESSAGES)["usage"] for _ in range(3)]
    runtime.invoke_model(modelId=embed, body=json.dumps({"inputText": "vector please"}))
    sim.advance(3600)
    runtime.converse(modelId=aip, messages=MESSAGES)

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="bedrock-logs")["Contents"]]
    pattern = (
        rf"^raw/AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/{REGION}/"
        r"\d{4}/\d{2}/\d{2}/\d{2}/\d{8}T\d{6}Z_[0-9a-f]{16}\.json\.gz$"
    )
    assert len(keys) == 2 and all(re.match(pattern, k) for k in keys), keys
    records = [
        json.loads(line)
        for k in sorted(keys)
        for line in gzip.decompress(s3.get_object(Bucket="bedrock-logs", Key=k)["Body"].read()).splitlines()
    ]
    assert len(records) == 5
    first = records[0]
    assert (first["schemaType"], first["schemaVersion"], first["modelId"], first["operation"]) == (
        "ModelInvocationLog",
        "1.0",
        aip,
        "Converse",
    )
    assert first["input"]["inputTokenCount"] == usages[0]["inputTokens"]
    assert first["output"]["outputTokenCount"] == usages[0]["outputTokens"]
    assert first["input"]["inputBodyJson"]["messages"] == MESSAGES
    assert first["inferenceRegion"].startswith("eu-"), "an eu. profile routes within the EU geography"
    embedding = next(r for r in records if r["operation"] == "InvokeModel")
    assert "outputBodyJson" not in embedding["output"], "embedding bodies only with embeddingDataDeliveryEnabled"
    events = logs.get_log_events(logGroupName="/bedrock/invocations", logStreamName="aws/bedrock/modelinvocations")["events"]
    assert [json.loads(e["message"])["requestId"] for e in events] == [r["requestId"] for r in records]


def test_no_configuration_no_logs(session, emulator, bedrock) -> None:
    s3 = session.client("s3", endpoint_url=emulator)
    s3.create_bucket(Bucket="quiet", CreateBucketConfiguration={"LocationConstraint": REGION})
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    runtime.converse(modelId="eu.anthropic.claude-sonnet-4-6", messages=MESSAGES)
    assert s3.list_objects_v2(Bucket="quiet").get("KeyCount", 0) == 0


def test_log_delivery_can_be_delayed_as_on_aws(session, emulator, bedrock, sim) -> None:
    """`aipctl sim settings --log-delivery-delay S`: a record reaches S3 only S (simulated) seconds after its call,
    so ledger latency figures mean something; the default stays 0 (AWS documents no delivery time)."""
    log_destinations(lambda s: session.client(s, endpoint_url=emulator), "late-logs", "raw")
    bedrock.put_model_invocation_logging_configuration(
        loggingConfig={"s3Config": {"bucketName": "late-logs", "keyPrefix": "raw"}, "textDataDeliveryEnabled": False}
    )
    aip = bedrock.create_inference_profile(inferenceProfileName="late", modelSource={"copyFrom": SONNET_PROFILE})[
        "inferenceProfileArn"
    ]
    assert sim.set_settings(log_delivery_delay_s=120)["log_delivery_delay_s"] == 120
    s3 = session.client("s3", endpoint_url=emulator)
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    runtime.converse(modelId=aip, messages=MESSAGES)

    def delivered() -> int:
        return sum(
            len(gzip.decompress(s3.get_object(Bucket="late-logs", Key=o["Key"])["Body"].read()).splitlines())
            for o in s3.list_objects_v2(Bucket="late-logs", Prefix="raw/").get("Contents", [])
        )

    assert delivered() == 0, "within the delay nothing is in S3"
    sim.advance(60)
    runtime.converse(modelId=aip, messages=MESSAGES)
    assert delivered() == 0
    sim.advance(61)
    assert delivered() == 1, "the first call's record is due, the second's is not yet"
    sim.advance(60)
    assert delivered() == 2, "each record is delivered once"
