"""The inventory's ``logging:`` block (issue 17.3): planned and applied like the rest, then used by meter."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.conftest import MINIMAL_INVENTORY, REGION

BUCKET, PREFIX, GROUP = "team-bedrock-logs", "invocations", "/aipctl/bedrock-invocations"
WITH_LOGGING = (
    MINIMAL_INVENTORY + f"logging:\n  s3: {{bucket: {BUCKET}, prefix: {PREFIX}}}\n  cloudwatch: {{log_group: {GROUP}}}\n"
)


def test_apply_sets_up_logging_and_the_calls_are_logged_without_bodies(cli, session, emulator, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(WITH_LOGGING)
    plan = cli("plan", "--json")
    steps = [(c["kind"], c["action"]) for c in plan.json["logging"]]
    assert steps == [
        ("bucket", "create"),
        ("bucket-policy", "create"),
        ("log-group", "create"),
        ("role", "create"),
        ("role-policy", "create"),
        ("configuration", "create"),
    ]
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.err
    assert "Invocation logging: 6 step(s) applied, 0 failed." in applied.out
    config = session.client("bedrock", endpoint_url=emulator).get_model_invocation_logging_configuration()["loggingConfig"]
    assert config["s3Config"] == {"bucketName": BUCKET, "keyPrefix": PREFIX}
    assert config["cloudWatchConfig"]["logGroupName"] == GROUP
    assert config["cloudWatchConfig"]["roleArn"] == "arn:aws:iam::123456789012:role/aipctl-test-invocation-logs"
    assert not any(config.get(k) for k in ("textDataDeliveryEnabled", "imageDataDeliveryEnabled", "embeddingDataDeliveryEnabled"))
    s3 = session.client("s3", endpoint_url=emulator)
    statement = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"][0]
    assert statement["Principal"] == {"Service": "bedrock.amazonaws.com"} and statement["Action"] == "s3:PutObject"
    assert statement["Resource"] == f"arn:aws:s3:::{BUCKET}/{PREFIX}/AWSLogs/123456789012/BedrockModelInvocationLogs/*"
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]} == {"aipctl:managed": "test"}
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    iam = session.client("iam", endpoint_url=emulator)
    trust = iam.get_role(RoleName="aipctl-test-invocation-logs")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert cli("plan", "--detailed-exitcode").code == 0, "apply converged"

    arn = next(
        p["inferenceProfileArn"]
        for p in session.client("bedrock", endpoint_url=emulator).list_inference_profiles(typeEquals="APPLICATION")[
            "inferenceProfileSummaries"
        ]
        if p["inferenceProfileName"] == "chat-sonnet"
    )
    secret = "a prompt nobody should store"
    session.client("bedrock-runtime", endpoint_url=emulator).converse(
        modelId=arn, messages=[{"role": "user", "content": [{"text": secret}]}]
    )
    cli("list")  # any request makes the emulator write waiting log objects
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])]
    assert keys and all("/BedrockModelInvocationLogs/" in k for k in keys)
    body = b"".join(gzip.decompress(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys)
    assert arn.encode() in body and secret.encode() not in body, "metadata only: no prompt bodies"
    logs = session.client("logs", endpoint_url=emulator)
    streams = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    events = [e for s in streams for e in logs.get_log_events(logGroupName=GROUP, logStreamName=s["logStreamName"])["events"]]
    assert len(events) == 1 and secret not in events[0]["message"]
    ingested = cli("meter", "ingest", f"s3://{BUCKET}/{PREFIX}", "--ledger", str(workdir / "l.duckdb"), "--json")
    assert ingested.code == 0, ingested.err


def test_a_configuration_that_sends_elsewhere_is_repointed_only_when_asked(cli, session, emulator, workdir: Path) -> None:
    from tests.conftest import log_destinations

    log_destinations(lambda s: session.client(s, endpoint_url=emulator), "security-team-logs", "audit")
    bedrock = session.client("bedrock", endpoint_url=emulator)
    bedrock.put_model_invocation_logging_configuration(
        loggingConfig={"s3Config": {"bucketName": "security-team-logs", "keyPrefix": "audit"}, "textDataDeliveryEnabled": True}
    )
    (workdir / "aipctl.yaml").write_text(WITH_LOGGING)
    refused = cli("apply", "--yes")
    assert refused.code != 0
    assert "already sends to s3://security-team-logs/audit" in refused.err and "logging.replace: true" in refused.err
    assert bedrock.get_model_invocation_logging_configuration()["loggingConfig"]["s3Config"]["bucketName"] == "security-team-logs"
    assert "team-bedrock-logs" not in {b["Name"] for b in session.client("s3", endpoint_url=emulator).list_buckets()["Buckets"]}
    (workdir / "aipctl.yaml").write_text(WITH_LOGGING.replace("logging:\n", "logging:\n  replace: true\n"))
    plan = cli("plan")
    assert "replaces s3://security-team-logs/audit" in plan.out
    assert cli("apply", "--yes").code == 0
    assert bedrock.get_model_invocation_logging_configuration()["loggingConfig"]["s3Config"]["bucketName"] == BUCKET


def test_a_bucket_aipctl_did_not_create_keeps_its_policy(cli, session, emulator, workdir: Path) -> None:
    s3 = session.client("s3", endpoint_url=emulator)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY + f"logging:\n  s3: {{bucket: {BUCKET}, prefix: {PREFIX}}}\n")
    plan = cli("plan", "--json")
    assert [c["kind"] for c in plan.json["logging"]] == ["configuration"]
    assert any(f"S3 bucket {BUCKET} is not aipctl's" in w for w in plan.json["warnings"])
    assert plan.json["logging_bucket_statement"]["Principal"] == {"Service": "bedrock.amazonaws.com"}
    applied = cli("apply", "--yes")
    assert applied.code != 0, "Bedrock refuses a bucket it cannot write to"
    assert "Failed to validate permissions for log delivery" in applied.out + applied.err
    assert "Policy" not in _policy_or_none(s3, BUCKET), "aipctl wrote no policy on a bucket it does not own"
    assert session.client("bedrock", endpoint_url=emulator).get_model_invocation_logging_configuration().get("loggingConfig") in (
        None,
        {},
    )
    assert "chat-sonnet" in cli("list").out, "the AIPs were still applied: logging is the last step"


def _policy_or_none(s3, bucket: str) -> dict:
    try:
        return s3.get_bucket_policy(Bucket=bucket)
    except s3.exceptions.ClientError:
        return {}


def test_an_empty_logging_block_is_refused_with_its_line(cli, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY + "logging:\n  text_delivery: false\n")
    result = cli("plan")
    assert result.code == 2
    assert "aipctl.yaml:" in result.err and "logging needs s3" in result.err


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("  s3: {bucket: Team_Logs}\n", "is not an S3 bucket name"),
        ("  s3: {bucket: team-logs, prefix: /abs}\n", "is not a key prefix"),
        ("  cloudwatch: {log_group: 'bad group'}\n", "is not a CloudWatch Logs group name"),
        ("  cloudwatch: {log_group: /g, role_name: 'no spaces'}\n", "is not an IAM role name"),
        ("  s3: {bucket: team-logs}\n  deliver_text: true\n", "deliver_text"),
    ],
)
def test_bad_logging_blocks_are_refused_with_their_line(cli, workdir: Path, block: str, message: str) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY + "logging:\n" + block)
    result = cli("plan")
    assert result.code == 2 and "aipctl.yaml:" in result.err and message in result.err, result.err
    assert "Traceback" not in result.err
