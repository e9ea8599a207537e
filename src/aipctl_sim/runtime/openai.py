"""bedrock-runtime's OpenAI-compatible APIs: Chat Completions and Responses under ``/openai/v1``.

``POST /openai/v1/chat/completions`` and ``POST /openai/v1/responses``, signed with SigV4 (service
``bedrock``) or sent with a Bedrock API key as ``Authorization: Bearer``. A request is translated to
Converse and answered by the same engine, so it has the same answers, token rule, model rules,
CloudTrail event, CloudWatch metrics, invocation-log record and bill line as Converse; only the wire
format is OpenAI's (``stream: true`` answers server-sent events).

What AWS documents: the base URL ``https://bedrock-runtime.{region}.amazonaws.com/openai/v1``, both
authentications, Responses on bedrock-runtime always synchronous (no ``background``), no
server-side tools, only the default project (Bedrock user guide: inference-chat-completions,
inference-responses-api, endpoints). What the emulator decides where AWS says nothing it could find:
any text model and any model id form Converse takes is accepted as ``model`` (foundation model,
system profile, AIP ARN or id); the CloudTrail event names are ``CreateChatCompletion`` and
``CreateResponse`` (the naming of bedrock-mantle's CloudTrail page); IAM authorises them as
``bedrock:InvokeModel`` (``bedrock:InvokeModelWithResponseStream`` with ``stream``); errors use
OpenAI's error body with the AWS error code as ``code`` and the AWS status; stored responses
(``previous_response_id``) are not kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from aipctl_sim import settings
from aipctl_sim.identity import identity_for
from aipctl_sim.protocol import Request, Response, ServiceError, ValidationException
from aipctl_sim.runtime import families
from aipctl_sim.runtime.families import EMBEDDING_FAMILIES, ParsedRequest, Usage
from aipctl_sim.runtime.models import ModelTarget, authorize, finish, log_invocation, record, resolve

CHAT = "CreateChatCompletion"
RESPONSES = "CreateResponse"
#: bedrock-mantle's APIs, served under the path prefix /mantle (one local endpoint cannot carry two AWS host
#: names): OpenAI-compatible at /mantle/v1 and /mantle/openai/v1, Anthropic-native at /mantle/anthropic/v1.
MANTLE_CHAT = "mantle:CreateChatCompletion"
MANTLE_RESPONSES = "mantle:CreateResponse"
MANTLE_MESSAGES = "mantle:CreateMessage"
#: (method, path) -> operation; the emulator routes these before botocore's model.
ROUTES = {
    ("POST", "/openai/v1/chat/completions"): CHAT,
    ("POST", "/openai/v1/responses"): RESPONSES,
    ("POST", "/mantle/v1/chat/completions"): MANTLE_CHAT,
    ("POST", "/mantle/openai/v1/chat/completions"): MANTLE_CHAT,
    ("POST", "/mantle/v1/responses"): MANTLE_RESPONSES,
    ("POST", "/mantle/openai/v1/responses"): MANTLE_RESPONSES,
    ("POST", "/mantle/anthropic/v1/messages"): MANTLE_MESSAGES,
}
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def request_params(body: bytes) -> dict[str, Any]:
    """The JSON body as request parameters (``modelId`` from ``model``, as every runtime call records it)."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise ValidationException("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise ValidationException("The request body must be a JSON object.")
    return {**payload, "modelId": str(payload.get("model") or "")}


# -- the shared call ---------------------------------------------------------------------------------


def _call(req: Request, to_converse: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[Any, ModelTarget, ParsedRequest]:
    identity = identity_for(req.account_id, req.access_key_id)
    try:
        if req.parse_error is not None:
            raise req.parse_error
        if not req.params.get("model") or not isinstance(req.params["model"], str):
            raise ValidationException("model is required: a model id, inference profile id or ARN.")
        target = resolve(req.region, req.account_id, req.params["model"])
        authorize(req, identity, target)
    except ServiceError as exc:
        record(req, identity, None, None, exc.code, message=exc.message)
        raise
    try:
        if target.model.family in EMBEDDING_FAMILIES:
            raise ValidationException(f"The model {target.model.model_id} does not support this API.")
        parsed = families.parse_converse(to_converse(req.params), target.model.model_id)
    except ServiceError as exc:
        record(req, identity, target, None, exc.code, message=exc.message)
        raise
    return identity, target, parsed


def _answering(req: Request, answer: Callable[[], Response]) -> Response:
    try:
        return answer()
    except ServiceError as exc:
        kind = "invalid_request_error" if exc.status < 500 else "api_error"
        if exc.status == 403:
            kind = "permission_error"
        elif exc.status == 404:
            kind = "not_found_error"
        elif exc.status == 429:
            kind = "rate_limit_error"
        body = {"error": {"message": exc.message, "type": kind, "param": None, "code": exc.code}}
        return Response(exc.status, {"Content-Type": "application/json", "x-amzn-ErrorType": exc.code}, _json(body))


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _sse(events: Iterable[tuple[str | None, dict[str, Any] | str]]) -> Response:
    out = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        out.append((f"event: {name}\n" if name else "") + f"data: {payload}\n\n")
    return Response(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}, "".join(out).encode())


def _text(content: Any) -> str:
    """The text of OpenAI message content: a string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    raise ValidationException("content must be a string or a list of content parts.")


def _parts(content: Any) -> list[dict[str, Any]]:
    """OpenAI content parts as Converse blocks (images count as images)."""
    if isinstance(content, list):
        blocks: list[dict[str, Any]] = []
        for part in content:
            if not isinstance(part, dict):
                raise ValidationException("Each content part must be an object with a type.")
            kind = part.get("type")
            if kind in ("text", "input_text", "output_text"):
                blocks.append({"text": str(part.get("text", ""))})
            elif kind in ("image_url", "input_image"):
                blocks.append({"image": {"format": "png", "source": {"bytes": b""}}})
            else:
                raise ValidationException(f"Content part type {kind!r} is not supported.")
        return blocks
    return [{"text": _text(content)}]


def _inference_config(params: dict[str, Any], max_key: tuple[str, ...]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key in max_key:
        if params.get(key) is not None:
            config["maxTokens"] = params[key]
            break
    if params.get("temperature") is not None:
        config["temperature"] = params["temperature"]
    if params.get("top_p") is not None:
        config["topP"] = params["top_p"]
    stop = params.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    for key in ("maxTokens", "temperature", "topP"):
        if key in config and (isinstance(config[key], bool) or not isinstance(config[key], int | float)):
            raise ValidationException(f"{key} must be a number.")
    return config


def _tool_config(tools: Any, choice: Any, *, nested: bool) -> dict[str, Any] | None:
    if not tools or choice == "none":
        return None
    specs = []
    for tool in tools:
        function = tool.get("function", {}) if nested else tool
        if tool.get("type") != "function" or not function.get("name"):
            raise ValidationException("Only function tools with a name are supported on bedrock-runtime.")
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        specs.append({"toolSpec": {"name": function["name"], "inputSchema": {"json": schema}}})
    config: dict[str, Any] = {"tools": specs}
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") if nested else choice.get("name")
        if name:
            config["toolChoice"] = {"tool": {"name": name}}
    return config


def _merge_turns(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive turns of one role become one Converse message (tool results follow tool calls)."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        if merged and merged[-1]["role"] == message["role"]:
            merged[-1]["content"].extend(message["content"])
        else:
            merged.append({"role": message["role"], "content": list(message["content"])})
    return merged


def _arguments(raw: Any) -> Any:
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw or "{}")
    except ValueError:
        raise ValidationException("Function call arguments must be a JSON object.") from None


def _usage(usage: Usage) -> tuple[int, int, int]:
    """(prompt tokens incl. cache, completion tokens, cached tokens): OpenAI counts cache reads as prompt."""
    return usage.input_tokens + usage.cache_read + usage.cache_write, usage.output_tokens, usage.cache_read


def _chunked(text: str, size: int = 64) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# -- Chat Completions ------------------------------------------------------------------------------


def _chat_to_converse(params: dict[str, Any]) -> dict[str, Any]:
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationException("messages is required: a non-empty list.")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, dict):
            raise ValidationException("Each message must be an object with a role.")
        role = message.get("role")
        if role in ("system", "developer"):
            system.append({"text": _text(message.get("content"))})
        elif role == "user":
            turns.append({"role": "user", "content": _parts(message.get("content"))})
        elif role == "assistant":
            content = [b for b in _parts(message.get("content")) if b.get("text")] if message.get("content") else []
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                content.append(
                    {
                        "toolUse": {
                            "toolUseId": call.get("id", ""),
                            "name": function.get("name", ""),
                            "input": _arguments(function.get("arguments")),
                        }
                    }
                )
            turns.append({"role": "assistant", "content": content})
        elif role == "tool":
            result = {"toolUseId": str(message.get("tool_call_id", "")), "content": [{"text": _text(message.get("content"))}]}
            turns.append({"role": "user", "content": [{"toolResult": result}]})
        else:
            raise ValidationException(f"Message role {role!r} is not supported.")
    converse: dict[str, Any] = {"messages": _merge_turns(turns)}
    if system:
        converse["system"] = system
    config = _inference_config(params, ("max_completion_tokens", "max_tokens"))
    if config:
        converse["inferenceConfig"] = config
    tools = _tool_config(params.get("tools"), params.get("tool_choice"), nested=True)
    if tools:
        converse["toolConfig"] = tools
    return converse


def chat_completions(req: Request) -> Response:
    return _answering(req, lambda: _chat(req))


def _chat(req: Request) -> Response:
    identity, target, parsed = _call(req, _chat_to_converse)
    usage, latency = finish(req, identity, target, parsed)
    converse = families.converse_output(parsed, usage, latency)
    answer = parsed.answer
    message: dict[str, Any] = {"role": "assistant", "content": None if answer.tool_input is not None else answer.text}
    tool_calls = [
        {
            "id": block["toolUse"]["toolUseId"],
            "type": "function",
            "function": {"name": block["toolUse"]["name"], "arguments": json.dumps(block["toolUse"]["input"])},
        }
        for block in converse["output"]["message"]["content"]
        if "toolUse" in block
    ]
    if tool_calls:
        message["tool_calls"] = tool_calls
    prompt, completion, cached = _usage(usage)
    body: dict[str, Any] = {
        "id": "chatcmpl-" + parsed.call_id,
        "object": "chat.completion",
        "created": int(settings.now().timestamp()),
        "model": req.params["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": _FINISH[answer.stop_reason], "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }
    log_invocation(req, identity, target, usage, _logged_input(req), body)
    if not req.params.get("stream"):
        return Response(200, {"Content-Type": "application/json"}, _json(body))
    return _sse(_chat_chunks(req, body, message, tool_calls))


def _chat_chunks(
    req: Request, body: dict[str, Any], message: dict[str, Any], tool_calls: list[dict[str, Any]]
) -> list[tuple[str | None, dict[str, Any] | str]]:
    base = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"], "model": body["model"]}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[str | None, dict[str, Any] | str]:
        return None, {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

    events = [chunk({"role": "assistant", "content": ""})]
    if tool_calls:
        for index, call in enumerate(tool_calls):
            events.append(chunk({"tool_calls": [{"index": index, **call}]}))
    else:
        events += [chunk({"content": piece}) for piece in _chunked(str(message["content"]))]
    events.append(chunk({}, body["choices"][0]["finish_reason"]))
    if (req.params.get("stream_options") or {}).get("include_usage"):
        events.append((None, {**base, "choices": [], "usage": body["usage"]}))
    events.append((None, "[DONE]"))
    return events


# -- Responses -------------------------------------------------------------------------------------------


def _responses_to_converse(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("background"):
        raise ValidationException("background is not supported on bedrock-runtime: its requests are synchronous.")
    if params.get("previous_response_id"):
        raise ValidationException("previous_response_id: aipctl sim keeps no stored responses; send the input in full.")
    raw = params.get("input")
    if raw is None or raw in ("", []):
        raise ValidationException("input is required: a string or a list of input items.")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise ValidationException("input must be a string or a list of input items.")
    system = [{"text": str(params["instructions"])}] if params.get("instructions") else []
    turns: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationException("Each input item must be an object.")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                system.append({"text": _text(item.get("content"))})
            elif role in ("user", "assistant"):
                turns.append({"role": role, "content": _parts(item.get("content"))})
            else:
                raise ValidationException(f"Input role {role!r} is not supported.")
        elif kind == "function_call":
            use = {
                "toolUseId": str(item.get("call_id", "")),
                "name": str(item.get("name", "")),
                "input": _arguments(item.get("arguments")),
            }
            turns.append({"role": "assistant", "content": [{"toolUse": use}]})
        elif kind == "function_call_output":
            result = {"toolUseId": str(item.get("call_id", "")), "content": [{"text": _text(item.get("output"))}]}
            turns.append({"role": "user", "content": [{"toolResult": result}]})
        else:
            raise ValidationException(f"Input item type {kind!r} is not supported on bedrock-runtime.")
    converse: dict[str, Any] = {"messages": _merge_turns(turns)}
    if system:
        converse["system"] = system
    config = _inference_config(params, ("max_output_tokens",))
    if config:
        converse["inferenceConfig"] = config
    tools = _tool_config(params.get("tools"), params.get("tool_choice"), nested=False)
    if tools:
        converse["toolConfig"] = tools
    return converse


def responses(req: Request) -> Response:
    return _answering(req, lambda: _respond(req))


def _respond(req: Request) -> Response:
    identity, target, parsed = _call(req, _responses_to_converse)
    usage, _latency = finish(req, identity, target, parsed)
    answer = parsed.answer
    if answer.tool_input is not None and parsed.tool is not None:
        call_id = families.tool_use_id(parsed)
        output: list[dict[str, Any]] = [
            {
                "type": "function_call",
                "id": "fc_" + parsed.call_id,
                "call_id": call_id,
                "name": parsed.tool["name"],
                "arguments": json.dumps(answer.tool_input),
                "status": "completed",
            }
        ]
    else:
        output = []
        if answer.reasoning:
            summary = [{"type": "summary_text", "text": answer.reasoning}]
            output.append({"type": "reasoning", "id": "rs_" + parsed.call_id, "summary": summary})
        text = {"type": "output_text", "text": answer.text, "annotations": []}
        output.append(
            {"type": "message", "id": "msg_" + parsed.call_id, "status": "completed", "role": "assistant", "content": [text]}
        )
    prompt, completion, cached = _usage(usage)
    incomplete = answer.stop_reason == "max_tokens"
    body: dict[str, Any] = {
        "id": "resp_" + parsed.call_id,
        "object": "response",
        "created_at": int(settings.now().timestamp()),
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "error": None,
        "model": req.params["model"],
        "instructions": req.params.get("instructions"),
        "max_output_tokens": req.params.get("max_output_tokens"),
        "output": output,
        "parallel_tool_calls": True,
        "temperature": req.params.get("temperature"),
        "top_p": req.params.get("top_p"),
        "tool_choice": req.params.get("tool_choice", "auto"),
        "tools": req.params.get("tools") or [],
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
        "store": False,
        "metadata": {},
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": families.text_tokens(answer.reasoning) if answer.reasoning else 0},
            "total_tokens": prompt + completion,
        },
    }
    log_invocation(req, identity, target, usage, _logged_input(req), body)
    if not req.params.get("stream"):
        return Response(200, {"Content-Type": "application/json"}, _json(body))
    return _sse(_response_events(body))


def _response_events(body: dict[str, Any]) -> list[tuple[str | None, dict[str, Any] | str]]:
    events: list[tuple[str | None, dict[str, Any] | str]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": len(events), **fields}))

    started = {**body, "status": "in_progress", "output": [], "usage": None}
    emit("response.created", response=started)
    emit("response.in_progress", response=started)
    for index, item in enumerate(body["output"]):
        if item["type"] == "message":
            emit("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []})
            part = item["content"][0]
            emit(
                "response.content_part.added", output_index=index, item_id=item["id"], content_index=0, part={**part, "text": ""}
            )
            for piece in _chunked(part["text"]):
                emit(
                    "response.output_text.delta",
                    output_index=index,
                    item_id=item["id"],
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            emit(
                "response.output_text.done",
                output_index=index,
                item_id=item["id"],
                content_index=0,
                text=part["text"],
                logprobs=[],
            )
            emit("response.content_part.done", output_index=index, item_id=item["id"], content_index=0, part=part)
        elif item["type"] == "function_call":
            emit("response.output_item.added", output_index=index, item={**item, "arguments": "", "status": "in_progress"})
            emit("response.function_call_arguments.delta", output_index=index, item_id=item["id"], delta=item["arguments"])
            emit("response.function_call_arguments.done", output_index=index, item_id=item["id"], arguments=item["arguments"])
        else:
            emit("response.output_item.added", output_index=index, item=item)
        emit("response.output_item.done", output_index=index, item=item)
    emit("response.completed" if body["status"] == "completed" else "response.incomplete", response=body)
    return events


def _logged_input(req: Request) -> dict[str, Any]:
    return {k: v for k, v in req.params.items() if k != "modelId"}


# -- bedrock-mantle's Anthropic Messages API ---------------------------------------------------------


def _messages_to_converse(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("stream"):
        raise ValidationException("stream is not emulated on /anthropic/v1/messages; send stream: false")
    if not isinstance(params.get("max_tokens"), int):
        raise ValidationException("max_tokens is required (an integer)")
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationException("messages is required: a list of {role, content}")
    out: dict[str, Any] = {
        "messages": _merge_turns(
            [
                {"role": str(m.get("role")), "content": [{"text": _text(m.get("content"))}]}
                for m in messages
                if isinstance(m, dict)
            ]
        ),
        "inferenceConfig": {"maxTokens": params["max_tokens"]},
    }
    if params.get("system"):
        out["system"] = [{"text": _text(params["system"])}]
    if isinstance(params.get("temperature"), (int, float)):
        out["inferenceConfig"]["temperature"] = params["temperature"]
    return out


def messages(req: Request) -> Response:
    """``POST /mantle/anthropic/v1/messages``: Anthropic's Messages API on bedrock-mantle (non-streaming)."""

    def answer() -> Response:
        identity, target, parsed = _call(req, _messages_to_converse)
        usage, _latency = finish(req, identity, target, parsed)
        result = parsed.answer
        body = {
            "id": "msg_" + parsed.call_id,
            "type": "message",
            "role": "assistant",
            "model": req.params["model"],
            "content": [{"type": "text", "text": result.text}],
            "stop_reason": result.stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_read_input_tokens": usage.cache_read,
                "cache_creation_input_tokens": usage.cache_write,
            },
        }
        return Response(200, {"Content-Type": "application/json"}, _json(body))

    return _answering(req, answer)
