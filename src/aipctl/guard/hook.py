"""The after-call half of the in-path limits: real usage and cost back into the limiter."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aipctl.pricing import ModelRef, price_book

_THROTTLES = {"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"}


def _per_token(ref: ModelRef) -> tuple[float, float, float, float]:
    price = price_book().price(ref)
    return (
        float(price.input) / 1e6,
        float(price.output) / 1e6,
        float(price.cache_read) / 1e6,
        float(price.cache_write) / 1e6,
    )


class _Metered:
    """Wraps a response event stream; settles the limiter when the stream's usage arrives."""

    def __init__(self, stream: Any, on_usage: Callable[[Mapping[str, int]], None], kind: str) -> None:
        self._stream = stream
        self._on_usage = on_usage
        self._kind = kind
        self._settled = False

    def __iter__(self) -> Iterator[Any]:
        for event in self._stream:
            if not self._settled:
                usage = self._usage(event)
                if usage is not None:
                    self._settled = True
                    self._on_usage(usage)
            yield event

    def _usage(self, event: Mapping[str, Any]) -> Mapping[str, int] | None:
        if self._kind == "converse":
            return (event.get("metadata") or {}).get("usage")
        chunk = (event.get("chunk") or {}).get("bytes")
        if chunk and b"amazon-bedrock-invocationMetrics" in chunk:
            metrics = json.loads(chunk)["amazon-bedrock-invocationMetrics"]
            return {"inputTokens": metrics.get("inputTokenCount", 0), "outputTokens": metrics.get("outputTokenCount", 0)}
        return None

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close:
            close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Prices:
    """USD per token (input, output, cache read, cache write) of the models a caller calls, by the ARN or
    model id it sends; an unpriced model costs 0 here (its calls still count tokens)."""

    def __init__(self, sources: Mapping[str, ModelRef]) -> None:
        self._prices: dict[str, tuple[float, float, float, float]] = {}
        for arn, ref in sources.items():
            try:
                self._prices[arn] = _per_token(ref)
            except KeyError:
                self._prices[arn] = (0.0, 0.0, 0.0, 0.0)

    def of(self, target: str) -> tuple[float, float, float, float]:
        found = self._prices.get(target)
        if found is None:  # a model called directly (``attach(..., by_principal=True)``): priced by its own id
            try:
                found = _per_token(ModelRef.from_source(target.rsplit("/", 1)[-1]))
            except (KeyError, ValueError):
                found = (0.0, 0.0, 0.0, 0.0)
            self._prices[target] = found
        return found


def settle_handler(limiter: Any, prices: Prices) -> Callable[..., None]:
    def settle(reservation: Any, arn: str, usage: Mapping[str, int]) -> None:
        tin, tout = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
        cread, cwrite = int(usage.get("cacheReadInputTokens", 0)), int(usage.get("cacheWriteInputTokens", 0))
        p = prices.of(arn)
        limiter.settle(reservation, tin + tout, tin * p[0] + tout * p[1] + cread * p[2] + cwrite * p[3])

    def handler(http_response: Any = None, parsed: Any = None, model: Any = None, context: Any = None, **_: Any) -> None:
        ticket = context.pop("aipctl_ticket", None) if context else None
        if ticket is None or parsed is None:
            return
        reservation, arn = ticket
        error = (parsed.get("Error") or {}).get("Code")
        if error:
            if error in _THROTTLES:
                limiter.throttled()
            limiter.settle(reservation, 0, 0.0)  # a refused call uses no tokens
            return
        name = model.name if model is not None else ""
        if name == "Converse":
            settle(reservation, arn, parsed.get("usage") or {})
        elif name == "InvokeModel":
            headers = getattr(http_response, "headers", {}) or {}
            usage = {
                "inputTokens": int(headers.get("x-amzn-bedrock-input-token-count", 0) or 0),
                "outputTokens": int(headers.get("x-amzn-bedrock-output-token-count", 0) or 0),
                "cacheReadInputTokens": int(headers.get("x-amzn-bedrock-cache-read-input-token-count", 0) or 0),
                "cacheWriteInputTokens": int(headers.get("x-amzn-bedrock-cache-write-input-token-count", 0) or 0),
            }
            settle(reservation, arn, usage)
        elif name in ("ConverseStream", "InvokeModelWithResponseStream"):
            key = "stream" if name == "ConverseStream" else "body"
            parsed[key] = _Metered(
                parsed[key], lambda usage: settle(reservation, arn, usage), "converse" if key == "stream" else "invoke"
            )

    return handler
