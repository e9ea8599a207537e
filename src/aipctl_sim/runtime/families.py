"""Request checking and response bodies of each model family, in the providers' real formats.

Converse is the same for every text model; InvokeModel bodies differ by family: Anthropic
Messages, Amazon Nova, Titan text embeddings and Cohere embeddings. Each request is planned once
(:class:`Answer`): its text (cut at the first stop sequence), its reasoning when extended thinking
is on, its output tokens and stop reason, and its ids (unique per call); every rendering of the
call — the response, the stream, the invocation log — shows that one answer.
"""

from __future__ import annotations

import base64
import json
import math
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from aipctl_sim.protocol import ValidationException
from aipctl_sim.runtime import validation
from aipctl_sim.runtime.tokens import (
    PromptCounter,
    PromptTokens,
    count_converse_content,
    digest,
    output_tokens,
    synthetic_text,
    text_tokens,
)

TEXT_FAMILIES = ("anthropic-messages", "nova")
EMBEDDING_FAMILIES = ("titan-embed", "cohere-embed")


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    #: Of ``cache_write``: the tokens written with a 1-hour TTL.
    cache_write_1h: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read + self.cache_write


#: Output tokens of a tool call beyond its arguments' JSON (the block, the tool's name).
TOOL_CALL_OVERHEAD = 12


@dataclass(frozen=True)
class Answer:
    """The one answer a request gets."""

    text: str
    reasoning: str
    output_tokens: int
    stop_reason: str  # end_turn | max_tokens | stop_sequence | tool_use
    stop_sequence: str | None
    tool_input: dict[str, Any] | None


@dataclass
class ParsedRequest:
    """What the emulator needs from any request, whatever its format."""

    prompt: PromptTokens
    max_tokens: int | None
    request_digest: str
    tool: dict[str, Any] | None = None  # the tool to call, when the answer is a tool use
    embed_texts: list[str] = field(default_factory=list)
    dimensions: int = 0
    stop_sequences: tuple[str, ...] = ()
    thinking_budget: int = 0
    #: The service tier the request named (None: it named none, and gets the standard tier).
    service_tier: str | None = None
    #: Unique per call (the answer itself depends only on the request).
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _answer: Answer | None = field(default=None, repr=False)

    def planned_output_tokens(self) -> int:
        return self.answer.output_tokens

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            self._answer = _plan(self)
        return self._answer


def _plan(parsed: ParsedRequest) -> Answer:
    if parsed.embed_texts:
        return Answer("", "", 0, "end_turn", None, None)
    if parsed.tool is not None:
        arguments = example_input(parsed.tool)
        tokens = text_tokens(json.dumps(arguments, separators=(",", ":"))) + TOOL_CALL_OVERHEAD
        return Answer("", "", tokens, "tool_use", None, arguments)
    reasoning = ""
    if parsed.thinking_budget:
        wanted = 64 + int(parsed.request_digest[8:14], 16) % 448
        reasoning = synthetic_text(min(wanted, parsed.thinking_budget), parsed.request_digest[::-1])
    limit = None if parsed.max_tokens is None else max(1, parsed.max_tokens - text_tokens(reasoning))
    planned = output_tokens(parsed.request_digest, limit)
    text = synthetic_text(planned, parsed.request_digest)
    stop_reason = "max_tokens" if limit is not None and planned >= limit else "end_turn"
    hits = [(text.find(seq), seq) for seq in parsed.stop_sequences if seq and seq in text]
    matched = None
    if hits:
        cut, matched = min(hits)
        text, stop_reason = text[:cut], "stop_sequence"
    return Answer(text, reasoning, max(1, text_tokens(text)) + text_tokens(reasoning), stop_reason, matched, None)


def malformed(problem: str) -> ValidationException:
    return ValidationException(f"Malformed input request: {problem}, please reformat your input and try again.")


# -- Converse --------------------------------------------------------------------------------


def parse_converse(params: dict[str, Any], model_id: str = "") -> ParsedRequest:
    counter = PromptCounter()
    for block in params.get("system") or []:
        count_converse_content(counter, [block])
    messages = params.get("messages") or []
    validation.check_conversation(messages, model_id)
    config = params.get("inferenceConfig") or {}
    extra = params.get("additionalModelRequestFields") or {}
    budget = validation.check_generation(
        model_id,
        max_tokens=config.get("maxTokens"),
        temperature=config.get("temperature"),
        top_p=config.get("topP"),
        top_k=extra.get("top_k") if isinstance(extra, dict) else None,
        thinking=validation.thinking_of(extra if isinstance(extra, dict) else None),
    )
    for message in messages:
        counter.message()
        count_converse_content(counter, message.get("content", []))
    tools = [t["toolSpec"] for t in (params.get("toolConfig") or {}).get("tools", []) if "toolSpec" in t]
    for tool in tools:
        counter.text(json.dumps(tool, sort_keys=True, separators=(",", ":")))
    choice = (params.get("toolConfig") or {}).get("toolChoice") or {}
    last = messages[-1]
    answered = any("toolResult" in block for block in last.get("content", []))
    tool = None
    if tools and last.get("role") == "user" and not answered:
        name = (choice.get("tool") or {}).get("name")
        tool = next((t for t in tools if t["name"] == name), tools[0])
    # The answer depends on the request, not on how the model was addressed (AIP ARN, id, profile).
    request = {k: v for k, v in params.items() if k != "modelId"}
    return ParsedRequest(
        counter.result(),
        config.get("maxTokens"),
        digest(request),
        tool=tool,
        stop_sequences=tuple(config.get("stopSequences") or ()),
        thinking_budget=budget,
    )


def converse_content(parsed: ParsedRequest) -> list[dict[str, Any]]:
    answer = parsed.answer
    if answer.tool_input is not None and parsed.tool is not None:
        return [{"toolUse": {"toolUseId": tool_use_id(parsed), "name": parsed.tool["name"], "input": answer.tool_input}}]
    content: list[dict[str, Any]] = []
    if answer.reasoning:
        content.append({"reasoningContent": {"reasoningText": {"text": answer.reasoning, "signature": signature(parsed)}}})
    content.append({"text": answer.text})
    return content


def converse_output(parsed: ParsedRequest, usage: Usage, latency: int) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": converse_content(parsed)}},
        "stopReason": parsed.answer.stop_reason,
        "usage": usage_converse(usage),
        "metrics": {"latencyMs": latency},
        **({"serviceTier": {"type": parsed.service_tier}} if parsed.service_tier else {}),
    }


def usage_converse(usage: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens, "totalTokens": usage.total}
    if usage.cache_read:
        out["cacheReadInputTokens"] = usage.cache_read
    if usage.cache_write:
        out["cacheWriteInputTokens"] = usage.cache_write
        out["cacheDetails"] = cache_details(usage)
    return out


def cache_details(usage: Usage) -> list[dict[str, Any]]:
    """Converse ``usage.cacheDetails``: the tokens written per TTL."""
    out = []
    if usage.cache_write - usage.cache_write_1h:
        out.append({"ttl": "5m", "inputTokens": usage.cache_write - usage.cache_write_1h})
    if usage.cache_write_1h:
        out.append({"ttl": "1h", "inputTokens": usage.cache_write_1h})
    return out


def example_input(tool: dict[str, Any]) -> dict[str, Any]:
    """A deterministic argument object that satisfies the tool's JSON schema (required fields)."""
    schema = (tool.get("inputSchema") or {}).get("json") or tool.get("input_schema") or {}
    if isinstance(schema, str):
        schema = json.loads(schema)
    props = schema.get("properties", {})
    required = schema.get("required", list(props))
    samples = {"string": "example", "integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}
    return {name: samples.get(props.get(name, {}).get("type", "string"), "example") for name in required}


def tool_use_id(parsed: ParsedRequest) -> str:
    return "tooluse_" + parsed.call_id[:22]


def signature(parsed: ParsedRequest) -> str:
    """The opaque signature of a reasoning block (the real one is encrypted; this one is just unique)."""
    return base64.b64encode(("aipctl-sim:" + parsed.call_id).encode()).decode()


# -- InvokeModel bodies ----------------------------------------------------------------------


def parse_invoke(family: str, body: bytes, model_id: str) -> ParsedRequest:
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        raise malformed("request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise malformed("#: expected type: JSONObject")
    parser = {
        "anthropic-messages": _parse_anthropic,
        "nova": _parse_nova,
        "titan-embed": _parse_titan,
        "cohere-embed": _parse_cohere,
    }[family]
    return parser(payload, model_id)


def _require(payload: dict[str, Any], *keys: str) -> None:
    missing = [k for k in keys if k not in payload]
    if missing:
        raise malformed(", ".join(f"#: required key [{k}] not found" for k in missing))


def _parse_anthropic(payload: dict[str, Any], model_id: str) -> ParsedRequest:
    _require(payload, "anthropic_version", "max_tokens", "messages")
    extra = set(payload) - {
        "anthropic_version",
        "max_tokens",
        "messages",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "tools",
        "tool_choice",
        "anthropic_beta",
        "thinking",
        "metadata",
    }
    if extra:
        raise malformed(f"#: extraneous key [{sorted(extra)[0]}] is not permitted")
    messages = payload["messages"]
    if not isinstance(messages, list) or not messages or messages[0].get("role") != "user":
        raise malformed('messages: the first message must use the "user" role')
    budget = validation.check_generation(
        model_id,
        max_tokens=int(payload["max_tokens"]),
        temperature=payload.get("temperature"),
        top_p=payload.get("top_p"),
        top_k=payload.get("top_k"),
        thinking=validation.thinking_of(payload),
    )
    counter = PromptCounter()
    system = payload.get("system")
    _count_anthropic_blocks(counter, [{"type": "text", "text": system}] if isinstance(system, str) else system or [])
    for message in payload["messages"]:
        counter.message()
        content = message.get("content")
        _count_anthropic_blocks(counter, [{"type": "text", "text": content}] if isinstance(content, str) else content or [])
    tools = payload.get("tools") or []
    for tool in tools:
        counter.text(json.dumps(tool, sort_keys=True, separators=(",", ":")))
    last = payload["messages"][-1] if payload["messages"] else {}
    last_content: list[Any] = last["content"] if isinstance(last.get("content"), list) else []
    answered = any(b.get("type") == "tool_result" for b in last_content)
    tool = tools[0] if tools and last.get("role") == "user" and not answered else None
    return ParsedRequest(
        counter.result(),
        int(payload["max_tokens"]),
        digest(payload),
        tool=tool,
        stop_sequences=tuple(payload.get("stop_sequences") or ()),
        thinking_budget=budget,
    )


def _count_anthropic_blocks(counter: PromptCounter, blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            counter.text(str(block.get("text", "")))
        elif kind in ("image", "document"):
            counter.block(1600, json.dumps(block, sort_keys=True)[:256])
        elif kind in ("tool_use", "tool_result"):
            counter.text(json.dumps(block, sort_keys=True, separators=(",", ":")))
        control = block.get("cache_control")
        if control:
            counter.cache_point(
                control.get("ttl") if isinstance(control, dict) else None
            )  # Anthropic caches the prefix up to and including this block


def anthropic_content(parsed: ParsedRequest) -> list[dict[str, Any]]:
    answer = parsed.answer
    if answer.tool_input is not None and parsed.tool is not None:
        return [
            {
                "type": "tool_use",
                "id": "toolu_bdrk_" + parsed.call_id[:24],
                "name": parsed.tool["name"],
                "input": answer.tool_input,
            }
        ]
    content: list[dict[str, Any]] = []
    if answer.reasoning:
        content.append({"type": "thinking", "thinking": answer.reasoning, "signature": signature(parsed)})
    content.append({"type": "text", "text": answer.text})
    return content


def anthropic_body(parsed: ParsedRequest, usage: Usage, model_id: str) -> dict[str, Any]:
    return {
        "id": "msg_bdrk_" + parsed.call_id[:24],
        "type": "message",
        "role": "assistant",
        "model": model_id.removeprefix("anthropic.").split("-v")[0],
        "content": anthropic_content(parsed),
        "stop_reason": parsed.answer.stop_reason,
        "stop_sequence": parsed.answer.stop_sequence,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": usage.cache_write,
            "cache_read_input_tokens": usage.cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": usage.cache_write - usage.cache_write_1h,
                "ephemeral_1h_input_tokens": usage.cache_write_1h,
            },
        },
    }


def _parse_nova(payload: dict[str, Any], model_id: str) -> ParsedRequest:
    _require(payload, "messages")
    if "anthropic_version" in payload or "max_tokens" in payload:
        raise malformed("extraneous key [max_tokens] is not permitted")
    counter = PromptCounter()
    for block in payload.get("system") or []:
        count_converse_content(counter, [block])
    for message in payload["messages"]:
        counter.message()
        count_converse_content(counter, message.get("content", []))
    config = payload.get("inferenceConfig") or {}
    max_tokens = config.get("maxTokens", config.get("max_new_tokens"))
    validation.check_generation(
        model_id, max_tokens=max_tokens, temperature=config.get("temperature"), top_p=config.get("topP", config.get("top_p"))
    )
    stops = config.get("stopSequences", config.get("stop_sequences")) or ()
    return ParsedRequest(counter.result(), max_tokens, digest(payload), stop_sequences=tuple(stops))


def nova_body(parsed: ParsedRequest, usage: Usage) -> dict[str, Any]:
    return {
        "output": {"message": {"content": [{"text": parsed.answer.text}], "role": "assistant"}},
        "stopReason": parsed.answer.stop_reason,
        "usage": {
            "inputTokens": usage.input_tokens,
            "outputTokens": usage.output_tokens,
            "totalTokens": usage.total,
            "cacheReadInputTokenCount": usage.cache_read,
            "cacheWriteInputTokenCount": usage.cache_write,
        },
    }


def _parse_titan(payload: dict[str, Any], model_id: str) -> ParsedRequest:
    _require(payload, "inputText")
    if not isinstance(payload["inputText"], str) or not payload["inputText"]:
        raise malformed("#/inputText: expected minLength: 1")
    dimensions = int(payload.get("dimensions", 1024 if model_id.endswith("v2:0") else 1536))
    if model_id.endswith("v2:0") and dimensions not in (256, 512, 1024):
        raise malformed("#/dimensions: 256, 512 or 1024 expected")
    counter = PromptCounter()
    counter.text(payload["inputText"])
    return ParsedRequest(counter.result(), None, digest(payload), embed_texts=[payload["inputText"]], dimensions=dimensions)


def _parse_cohere(payload: dict[str, Any], model_id: str) -> ParsedRequest:
    _require(payload, "texts", "input_type")
    texts = payload["texts"]
    if not isinstance(texts, list) or not 1 <= len(texts) <= 96:
        raise malformed("#/texts: expected 1 to 96 strings")
    counter = PromptCounter()
    for text in texts:
        counter.text(str(text))
    dims = 1536 if "v4" in model_id else 1024
    return ParsedRequest(counter.result(), None, digest(payload), embed_texts=[str(t) for t in texts], dimensions=dims)


def embedding(text: str, dimensions: int) -> list[float]:
    rng = random.Random(digest(text))
    vector = [rng.gauss(0, 1) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 6) for v in vector]


def embedding_body(family: str, parsed: ParsedRequest, usage: Usage, payload: bytes) -> dict[str, Any]:
    vectors = [embedding(t, parsed.dimensions) for t in parsed.embed_texts]
    if family == "titan-embed":
        return {"embedding": vectors[0], "inputTextTokenCount": usage.input_tokens}
    request = json.loads(payload)
    if request.get("embedding_types"):
        return {
            "id": str(uuid.uuid4()),
            "embeddings": {"float": vectors},
            "texts": parsed.embed_texts,
            "response_type": "embeddings_by_type",
        }
    return {"id": str(uuid.uuid4()), "embeddings": vectors, "texts": parsed.embed_texts, "response_type": "embeddings_floats"}


def count_tokens_input(params: dict[str, Any], family: str, model_id: str) -> int:
    """CountTokens: the input tokens the same request would be billed for."""
    source = params.get("input") or {}
    if "converse" in source:
        return parse_converse(source["converse"], model_id).prompt.total
    if "invokeModel" in source:
        body = source["invokeModel"].get("body", "")
        raw = body if isinstance(body, bytes) else base64.b64decode(str(body))  # a JSON blob is base64
        return parse_invoke(family, raw, model_id).prompt.total
    raise ValidationException("input must contain converse or invokeModel")


__all__ = ["EMBEDDING_FAMILIES", "TEXT_FAMILIES", "ParsedRequest", "Usage", "text_tokens"]
