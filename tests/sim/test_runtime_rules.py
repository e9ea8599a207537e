"""What Bedrock refuses and how it shapes answers, per model: limits, sampling, conversations, stop
sequences, extended thinking, ids and tool calls — through unmodified boto3 clients.

The rules are Bedrock's (aipctl_sim/runtime/validation.py cites the sources); expected counts follow
the emulator's documented token rule (ceil(characters / 4)), computed here.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

SONNET = "eu.anthropic.claude-sonnet-4-6"
HAIKU = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
OPUS_46 = "eu.anthropic.claude-opus-4-6-v1"
NOVA = "eu.amazon.nova-lite-v1:0"
ASK = [{"role": "user", "content": [{"text": "Which tenant spent most on Bedrock last week?"}]}]


@pytest.fixture
def runtime(session, emulator: str) -> Any:
    return session.client("bedrock-runtime", endpoint_url=emulator, config=Config(retries={"total_max_attempts": 1}))


def _refused(call: Any) -> str:
    with pytest.raises(ClientError) as exc:
        call()
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    return str(exc.value.response["Error"]["Message"])


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def test_output_limits_and_parameter_ranges(runtime: Any) -> None:
    message = _refused(lambda: runtime.converse(modelId=SONNET, messages=ASK, inferenceConfig={"maxTokens": 100_000}))
    assert "exceeds the model limit of 64000" in message
    assert runtime.converse(modelId=SONNET, messages=ASK, inferenceConfig={"maxTokens": 64_000})["usage"]["outputTokens"] > 0
    too_long = {"maxTokens": 20_000}
    assert "limit of 10000" in _refused(lambda: runtime.converse(modelId=NOVA, messages=ASK, inferenceConfig=too_long))
    message = _refused(lambda: runtime.converse(modelId=SONNET, messages=ASK, inferenceConfig={"temperature": 5}))
    assert "inferenceConfig.temperature" in message and "less than or equal to 1" in message


def test_temperature_and_top_p_together_only_where_the_model_allows(runtime: Any) -> None:
    both = {"temperature": 0.3, "topP": 0.9}
    for model in (SONNET, HAIKU):
        message = _refused(lambda m=model: runtime.converse(modelId=m, messages=ASK, inferenceConfig=both))
        assert "`temperature` and `top_p` cannot both be specified for this model" in message
    assert runtime.converse(modelId=NOVA, messages=ASK, inferenceConfig=both)["stopReason"] == "end_turn"
    assert runtime.converse(modelId=HAIKU, messages=ASK, inferenceConfig={"temperature": 0.3})["usage"]["outputTokens"] > 0
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "temperature": 0.2, "top_p": 0.5, "messages": ASK}
    assert "cannot both be specified" in _refused(lambda: runtime.invoke_model(modelId=HAIKU, body=json.dumps(body)))


def test_conversations_start_with_the_user_and_alternate(runtime: Any) -> None:
    reply = {"role": "assistant", "content": [{"text": "The chat tenant."}]}
    assert "must start with a user message" in _refused(lambda: runtime.converse(modelId=SONNET, messages=[reply, *ASK]))
    assert "must alternate" in _refused(lambda: runtime.converse(modelId=SONNET, messages=[*ASK, *ASK]))
    empty = [{"role": "user", "content": []}]
    assert "messages.0 is empty" in _refused(lambda: runtime.converse(modelId=SONNET, messages=empty))
    prefilled = [*ASK, reply]
    assert runtime.converse(modelId=SONNET, messages=prefilled)["usage"]["outputTokens"] > 0, "prefill is allowed here"
    assert "prefill" in _refused(lambda: runtime.converse(modelId=OPUS_46, messages=prefilled))


def test_stop_sequences_end_the_answer(runtime: Any) -> None:
    # Every answer of 16 tokens or more holds each word of the emulator's vocabulary ("log" is one).
    stopped = runtime.converse(modelId=SONNET, messages=ASK, inferenceConfig={"stopSequences": ["log"], "maxTokens": 400})
    text = stopped["output"]["message"]["content"][0]["text"]
    assert stopped["stopReason"] == "stop_sequence" and "log" not in text
    assert stopped["usage"]["outputTokens"] == max(1, tokens(text))
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 400, "stop_sequences": ["key"], "messages": ASK}
    answer = json.loads(runtime.invoke_model(modelId=SONNET, body=json.dumps(body))["body"].read())
    assert answer["stop_reason"] == "stop_sequence" and answer["stop_sequence"] == "key"
    assert "key" not in answer["content"][0]["text"]


def test_extended_thinking_returns_reasoning_where_the_model_has_it(runtime: Any) -> None:
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 2000}}
    answer = runtime.converse(
        modelId=SONNET, messages=ASK, inferenceConfig={"maxTokens": 4000}, additionalModelRequestFields=thinking
    )
    reasoning, text = answer["output"]["message"]["content"]
    thought = reasoning["reasoningContent"]["reasoningText"]
    assert thought["text"] and thought["signature"]
    assert answer["usage"]["outputTokens"] == tokens(thought["text"]) + tokens(text["text"]), "thinking is billed as output"
    stream = runtime.converse_stream(
        modelId=SONNET, messages=ASK, inferenceConfig={"maxTokens": 4000}, additionalModelRequestFields=thinking
    )["stream"]
    deltas = [e["contentBlockDelta"]["delta"] for e in stream if "contentBlockDelta" in e]
    assert "".join(d["reasoningContent"].get("text", "") for d in deltas if "reasoningContent" in d) == thought["text"]
    for refused, fields, config in (
        (NOVA, thinking, {"maxTokens": 4000}),
        (SONNET, {"thinking": {"type": "enabled", "budget_tokens": 500}}, {"maxTokens": 4000}),
        (SONNET, thinking, {"maxTokens": 1500}),
        (SONNET, thinking, {"maxTokens": 4000, "temperature": 0.5}),
    ):
        _refused(
            lambda m=refused, f=fields, c=config: runtime.converse(
                modelId=m, messages=ASK, inferenceConfig=c, additionalModelRequestFields=f
            )
        )


def test_each_call_has_its_own_ids_and_tool_calls_cost_what_they_say(runtime: Any) -> None:
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": ASK})
    first, second = (json.loads(runtime.invoke_model(modelId=SONNET, body=body)["body"].read()) for _ in range(2))
    assert first["id"] != second["id"] and first["content"] == second["content"]
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tool = {"toolSpec": {"name": "weather", "inputSchema": {"json": schema}}}
    calls = [runtime.converse(modelId=SONNET, messages=ASK, toolConfig={"tools": [tool]}) for _ in range(2)]
    used = [c["output"]["message"]["content"][0]["toolUse"] for c in calls]
    assert used[0]["toolUseId"] != used[1]["toolUseId"] and used[0]["input"] == {"city": "example"}
    assert calls[0]["stopReason"] == "tool_use" and 0 < calls[0]["usage"]["outputTokens"] < 40, calls[0]["usage"]
