"""The after-call half of the in-path limits: real usage and cost back into the limiter."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aipctl.pricing import ModelRef, price_book

_THROTTLES = {"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"}


def _per_token(ref: ModelRef, tier: str = "default") -> tuple[float, ...]:
    """USD per token of input, output, cache read, 5-minute and 1-hour cache writes (the price book's rates)."""
    _, rates = price_book().per_token(ref, tier)
    return tuple(float(r) for r in rates)


_FREE = (0.0, 0.0, 0.0, 0.0, 0.0)


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
    """USD per token of the models a caller calls, by the ARN or model id it sends and the service tier; a model
    the price book lacks costs 0 here, with a warning (its calls still count tokens and requests)."""

    def __init__(self, sources: Mapping[str, ModelRef]) -> None:
        self._sources = dict(sources)
        self._prices: dict[tuple[str, str], tuple[float, ...]] = {}

    def of(self, target: str, tier: str = "default") -> tuple[float, ...]:
        found = self._prices.get((target, tier))
        if found is None:  # a model called directly (``attach(..., by_principal=True)``) is priced by its own id
            ref = self._sources.get(target) or ModelRef.from_source(target.rsplit("/", 1)[-1])
            try:
                found = _per_token(ref, tier)
            except (KeyError, ValueError):
                import warnings

                warnings.warn(f"aipctl: no {tier}-tier price for {ref.model_id}: USD limits do not count its calls", stacklevel=2)
                found = _FREE
            self._prices[(target, tier)] = found
        return found


def settle_handler(limiter: Any, prices: Prices) -> Callable[..., None]:
    def settle(reservation: Any, arn: str, usage: Mapping[str, Any], tier: str | None = None) -> None:
        tin, tout = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
        cread, cwrite = int(usage.get("cacheReadInputTokens", 0)), int(usage.get("cacheWriteInputTokens", 0))
        long = sum(int(d.get("inputTokens", 0)) for d in usage.get("cacheDetails") or () if d.get("ttl") == "1h")
        p = prices.of(arn, tier or "default")
        usd = tin * p[0] + tout * p[1] + cread * p[2] + (cwrite - long) * p[3] + long * p[4]
        limiter.settle(reservation, tin + tout, usd)

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
            settle(reservation, arn, parsed.get("usage") or {}, (parsed.get("serviceTier") or {}).get("type"))
        elif name == "InvokeModel":
            headers = getattr(http_response, "headers", {}) or {}
            usage = {
                "inputTokens": int(headers.get("x-amzn-bedrock-input-token-count", 0) or 0),
                "outputTokens": int(headers.get("x-amzn-bedrock-output-token-count", 0) or 0),
                "cacheReadInputTokens": int(headers.get("x-amzn-bedrock-cache-read-input-token-count", 0) or 0),
                "cacheWriteInputTokens": int(headers.get("x-amzn-bedrock-cache-write-input-token-count", 0) or 0),
            }
            settle(reservation, arn, usage, headers.get("x-amzn-bedrock-service-tier"))
        elif name in ("ConverseStream", "InvokeModelWithResponseStream"):
            key = "stream" if name == "ConverseStream" else "body"
            parsed[key] = _Metered(
                parsed[key], lambda usage: settle(reservation, arn, usage), "converse" if key == "stream" else "invoke"
            )

    return handler
