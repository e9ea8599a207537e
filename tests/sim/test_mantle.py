"""bedrock-mantle in the emulator (issue 14), under the path prefix /mantle: the OpenAI SDK and plain SigV4
HTTP as users call it; its own IAM actions (a bedrock:* Deny does not stop it), no invocation logs, no
LookupEvents (data events) and no AWS/Bedrock metrics — but a bill."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from typing import Any

import openai
import pytest
import urllib3
from aws_bedrock_token_generator import BedrockTokenGenerator
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import log_destinations

REGION = "eu-central-1"
MODEL = "eu.anthropic.claude-sonnet-4-6"


@pytest.fixture
def user(session, emulator: str) -> dict[str, Any]:
    iam = session.client("iam", endpoint_url=emulator)
    iam.create_user(UserName="mantle-app")
    key = iam.create_access_key(UserName="mantle-app")["AccessKey"]
    credentials = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    return {"iam": iam, "credentials": credentials, "api_key": BedrockTokenGenerator().get_token(credentials, REGION)}


def _signed_messages(emulator: str, credentials: Credentials, body: dict[str, Any]) -> urllib3.BaseHTTPResponse:
    url = f"{emulator}/mantle/anthropic/v1/messages"
    request = AWSRequest("POST", url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    SigV4Auth(credentials, "bedrock-mantle", REGION).add_auth(request)
    return urllib3.request("POST", url, body=request.body, headers=dict(request.headers.items()))


def test_mantle_answers_the_openai_sdk_and_anthropic_messages(user, emulator: str) -> None:
    client = openai.OpenAI(base_url=f"{emulator}/mantle/v1", api_key=user["api_key"], max_retries=0)
    chat = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Which tenant spent most?"}])
    assert chat.choices[0].message.content and chat.usage.completion_tokens > 0
    openai_path = openai.OpenAI(base_url=f"{emulator}/mantle/openai/v1", api_key=user["api_key"], max_retries=0)
    response = openai_path.responses.create(model=MODEL, input="Summarise the bill.")
    assert response.output_text and response.usage.output_tokens > 0
    answer = _signed_messages(
        emulator, user["credentials"], {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert answer.status == 200, answer.data
    body = json.loads(answer.data)
    assert body["type"] == "message" and body["content"][0]["text"] and body["usage"]["output_tokens"] > 0
    bad = _signed_messages(emulator, user["credentials"], {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert bad.status == 400 and "max_tokens is required" in bad.data.decode()


def test_mantle_has_its_own_iam_actions(user, emulator: str) -> None:
    iam = user["iam"]
    iam.put_user_policy(
        UserName="mantle-app",
        PolicyName="no-bedrock",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "bedrock:*", "Resource": "*"}]}
        ),
    )
    client = openai.OpenAI(base_url=f"{emulator}/mantle/v1", api_key=user["api_key"], max_retries=0)
    assert client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}]).choices, (
        "a bedrock:* Deny does not reach bedrock-mantle"
    )
    with pytest.raises(openai.PermissionDeniedError):
        openai.OpenAI(base_url=f"{emulator}/openai/v1", api_key=user["api_key"], max_retries=0).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    iam.put_user_policy(
        UserName="mantle-app",
        PolicyName="no-mantle-keys",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "bedrock-mantle:CallWithBearerToken", "Resource": "*"}],
            }
        ),
    )
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert "bedrock-mantle:CallWithBearerToken" in str(denied.value)
    ok = _signed_messages(
        emulator, user["credentials"], {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert ok.status == 200, "SigV4 is not a bearer token"
    iam.put_user_policy(
        UserName="mantle-app",
        PolicyName="no-mantle",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "bedrock-mantle:*", "Resource": "*"}]}
        ),
    )
    refused = _signed_messages(
        emulator, user["credentials"], {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert refused.status == 403 and "bedrock-mantle:CreateInference" in refused.data.decode()


def test_mantle_calls_are_billed_but_not_logged_looked_up_or_in_bedrock_metrics(user, session, emulator: str, sim) -> None:
    s3 = session.client("s3", endpoint_url=emulator)
    log_destinations(lambda service: session.client(service, endpoint_url=emulator), "mantle-logs", "raw")
    session.client("bedrock", endpoint_url=emulator).put_model_invocation_logging_configuration(
        loggingConfig={"s3Config": {"bucketName": "mantle-logs", "keyPrefix": "raw"}, "textDataDeliveryEnabled": False}
    )
    client = openai.OpenAI(base_url=f"{emulator}/mantle/v1", api_key=user["api_key"], max_retries=0)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "on mantle"}])
    session.client("bedrock-runtime", endpoint_url=emulator).converse(
        modelId=MODEL, messages=[{"role": "user", "content": [{"text": "on bedrock-runtime"}]}]
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mantle-logs").get("Contents", [])]
    records = [
        json.loads(line)
        for key in keys
        for line in gzip.decompress(s3.get_object(Bucket="mantle-logs", Key=key)["Body"].read()).splitlines()
    ]
    assert [r["operation"] for r in records] == ["Converse"], "bedrock-mantle is not captured by invocation logging"
    events = session.client("cloudtrail", endpoint_url=emulator).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "bedrock.amazonaws.com"}]
    )["Events"]
    assert "Converse" in {e["EventName"] for e in events} and not {e["EventName"] for e in events} & {
        "mantle:CreateChatCompletion",
        "CreateChatCompletion",
    }
    now = dt.datetime.now(dt.timezone.utc)
    stats = session.client("cloudwatch", endpoint_url=emulator).get_metric_statistics(
        Namespace="AWS/Bedrock",
        MetricName="Invocations",
        Dimensions=[{"Name": "ModelId", "Value": MODEL}],
        StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=5),
        Period=3600,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in stats["Datapoints"]) == 1, "only the bedrock-runtime call"
    sim.advance(2 * 86400)
    day = now.date().isoformat()
    billed = session.client("ce", endpoint_url=emulator).get_cost_and_usage(
        TimePeriod={"Start": day, "End": (now.date() + dt.timedelta(days=1)).isoformat()},
        Granularity="DAILY",
        Metrics=["UsageQuantity"],
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    )
    output = sum(
        float(g["Metrics"]["UsageQuantity"]["Amount"])
        for r in billed["ResultsByTime"]
        for g in r["Groups"]
        if "OutputTokenCount" in g["Keys"][0] or g["Keys"][0].endswith("output-tokens")
    )
    assert output > 0 and len(billed["ResultsByTime"][0]["Groups"]) >= 2, "both calls are billed"


MANTLE_SELECTORS = [
    {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
    {
        "Name": "mantle inference",
        "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::BedrockMantle::Project"]},
        ],
    },
]


def trail_records(s3: Any, bucket: str) -> list[tuple[str, dict[str, Any]]]:
    """(key, record) of every CloudTrail log file in ``bucket``."""
    out = []
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
        out.extend((item["Key"], record) for record in body["Records"])
    return out


def test_a_trail_with_a_mantle_data_selector_gets_its_calls_as_log_files(user, session, emulator: str) -> None:
    """Mantle's calls are data events: absent from LookupEvents, delivered as CloudTrail log files to a logging trail
    whose advanced event selectors take AWS::BedrockMantle::Project data events — and to no other trail."""
    s3 = session.client("s3", endpoint_url=emulator)
    trails = session.client("cloudtrail", endpoint_url=emulator)
    for bucket in ("org-trail", "mgmt-only"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    trails.create_trail(Name="audit", S3BucketName="org-trail", S3KeyPrefix="ct", IsMultiRegionTrail=True)
    trails.put_event_selectors(TrailName="audit", AdvancedEventSelectors=MANTLE_SELECTORS)
    trails.create_trail(Name="mgmt", S3BucketName="mgmt-only")
    trails.start_logging(Name="mgmt")
    client = openai.OpenAI(base_url=f"{emulator}/mantle/v1", api_key=user["api_key"], max_retries=0)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "before the trail logs"}])
    assert trail_records(s3, "org-trail") == [], "a trail that is not logging gets nothing"
    trails.start_logging(Name="audit")
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "keyed"}])
    signed = _signed_messages(
        emulator, user["credentials"], {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert signed.status == 200
    session.client("bedrock-runtime", endpoint_url=emulator).converse(
        modelId=MODEL, messages=[{"role": "user", "content": [{"text": "bedrock-runtime is not a mantle data event"}]}]
    )
    delivered = trail_records(s3, "org-trail")
    assert trail_records(s3, "mgmt-only") == [], "no data-event selector, no data events"
    assert [r["eventName"] for _, r in delivered] == ["CreateChatCompletion", "CreateMessage"]
    key, keyed = delivered[0]
    assert key.startswith(f"ct/AWSLogs/123456789012/CloudTrail/{REGION}/") and key.endswith(".json.gz")
    assert key.rsplit("/", 1)[1].startswith(f"123456789012_CloudTrail_{REGION}_")
    assert keyed["eventSource"] == "bedrock-mantle.amazonaws.com" and keyed["eventCategory"] == "Data"
    assert keyed["managementEvent"] is False and keyed["resources"][0]["type"] == "AWS::BedrockMantle::Project"
    assert keyed["userIdentity"]["arn"] == "arn:aws:iam::123456789012:user/mantle-app"
    assert keyed["requestParameters"] == {"model": MODEL, "callWithBearerToken": True, "bearerTokenType": "SHORT_TERM"}
    assert delivered[1][1]["requestParameters"] == {"model": MODEL, "callWithBearerToken": False}
    assert trail_records(s3, "org-trail") == delivered, "delivered once"


def test_bedrock_runtime_events_say_whether_a_bearer_token_was_used(user, session, emulator: str) -> None:
    keyed = openai.OpenAI(base_url=f"{emulator}/openai/v1", api_key=user["api_key"], max_retries=0)
    keyed.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "with an API key"}])
    runtime = session.client(
        "bedrock-runtime",
        endpoint_url=emulator,
        aws_access_key_id=user["credentials"].access_key,
        aws_secret_access_key=user["credentials"].secret_key,
    )
    runtime.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "signed"}]}])
    events = session.client("cloudtrail", endpoint_url=emulator).lookup_events(
        LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "mantle-app"}]
    )["Events"]
    seen = sorted(
        (e["EventName"], json.loads(e["CloudTrailEvent"])["additionalEventData"]["callWithBearerToken"]) for e in events
    )
    assert seen == [("Converse", False), ("CreateChatCompletion", True)]
