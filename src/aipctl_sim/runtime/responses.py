"""bedrock-runtime handlers: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream, CountTokens."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, TypeVar

from aipctl_sim.identity import identity_for
from aipctl_sim.protocol import Request, Response, ServiceError, ValidationException
from aipctl_sim.runtime import eventstream, families, validation
from aipctl_sim.runtime.families import EMBEDDING_FAMILIES, ParsedRequest, Usage
from aipctl_sim.runtime.models import ModelTarget, authorize, check_options, finish, log_invocation, record, resolve

T = TypeVar("T")


def _begin(req: Request) -> tuple[Any, ModelTarget]:
    identity = identity_for(req.account_id, req.access_key_id)
    try:
        target = resolve(req.region, req.account_id, str(req.params["modelId"]), invoking=req.operation != "CountTokens")
        authorize(req, identity, target)
    except ServiceError as exc:
        record(req, identity, None, None, exc.code, message=exc.message)
        raise
    return identity, target


def _guarded(req: Request, identity: Any, target: ModelTarget, parse: Callable[[], T]) -> T:
    try:
        return parse()
    except ServiceError as exc:
        record(req, identity, target, None, exc.code, message=exc.message)
        raise


def _converse_parsed(req: Request) -> tuple[Any, ModelTarget, ParsedRequest]:
    identity, target = _begin(req)

    def parse() -> ParsedRequest:
        if target.model.family in EMBEDDING_FAMILIES:
            raise ValidationException(f"The model {target.model.model_id} does not support the Converse API.")
        parsed = families.parse_converse(req.params, target.model.model_id)
        check_options(req, target, parsed)
        return parsed

    return identity, target, _guarded(req, identity, target, parse)


def _converse_input(req: Request) -> dict[str, Any]:
    return {k: v for k, v in req.params.items() if k != "modelId"}


def converse(req: Request) -> dict[str, Any]:
    identity, target, parsed = _converse_parsed(req)
    usage, latency = finish(req, identity, target, parsed)
    output = families.converse_output(parsed, usage, latency)
    log_invocation(req, identity, target, usage, _converse_input(req), output)
    return output


def converse_stream(req: Request) -> Response:
    identity, target, parsed = _converse_parsed(req)
    usage, latency = finish(req, identity, target, parsed)
    full = families.converse_output(parsed, usage, latency)
    log_invocation(req, identity, target, usage, _converse_input(req), full)
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    for index, block in enumerate(full["output"]["message"]["content"]):
        events += _converse_block_events(index, block)
    events += [
        ("messageStop", {"stopReason": full["stopReason"]}),
        ("metadata", {k: full[k] for k in ("usage", "metrics", "serviceTier") if k in full}),
    ]
    return _stream_response(eventstream.stream(events))


def _converse_block_events(index: int, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """ConverseStream's events for one content block: start (tool use only), deltas, stop."""
    events: list[tuple[str, dict[str, Any]]] = []
    if "toolUse" in block:
        tool = block["toolUse"]
        start = {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}
        events.append(("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        events.append(
            ("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": json.dumps(tool["input"])}}})
        )
    elif "reasoningContent" in block:
        reasoning = block["reasoningContent"]["reasoningText"]
        for chunk in _chunks(reasoning["text"]):
            events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": {"text": chunk}}}))
        signed = {"reasoningContent": {"signature": reasoning["signature"]}}
        events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": signed}))
    else:
        for chunk in _chunks(block["text"]):
            events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": chunk}}))
    events.append(("contentBlockStop", {"contentBlockIndex": index}))
    return events


def _invoke_parsed(req: Request) -> tuple[Any, ModelTarget, ParsedRequest, bytes]:
    identity, target = _begin(req)
    body = req.params.get("body") or b""
    raw = body if isinstance(body, bytes) else str(body).encode()

    def parse() -> ParsedRequest:
        parsed = families.parse_invoke(target.model.family, raw, target.model.model_id)
        check_options(req, target, parsed)
        return parsed

    return identity, target, _guarded(req, identity, target, parse), raw


def invoke_body(target: ModelTarget, parsed: ParsedRequest, usage: Usage, raw: bytes) -> dict[str, Any]:
    """The InvokeModel answer body of ``target``'s model family (batch inference writes the same as modelOutput)."""
    family = target.model.family
    if family == "anthropic-messages":
        return families.anthropic_body(parsed, usage, target.model.model_id)
    if family == "nova":
        return families.nova_body(parsed, usage)
    return families.embedding_body(family, parsed, usage, raw)


def _metric_headers(usage: Usage, latency: int) -> dict[str, Any]:
    headers: dict[str, Any] = {
        "x-amzn-bedrock-input-token-count": usage.input_tokens,
        "x-amzn-bedrock-output-token-count": usage.output_tokens,
        "x-amzn-bedrock-invocation-latency": latency,
    }
    if usage.cache_read:
        headers["x-amzn-bedrock-cache-read-input-token-count"] = usage.cache_read
    if usage.cache_write:
        headers["x-amzn-bedrock-cache-write-input-token-count"] = usage.cache_write
    return headers


def invoke_model(req: Request) -> dict[str, Any]:
    identity, target, parsed, raw = _invoke_parsed(req)
    usage, latency = finish(req, identity, target, parsed)
    body = invoke_body(target, parsed, usage, raw)
    log_invocation(req, identity, target, usage, json.loads(raw), body)
    tier = {"serviceTier": parsed.service_tier} if parsed.service_tier else {}
    return {"body": json.dumps(body).encode(), "contentType": "application/json", **_metric_headers(usage, latency), **tier}


def invoke_model_with_response_stream(req: Request) -> Response:
    identity, target, parsed, raw = _invoke_parsed(req)
    if target.model.family in EMBEDDING_FAMILIES:
        error = ValidationException(f"The model {target.model.model_id} does not support response streaming.")
        record(req, identity, target, None, error.code, message=error.message)
        raise error
    usage, latency = finish(req, identity, target, parsed)
    metrics = {
        "inputTokenCount": usage.input_tokens,
        "outputTokenCount": usage.output_tokens,
        "invocationLatency": latency,
        "firstByteLatency": min(latency, 150),
    }
    if usage.cache_read:
        metrics["cacheReadInputTokenCount"] = usage.cache_read
    if usage.cache_write:
        metrics["cacheWriteInputTokenCount"] = usage.cache_write
    chunks = _family_chunks(target, parsed, usage)
    log_invocation(req, identity, target, usage, json.loads(raw), invoke_body(target, parsed, usage, raw))
    chunks[-1]["amazon-bedrock-invocationMetrics"] = metrics
    events = [("chunk", {"bytes": base64.b64encode(json.dumps(c).encode()).decode()}) for c in chunks]
    return _stream_response(eventstream.stream(events), {"X-Amzn-Bedrock-Content-Type": "application/json"})


def _family_chunks(target: ModelTarget, parsed: ParsedRequest, usage: Usage) -> list[dict[str, Any]]:
    answer = parsed.answer
    text, stop = answer.text, answer.stop_reason
    if target.model.family == "anthropic-messages":
        message = families.anthropic_body(parsed, usage, target.model.model_id)
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": 1,
                "cache_creation_input_tokens": usage.cache_write,
                "cache_read_input_tokens": usage.cache_read,
            },
        }
        return [
            {"type": "message_start", "message": start},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": c}} for c in _chunks(text)),
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": answer.stop_sequence},
                "usage": {"output_tokens": usage.output_tokens},
            },
            {"type": "message_stop"},
        ]
    return [
        {"messageStart": {"role": "assistant"}},
        *({"contentBlockDelta": {"delta": {"text": c}, "contentBlockIndex": 0}} for c in _chunks(text)),
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": stop}},
        {"metadata": {"usage": {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens}}},
    ]


def count_tokens(req: Request) -> dict[str, Any]:
    identity, target = _begin(req)
    validation.check_count_tokens(target.model.model_id, through_profile=target.profile_arn is not None)
    tokens = _guarded(
        req, identity, target, lambda: families.count_tokens_input(req.params, target.model.family, target.model.model_id)
    )
    return {"inputTokens": tokens}


def _chunks(text: str, size: int = 64) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _stream_response(body: bytes, extra: dict[str, str] | None = None) -> Response:
    headers = {"Content-Type": eventstream.CONTENT_TYPE, **(extra or {})}
    return Response(200, headers, body)
