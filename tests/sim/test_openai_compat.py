"""bedrock-runtime's OpenAI-compatible APIs (issue 12.9): Chat Completions and Responses under /openai/v1.

Clients as users run them: the OpenAI SDK with a Bedrock API key made by AWS's own generator
(aws-bedrock-token-generator), and a plain HTTP request signed with SigV4 by botocore. The call is
then found where a Converse call would be: CloudTrail, CloudWatch, invocation logs and the bill.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
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
ASK = "Which tenant spent most on Bedrock last week?"


@pytest.fixture
def caller(session, emulator: str) -> dict[str, Any]:
    """An IAM user with an access key, a Bedrock API key made from it, and an AIP it calls through."""
    iam = session.client("iam", endpoint_url=emulator)
    iam.create_user(UserName="chat-app")
    key = iam.create_access_key(UserName="chat-app")["AccessKey"]
    credentials = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    aip = session.client("bedrock", endpoint_url=emulator).create_inference_profile(
        inferenceProfileName="chat-sonnet",
        modelSource={"copyFrom": f"arn:aws:bedrock:{REGION}:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-6"},
        tags=[{"key": "Application", "value": "chat"}],
    )["inferenceProfileArn"]
    return {
        "credentials": credentials,
        "api_key": BedrockTokenGenerator().get_token(credentials, REGION),
        "aip": aip,
        "arn": "arn:aws:iam::123456789012:user/chat-app",
    }


@pytest.fixture
def client(caller: dict[str, Any], emulator: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{emulator}/openai/v1", api_key=caller["api_key"], max_retries=0)


def test_chat_completions_with_an_api_key_answer_and_count_like_converse(client, caller, session, emulator) -> None:
    answer = client.chat.completions.create(
        model=caller["aip"], messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": ASK}]
    )
    assert answer.object == "chat.completion" and answer.choices[0].finish_reason == "stop"
    text = answer.choices[0].message.content or ""
    assert answer.usage is not None and answer.usage.completion_tokens == max(1, math.ceil(len(text) / 4))
    converse = session.client("bedrock-runtime", endpoint_url=emulator).converse(
        modelId=caller["aip"],
        system=[{"text": "Be brief."}],
        messages=[{"role": "user", "content": [{"text": ASK}]}],
    )
    assert converse["output"]["message"]["content"][0]["text"] == text, "the same engine answers both APIs"
    assert converse["usage"]["inputTokens"] == answer.usage.prompt_tokens

    streamed = client.chat.completions.create(
        model=caller["aip"],
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": ASK}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(streamed)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == answer.usage.completion_tokens


def test_tool_calls_round_trip(client, caller) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "spend", "parameters": {"type": "object", "properties": {"tenant": {"type": "string"}}}},
        }
    ]
    messages: list[Any] = [{"role": "user", "content": ASK}]
    first = client.chat.completions.create(model=caller["aip"], messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls" and json.loads(call.function.arguments) == {"tenant": "example"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "42 USD"},
    ]
    second = client.chat.completions.create(model=caller["aip"], messages=messages, tools=tools)
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content


def test_responses_api_plain_and_streamed(client, caller) -> None:
    answer = client.responses.create(model=caller["aip"], input=ASK, instructions="Be brief.", max_output_tokens=300)
    assert answer.status == "completed" and answer.output_text
    assert answer.usage is not None and answer.usage.output_tokens == max(1, math.ceil(len(answer.output_text) / 4))
    events = list(
        client.responses.create(model=caller["aip"], input=ASK, instructions="Be brief.", max_output_tokens=300, stream=True)
    )
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == answer.output_text
    short = client.responses.create(model=caller["aip"], input=ASK, max_output_tokens=3)
    assert short.status == "incomplete" and short.incomplete_details is not None


def test_bedrock_rules_and_errors_reach_the_openai_client(client, caller, emulator) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model=caller["aip"], messages=[{"role": "user", "content": ASK}], temperature=0.2, top_p=0.5
        )
    assert "cannot both be specified" in str(bad.value)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model=caller["aip"].rsplit("/", 1)[0] + "/000000000000", messages=[{"role": "user", "content": ASK}]
        )
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=caller["aip"], input=ASK, background=True)
    forged = openai.OpenAI(base_url=f"{emulator}/openai/v1", api_key="bedrock-api-key-bm90IGEga2V5", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        forged.chat.completions.create(model=caller["aip"], messages=[{"role": "user", "content": ASK}])
    assert "Please make sure your API Key is valid" in str(denied.value)


def test_sigv4_signed_http_works_too_and_bearer_use_can_be_denied(caller, session, emulator) -> None:
    url = f"{emulator}/openai/v1/chat/completions"
    body = json.dumps({"model": caller["aip"], "messages": [{"role": "user", "content": ASK}]})
    signed = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(caller["credentials"], "bedrock", REGION).add_auth(signed)
    answer = urllib3.request("POST", url, body=body, headers=dict(signed.headers.items()))
    assert answer.status == 200, answer.data
    assert json.loads(answer.data)["choices"][0]["message"]["content"]
    session.client("iam", endpoint_url=emulator).put_user_policy(
        UserName="chat-app",
        PolicyName="no-api-keys",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Sid": "NoKeys", "Effect": "Deny", "Action": "bedrock:CallWithBearerToken", "Resource": "*"}],
            }
        ),
    )
    keyed = openai.OpenAI(base_url=f"{emulator}/openai/v1", api_key=caller["api_key"], max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        keyed.chat.completions.create(model=caller["aip"], messages=[{"role": "user", "content": ASK}])
    assert "bedrock:CallWithBearerToken" in str(denied.value)
    again = urllib3.request("POST", url, body=body, headers=dict(signed.headers.items()))
    assert again.status == 200, "SigV4 is not a bearer token"


def test_the_call_is_accounted_like_converse(client, caller, session, emulator, sim) -> None:
    s3 = session.client("s3", endpoint_url=emulator)
    log_destinations(lambda service: session.client(service, endpoint_url=emulator), "logs", "raw")
    session.client("bedrock", endpoint_url=emulator).put_model_invocation_logging_configuration(
        loggingConfig={"s3Config": {"bucketName": "logs", "keyPrefix": "raw"}, "textDataDeliveryEnabled": False}
    )
    ce = session.client("ce", region_name="us-east-1", endpoint_url=emulator)
    ce.update_cost_allocation_tags_status(CostAllocationTagsStatus=[{"TagKey": "Application", "Status": "Active"}])
    chat = client.chat.completions.create(model=caller["aip"], messages=[{"role": "user", "content": ASK}])
    response = client.responses.create(model=caller["aip"], input=ASK)

    trail = session.client("cloudtrail", endpoint_url=emulator)
    for name in ("CreateChatCompletion", "CreateResponse"):
        events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
        detail = json.loads(events[0]["CloudTrailEvent"])
        assert len(events) == 1 and detail["userIdentity"]["arn"] == caller["arn"], "billed to the key's IAM principal"
        assert detail["eventSource"] == "bedrock.amazonaws.com" and detail["requestParameters"]["modelId"] == caller["aip"]

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="logs")["Contents"]]
    records = [
        json.loads(line)
        for k in keys
        for line in gzip.decompress(s3.get_object(Bucket="logs", Key=k)["Body"].read()).splitlines()
    ]
    assert sorted(r["operation"] for r in records) == ["CreateChatCompletion", "CreateResponse"]
    assert {r["identity"]["arn"] for r in records} == {caller["arn"]}

    cloudwatch = session.client("cloudwatch", endpoint_url=emulator)
    now = dt.datetime.fromisoformat(sim.clock()["now"])
    stats = cloudwatch.get_metric_statistics(
        Namespace="AWS/Bedrock",
        MetricName="OutputTokenCount",
        Dimensions=[{"Name": "ModelId", "Value": caller["aip"].rsplit("/", 1)[1]}],
        StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=1),
        Period=3600 * 2,
        Statistics=["Sum"],
    )["Datapoints"]
    assert chat.usage is not None and response.usage is not None
    assert sum(p["Sum"] for p in stats) == chat.usage.completion_tokens + response.usage.output_tokens

    sim.advance(25 * 3600)
    day = now.date()
    bill = ce.get_cost_and_usage(
        TimePeriod={"Start": str(day - dt.timedelta(days=1)), "End": str(day + dt.timedelta(days=2))},
        Granularity="MONTHLY",
        Metrics=["UsageQuantity"],
        GroupBy=[{"Type": "TAG", "Key": "Application"}],
    )
    quantity = sum(
        float(g["Metrics"]["UsageQuantity"]["Amount"])
        for p in bill["ResultsByTime"]
        for g in p["Groups"]
        if g["Keys"] == ["Application$chat"]
    )
    billed = chat.usage.prompt_tokens + chat.usage.completion_tokens + response.usage.input_tokens + response.usage.output_tokens
    # Marketplace usage is counted in millions of tokens (the Price List's unit)
    assert round(quantity * 1_000_000) == billed, "every token billed, under the AIP's cost tag"


def test_an_api_key_works_on_converse_too(caller, emulator) -> None:
    """Bedrock takes API keys on every runtime route. (boto3 sends AWS_BEARER_TOKEN_BEDROCK only over
    HTTPS, and the emulator serves HTTP: plain HTTP shows the route.)"""
    url = f"{emulator}/model/{caller['aip'].replace(':', '%3A').replace('/', '%2F')}/converse"
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": ASK}]}]})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {caller['api_key']}"}
    answer = urllib3.request("POST", url, body=body, headers=headers)
    assert answer.status == 200, answer.data
    assert json.loads(answer.data)["usage"]["outputTokens"] > 0
