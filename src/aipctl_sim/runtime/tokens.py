"""Deterministic token counts and synthetic answers (no model weights).

The rule, documented so that tests and reports can compute the same numbers independently:

- **Input tokens** = ceil(characters / 4) of every text in the request (system prompts, message
  texts, tool results, tool specifications as compact JSON) + 3 per message + 1,600 per image or
  document block. ``cachePoint`` blocks split the prompt: the tokens before the last cache point
  are the cacheable prefix.
- **Cache**: a cacheable prefix (at least 1,024 tokens, as Bedrock requires) is written on first
  use (``cacheWriteInputTokens``, split by TTL in ``cacheDetails``) and read on every use within its
  TTL — 5 simulated minutes, or 1 hour when the cache point asks ``ttl: 1h`` (Claude models) —
  (``cacheReadInputTokens``, which also extends the TTL). Cached tokens are not counted in
  ``inputTokens``.
- **Output tokens** = min(maxTokens, 16 + (sha256(request) mod 240)); the answer text has exactly
  that many tokens (4-character words), so the same request always gets the same answer.
- **Latency** (reported in ``metrics.latencyMs`` and the invocation headers) = 150 ms + 6 ms per
  output token + 0.02 ms per input token.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

IMAGE_TOKENS = 1600
PER_MESSAGE_TOKENS = 3
MIN_CACHE_TOKENS = 1024
CACHE_TTL_S = 300
CACHE_TTLS_S = {"5m": 300, "1h": 3600}
DEFAULT_MAX_TOKENS = 4096
_WORDS = ("the", "aim", "cut", "tag", "set", "day", "run", "add", "key", "log", "use", "map", "fit", "new", "per", "all")


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


@dataclass(frozen=True)
class PromptTokens:
    """Input tokens of a request, split at its last cache point."""

    total: int
    cacheable_prefix: int
    prefix_digest: str | None
    #: The cache point's TTL: ``5m`` (the default) or ``1h``.
    ttl: str = "5m"

    @property
    def uncached(self) -> int:
        return self.total - self.cacheable_prefix


class PromptCounter:
    """Accumulates tokens block by block, remembering where the last cache point was."""

    def __init__(self) -> None:
        self.total = 0
        self._prefix = 0
        self._digest = hashlib.sha256()
        self._prefix_digest: str | None = None
        self._ttl = "5m"

    def text(self, text: str) -> None:
        self.total += text_tokens(text)
        self._digest.update(text.encode())

    def block(self, tokens: int, identity: str) -> None:
        self.total += tokens
        self._digest.update(identity.encode())

    def message(self) -> None:
        self.total += PER_MESSAGE_TOKENS

    def cache_point(self, ttl: str | None = None) -> None:
        self._prefix = self.total
        self._prefix_digest = self._digest.hexdigest()
        self._ttl = ttl or "5m"

    def result(self) -> PromptTokens:
        if self._prefix < MIN_CACHE_TOKENS:
            return PromptTokens(self.total, 0, None)
        return PromptTokens(self.total, self._prefix, self._prefix_digest, self._ttl)


def count_converse_content(counter: PromptCounter, blocks: list[dict[str, Any]]) -> None:
    """Count Converse content blocks (text, image, document, toolUse, toolResult, cachePoint)."""
    for block in blocks:
        if "text" in block:
            counter.text(str(block["text"]))
        elif "image" in block or "document" in block or "video" in block:
            counter.block(IMAGE_TOKENS, json.dumps(block, sort_keys=True, default=str)[:256])
        elif "toolUse" in block:
            counter.text(json.dumps(block["toolUse"], sort_keys=True, separators=(",", ":")))
        elif "toolResult" in block:
            for item in block["toolResult"].get("content", []):
                counter.text(item["text"] if "text" in item else json.dumps(item, sort_keys=True, default=str))
        elif "cachePoint" in block:
            counter.cache_point((block["cachePoint"] or {}).get("ttl"))


def output_tokens(request_digest: str, max_tokens: int | None) -> int:
    wanted = 16 + int(request_digest[:8], 16) % 240
    return max(1, min(wanted, max_tokens or DEFAULT_MAX_TOKENS))


def synthetic_text(tokens: int, seed: str) -> str:
    """A text of exactly ``tokens`` tokens under the rule above (4-character words)."""
    start = int(seed[:4], 16)
    # Three letters and a space are one token; n words make 4n-1 characters, i.e. n tokens.
    return " ".join(_WORDS[(start + i * 7) % len(_WORDS)] for i in range(tokens))


def latency_ms(input_tokens: int, out_tokens: int) -> int:
    return int(150 + 6 * out_tokens + 0.02 * input_tokens)


def digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
