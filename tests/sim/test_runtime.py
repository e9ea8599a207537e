"""bedrock-runtime in the emulator, through unmodified boto3 clients.

Expected token counts are computed here from the documented rule (aipctl_sim/runtime/tokens.py
docstring), not by calling the emulator's code.
"""

from __future__ import annotations

import json
import math

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, REGION, SONNET_PROFILE, TITAN_MODEL


def rule_tokens(*texts: str, messages: int = 1) -> int:
    return sum(math.ceil(len(t) / 4) for t in texts) + 3 * messages


@pytest.fixture
def runtime(session, emulator):
    return session.client(
        "bedrock-runtime", endpoint_url=emulator, config=Config(retries={"total_max_attempts": 1, "mode": "standard"})
    )


@pytest.fixture
def aip(bedrock) -> str:
    return bedrock.create_inference_profile(
        inferenceProfileName="chat-sonnet",
        modelSource={"copyFrom": SONNET_PROFILE},
        tags=[{"key": "Application", "value": "chat"}],
    )["inferenceProfileArn"]


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


MESSAGES = [{"role": "user", "content": [{"text": "What did the chat team spend yesterday?"}]}]
SYSTEM = [{"text": "You are a FinOps assistant."}]


def test_converse_through_an_aip_arn(runtime, aip: str) -> None:
    answer = runtime.converse(modelId=aip, messages=MESSAGES, system=SYSTEM, inferenceConfig={"maxTokens": 300})
    usage = answer["usage"]
    assert usage["inputTokens"] == rule_tokens("You are a FinOps assistant.", "What did the chat team spend yesterday?")
    text = answer["output"]["message"]["content"][0]["text"]
    assert math.ceil(len(text) / 4) == usage["outputTokens"]
    assert 16 <= usage["outputTokens"] <= 256
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert answer["metrics"]["latencyMs"] == int(150 + 6 * usage["outputTokens"] + 0.02 * usage["inputTokens"])
    assert answer["stopReason"] == "end_turn"
    again = runtime.converse(modelId=aip, messages=MESSAGES, system=SYSTEM, inferenceConfig={"maxTokens": 300})
    assert again["output"] == answer["output"], "deterministic"


def test_every_way_of_naming_the_model(runtime, aip: str) -> None:
    for model_id in (
        aip,
        aip.rsplit("/", 1)[1],
        SONNET_PROFILE,
        "eu.anthropic.claude-sonnet-4-6",
        "global.anthropic.claude-sonnet-4-6",
    ):
        assert runtime.converse(modelId=model_id, messages=MESSAGES)["usage"]["inputTokens"] > 0
    nova = runtime.converse(modelId="amazon.nova-lite-v1:0", messages=MESSAGES)
    assert nova["usage"]["outputTokens"] > 0


def test_max_tokens_caps_the_answer(runtime, aip: str) -> None:
    answer = runtime.converse(modelId=aip, messages=MESSAGES, inferenceConfig={"maxTokens": 5})
    assert answer["usage"]["outputTokens"] == 5
    assert answer["stopReason"] == "max_tokens"


def test_cache_points_write_then_read_until_the_ttl(runtime, aip: str, sim) -> None:
    long_context = "policy " * 1200  # 8,400 characters = 2,100 tokens, above the 1,024 minimum
    system = [{"text": long_context}, {"cachePoint": {"type": "default"}}]
    first = runtime.converse(modelId=aip, messages=MESSAGES, system=system)["usage"]
    assert first["cacheWriteInputTokens"] == 2100
    assert "cacheReadInputTokens" not in first
    assert first["inputTokens"] == rule_tokens("What did the chat team spend yesterday?")
    second = runtime.converse(modelId=aip, messages=MESSAGES, system=system)["usage"]
    assert second["cacheReadInputTokens"] == 2100 and "cacheWriteInputTokens" not in second
    sim.advance(301)
    third = runtime.converse(modelId=aip, messages=MESSAGES, system=system)["usage"]
    assert third["cacheWriteInputTokens"] == 2100, "expired after 5 simulated minutes"


def test_tool_use_round_trip(runtime, aip: str) -> None:
    tools = {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_spend",
                    "description": "spend of a team",
                    "inputSchema": {
                        "json": {
                            "type": "object",
                            "properties": {"team": {"type": "string"}, "days": {"type": "integer"}},
                            "required": ["team", "days"],
                        }
                    },
                }
            }
        ]
    }
    first = runtime.converse(modelId=aip, messages=MESSAGES, toolConfig=tools)
    assert first["stopReason"] == "tool_use"
    use = first["output"]["message"]["content"][0]["toolUse"]
    assert use["name"] == "get_spend" and use["input"] == {"team": "example", "days": 1}
    follow_up = [
        *MESSAGES,
        first["output"]["message"],
        {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": "42 USD"}]}}]},
    ]
    final = runtime.converse(modelId=aip, messages=follow_up, toolConfig=tools)
    assert final["stopReason"] == "end_turn" and "text" in final["output"]["message"]["content"][0]


def test_converse_stream_ends_with_usage_metadata(runtime, aip: str) -> None:
    events = list(runtime.converse_stream(modelId=aip, messages=MESSAGES)["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    usage = events[-1]["metadata"]["usage"]
    assert math.ceil(len(text) / 4) == usage["outputTokens"]
    assert usage["inputTokens"] == rule_tokens("What did the chat team spend yesterday?")


ANTHROPIC_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 200,
    "messages": [{"role": "user", "content": "Summarise the bill"}],
}


def test_invoke_model_anthropic_body_and_token_headers(runtime, aip: str) -> None:
    answer = runtime.invoke_model(modelId=aip, body=json.dumps(ANTHROPIC_BODY))
    body = json.loads(answer["body"].read())
    assert body["type"] == "message" and body["role"] == "assistant" and body["content"][0]["type"] == "text"
    assert body["usage"]["input_tokens"] == rule_tokens("Summarise the bill")
    headers = answer["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) == body["usage"]["input_tokens"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == body["usage"]["output_tokens"]
    assert int(headers["x-amzn-bedrock-invocation-latency"]) > 0


def test_invoke_model_with_response_stream_carries_invocation_metrics(runtime, aip: str) -> None:
    stream = runtime.invoke_model_with_response_stream(modelId=aip, body=json.dumps(ANTHROPIC_BODY))
    chunks = [json.loads(e["chunk"]["bytes"]) for e in stream["body"]]
    assert chunks[0]["type"] == "message_start" and chunks[-1]["type"] == "message_stop"
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert metrics["outputTokenCount"] == math.ceil(len(text) / 4)
    assert metrics["inputTokenCount"] == rule_tokens("Summarise the bill")


def test_nova_invoke_model_body(runtime) -> None:
    body = {
        "schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": "hello nova"}]}],
        "inferenceConfig": {"maxTokens": 64},
    }
    answer = json.loads(runtime.invoke_model(modelId="eu.amazon.nova-pro-v1:0", body=json.dumps(body))["body"].read())
    assert answer["output"]["message"]["role"] == "assistant"
    assert answer["usage"]["inputTokens"] == rule_tokens("hello nova")


def test_embeddings_through_an_aip(runtime, bedrock) -> None:
    titan = bedrock.create_inference_profile(inferenceProfileName="batch-embed", modelSource={"copyFrom": TITAN_MODEL})[
        "inferenceProfileArn"
    ]
    answer = runtime.invoke_model(modelId=titan, body=json.dumps({"inputText": "cost per caller", "dimensions": 512}))
    body = json.loads(answer["body"].read())
    assert len(body["embedding"]) == 512 and body["inputTextTokenCount"] == math.ceil(len("cost per caller") / 4)
    assert abs(sum(v * v for v in body["embedding"]) - 1) < 1e-3
    cohere = json.loads(
        runtime.invoke_model(
            modelId="cohere.embed-english-v3", body=json.dumps({"texts": ["a", "b"], "input_type": "search_document"})
        )["body"].read()
    )
    assert len(cohere["embeddings"]) == 2 and len(cohere["embeddings"][0]) == 1024
    with pytest.raises(ClientError) as exc:
        runtime.converse(modelId=titan, messages=MESSAGES)
    assert _code(exc) == "ValidationException"


def test_count_tokens_takes_a_foundation_model_and_matches_what_converse_bills(runtime, aip: str) -> None:
    """CountTokens names a foundation model (id or ARN), never a profile (Bedrock user guide, count-tokens)."""
    sonnet4 = "anthropic.claude-sonnet-4-20250514-v1:0"
    request = {"converse": {"messages": MESSAGES, "system": SYSTEM}}
    counted = runtime.count_tokens(modelId=sonnet4, input=request)["inputTokens"]
    by_arn = runtime.count_tokens(modelId=f"arn:aws:bedrock:{REGION}::foundation-model/{sonnet4}", input=request)
    billed = runtime.converse(modelId=f"eu.{sonnet4}", messages=MESSAGES, system=SYSTEM)["usage"]["inputTokens"]
    assert counted == by_arn["inputTokens"] == billed
    for refused in (aip, f"eu.{sonnet4}", "anthropic.claude-sonnet-4-6", "amazon.nova-lite-v1:0"):
        with pytest.raises(ClientError) as exc:
            runtime.count_tokens(modelId=refused, input=request)
        assert _code(exc) == "ValidationException" and "doesn't support counting tokens" in str(exc.value), refused


@pytest.mark.parametrize(
    "model_id,body,code,fragment",
    [
        ("eu.anthropic.claude-nonexistent", ANTHROPIC_BODY, "ValidationException", "model identifier is invalid"),
        (
            f"arn:aws:bedrock:{REGION}:{ACCOUNT}:application-inference-profile/zzzzzzzzzzzz",
            ANTHROPIC_BODY,
            "ResourceNotFoundException",
            "not found",
        ),
        ("anthropic.claude-sonnet-4-6", ANTHROPIC_BODY, "ValidationException", "on-demand throughput isn't supported"),
        (
            "eu.anthropic.claude-sonnet-4-6",
            {"messages": [{"role": "user", "content": "x"}]},
            "ValidationException",
            "required key [max_tokens]",
        ),
        (
            "eu.anthropic.claude-sonnet-4-6",
            {"schemaVersion": "messages-v1", "messages": []},
            "ValidationException",
            "Malformed input request",
        ),
        ("amazon.titan-embed-text-v2:0", ANTHROPIC_BODY, "ValidationException", "required key [inputText]"),
    ],
)
def test_errors_as_aws_sends_them(runtime, model_id: str, body: dict, code: str, fragment: str) -> None:
    with pytest.raises(ClientError) as exc:
        runtime.invoke_model(modelId=model_id, body=json.dumps(body))
    assert _code(exc) == code
    assert fragment in exc.value.response["Error"]["Message"]


def test_injected_throttling_is_a_429_and_is_recorded(runtime, aip: str, sim, session, emulator) -> None:
    sim.set_faults([{"service": "bedrock-runtime", "operation": "Converse", "throttle_rate": 1.0}])
    with pytest.raises(ClientError) as exc:
        runtime.converse(modelId=aip, messages=MESSAGES)
    sim.set_faults([])
    assert _code(exc) == "ThrottlingException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    trail = session.client("cloudtrail", endpoint_url=emulator)
    event = json.loads(
        trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Converse"}])["Events"][0][
            "CloudTrailEvent"
        ]
    )
    assert event["errorCode"] == "ThrottlingException"


def test_explicit_deny_on_the_aip_refuses_the_call(session, emulator, aip: str) -> None:
    iam = session.client("iam", endpoint_url=emulator)
    iam.create_user(UserName="chat-app")
    key = iam.create_access_key(UserName="chat-app")["AccessKey"]
    iam.put_user_policy(
        UserName="chat-app",
        PolicyName="brake",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Sid": "AipctlBrake", "Effect": "Deny", "Action": "bedrock:InvokeModel*", "Resource": aip}],
            }
        ),
    )
    client = session.client(
        "bedrock-runtime",
        endpoint_url=emulator,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    with pytest.raises(ClientError) as exc:
        client.converse(modelId=aip, messages=MESSAGES)
    assert _code(exc) == "AccessDeniedException"
    assert "AipctlBrake" in exc.value.response["Error"]["Message"]
    assert client.converse(modelId="eu.anthropic.claude-sonnet-4-6", messages=MESSAGES)["usage"]["inputTokens"] > 0


def test_deny_without_the_aip_condition_stops_bypass_for_assumed_roles(session, emulator, aip: str) -> None:
    iam = session.client("iam", endpoint_url=emulator)
    role = iam.create_role(RoleName="chat-task", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))[
        "Role"
    ]
    iam.put_role_policy(
        RoleName="chat-task",
        PolicyName="only-own-aip",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "NoBypass",
                        "Effect": "Deny",
                        "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                        "Resource": "*",
                        "Condition": {"StringNotEquals": {"bedrock:InferenceProfileArn": aip}},
                    }
                ],
            }
        ),
    )
    creds = session.client("sts", endpoint_url=emulator).assume_role(RoleArn=role["Arn"], RoleSessionName="task-1")["Credentials"]
    client = session.client(
        "bedrock-runtime",
        endpoint_url=emulator,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    assert client.converse(modelId=aip, messages=MESSAGES)["usage"]["outputTokens"] > 0
    for bypass in ("eu.anthropic.claude-sonnet-4-6", "amazon.nova-lite-v1:0"):
        with pytest.raises(ClientError) as exc:
            client.converse(modelId=bypass, messages=MESSAGES)
        assert _code(exc) == "AccessDeniedException"
    events = session.client("cloudtrail", endpoint_url=emulator).lookup_events(
        LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "task-1"}]
    )["Events"]
    identity = json.loads(events[0]["CloudTrailEvent"])["userIdentity"]
    assert identity["type"] == "AssumedRole" and identity["sessionContext"]["sessionIssuer"]["arn"] == role["Arn"]
