"""CloudTrail LookupEvents over emulated calls: attributes, paging, the 2 TPS limit, 90 days."""

from __future__ import annotations

import json
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import SONNET_PROFILE

MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]


@pytest.fixture
def trail(session, emulator):
    return session.client("cloudtrail", endpoint_url=emulator, config=Config(retries={"max_attempts": 8, "mode": "standard"}))


@pytest.fixture
def calls(session, emulator, bedrock) -> str:
    aip = bedrock.create_inference_profile(inferenceProfileName="chat", modelSource={"copyFrom": SONNET_PROFILE})[
        "inferenceProfileArn"
    ]
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    for _ in range(7):
        runtime.converse(modelId=aip, messages=MESSAGES)
    runtime.converse(modelId="eu.anthropic.claude-sonnet-4-6", messages=MESSAGES)  # a bypass
    return aip


def _all(trail, **kwargs) -> list[dict]:
    events, token = [], None
    while True:
        page = trail.lookup_events(**kwargs, **({"NextToken": token} if token else {}))
        events += page["Events"]
        token = page.get("NextToken")
        if not token:
            return events


def test_runtime_calls_are_events_with_the_model_id_as_sent(trail, calls: str) -> None:
    events = _all(trail, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Converse"}])
    model_ids = [json.loads(e["CloudTrailEvent"])["requestParameters"]["modelId"] for e in events]
    assert model_ids == ["eu.anthropic.claude-sonnet-4-6"] + [calls] * 7, "newest first"
    detail = json.loads(events[-1]["CloudTrailEvent"])
    assert detail["eventSource"] == "bedrock.amazonaws.com" and detail["eventName"] == "Converse"
    assert detail["userIdentity"]["accessKeyId"] and detail["requestID"] == events[-1]["EventId"]
    by_resource = _all(trail, LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": calls}])
    assert len(by_resource) == 7


def test_control_plane_calls_are_events_too(trail, calls: str) -> None:
    created = _all(trail, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateInferenceProfile"}])
    assert len(created) == 1
    detail = json.loads(created[0]["CloudTrailEvent"])
    assert detail["requestParameters"]["inferenceProfileName"] == "chat"
    assert detail["responseElements"]["inferenceProfileArn"] == calls
    assert created[0]["ReadOnly"] == "false"


def test_paging_max_results_and_one_attribute(trail, calls: str) -> None:
    page = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "bedrock.amazonaws.com"}], MaxResults=3
    )
    assert len(page["Events"]) == 3 and page["NextToken"]
    with pytest.raises(ClientError) as exc:
        trail.lookup_events(MaxResults=51)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        trail.lookup_events(
            LookupAttributes=[
                {"AttributeKey": "EventName", "AttributeValue": "Converse"},
                {"AttributeKey": "Username", "AttributeValue": "moto"},
            ]
        )
    assert exc.value.response["Error"]["Code"] == "ValidationException"


def test_two_requests_per_second(session, emulator, calls: str) -> None:
    impatient = session.client(
        "cloudtrail", endpoint_url=emulator, config=Config(retries={"total_max_attempts": 1, "mode": "standard"})
    )
    time.sleep(1.1)
    codes = []
    started = time.monotonic()
    for _ in range(12):
        try:
            impatient.lookup_events(MaxResults=1)
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    elapsed = time.monotonic() - started
    assert codes[:2] == ["ok", "ok"]
    # 12 calls at 2/s with a burst of 2 need 5 s to pass unthrottled.
    assert "ThrottlingException" in codes or elapsed >= 5, (codes, elapsed)


def test_events_older_than_90_days_are_gone(trail, sim, calls: str) -> None:
    assert _all(trail, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Converse"}])
    sim.advance(91 * 86400)
    assert _all(trail, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Converse"}]) == []


def test_events_carry_the_callers_user_agent_and_the_real_error(trail, session, emulator, calls: str) -> None:
    runtime = session.client("bedrock-runtime", endpoint_url=emulator, config=Config(user_agent_extra="billing-app/2.1"))
    missing = calls.rsplit("/", 1)[0] + "/zzzzzzzzzzzz"
    with pytest.raises(ClientError) as exc:
        runtime.converse(modelId=missing, messages=MESSAGES)
    sent = exc.value.response["Error"]
    events = _all(trail, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Converse"}])
    failed = json.loads(events[0]["CloudTrailEvent"])
    assert failed["errorCode"] == sent["Code"] == "ResourceNotFoundException"
    assert failed["errorMessage"] == sent["Message"], "the message the caller got"
    assert "billing-app/2.1" in failed["userAgent"] and "Boto3/" in failed["userAgent"]
    created = _all(trail, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateInferenceProfile"}])
    assert "Boto3/" in json.loads(created[0]["CloudTrailEvent"])["userAgent"]


def test_calls_that_never_reached_a_model_publish_no_metrics(session, emulator, calls: str) -> None:
    import datetime as dt

    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    cloudwatch = session.client("cloudwatch", endpoint_url=emulator)
    missing = calls.rsplit("/", 1)[0] + "/zzzzzzzzzzzz"
    for model_id in (missing, "anthropic.claude-sonnet-4-6"):  # an unknown AIP; a profile-only model called on demand
        with pytest.raises(ClientError):
            runtime.converse(modelId=model_id, messages=MESSAGES)
    with pytest.raises(ClientError) as bad:  # reached the model, refused as malformed: a client error of that model
        runtime.converse(modelId=calls, messages=[{"role": "assistant", "content": []}])
    assert bad.value.response["Error"]["Code"] == "ValidationException"
    listed = {d["Value"] for m in cloudwatch.list_metrics(Namespace="AWS/Bedrock")["Metrics"] for d in m["Dimensions"]}
    assert "zzzzzzzzzzzz" not in listed and "anthropic.claude-sonnet-4-6" not in listed
    now = dt.datetime.now(dt.timezone.utc)

    def errors(model_id: str) -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Bedrock",
            MetricName="InvocationClientErrors",
            Dimensions=[{"Name": "ModelId", "Value": model_id}],
            StartTime=now - dt.timedelta(hours=1),
            EndTime=now + dt.timedelta(minutes=1),
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    assert errors("zzzzzzzzzzzz") == 0 and errors("anthropic.claude-sonnet-4-6") == 0
    assert errors(calls.rsplit("/", 1)[1]) == 1
