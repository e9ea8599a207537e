"""What pricing costs: ``cost_of`` per call against the least a price lookup can cost in Python, and the price
book's refresh from the Price List.

``cost_of`` is measured on a whole Converse response (usage and serviceTier), with and without cache writes
split by TTL, for a system profile id (priced once per process). The baseline is the minimum: a dict lookup of
per-token Decimal rates and two multiplications, in the same loop.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

PROFILE = "eu.anthropic.claude-sonnet-4-6"
PLAIN = {"usage": {"inputTokens": 1200, "outputTokens": 300, "totalTokens": 1500}}
CACHED = {
    "usage": {
        "inputTokens": 40,
        "outputTokens": 300,
        "totalTokens": 2440,
        "cacheWriteInputTokens": 2100,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 2100}],
    },
    "serviceTier": {"type": "default"},
}


def _per_call_us(fn: Any, iterations: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(iterations):
            fn()
        best = min(best, (time.perf_counter() - started) / iterations * 1e6)
    return best


def run(iterations: int = 200_000, progress: Any = None) -> dict[str, Any]:
    from aipctl.pricing import ModelRef, price_book
    from aipctl.wiring import cost_of

    book = price_book()
    price = book.price(ModelRef.from_source(PROFILE))
    table = {PROFILE: (price.input / 1_000_000, price.output / 1_000_000)}
    usage = PLAIN["usage"]

    def baseline() -> Decimal:
        p_in, p_out = table[PROFILE]
        return p_in * usage["inputTokens"] + p_out * usage["outputTokens"]

    assert cost_of(PROFILE, PLAIN) == baseline(), "the same figure"
    if progress:
        progress("cost_of")
    base = _per_call_us(baseline, iterations)
    plain = _per_call_us(lambda: cost_of(PROFILE, PLAIN), iterations)
    cached = _per_call_us(lambda: cost_of(PROFILE, CACHED), iterations)
    return {
        "iterations": iterations,
        "book": book.describe(),
        "baseline_lookup_us": round(base, 3),
        "cost_of_us": round(plain, 3),
        "cost_of_cached_1h_us": round(cached, 3),
        "ratio_to_baseline": round(plain / base, 2),
        "target_us": 2.0,
    }
