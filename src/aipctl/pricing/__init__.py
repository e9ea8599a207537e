"""Prices of Bedrock models, and the cost of token usage behind an opaque AIP ARN.

The price book (``prices.json``) is a snapshot of genai-prices (provider ``aws``) for real Bedrock
model ids, with a ``regional`` price (in-Region and geo profiles such as ``eu.`` / ``us.``, about
10 % above global for recent Anthropic models) and a ``global`` price (``global.`` profiles).
Regenerate with ``scripts/build_catalog.py``.

>>> from aipctl.pricing import price_book, ModelRef
>>> ref = ModelRef.from_source("eu.anthropic.claude-sonnet-4-6")
>>> ref.model_id, ref.geo
('anthropic.claude-sonnet-4-6', 'eu')
>>> str(price_book().cost(ref, input_tokens=1_000_000, output_tokens=0))
'3.3'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

from aipctl.inventory.rules import GEO_PREFIXES

MILLION = Decimal(1_000_000)


def usd_text(value: float | Decimal) -> str:
    """``$1,234.56``, or four decimals below a dollar (a $0.50 budget's spend is not "$0.00" or "$0.01")."""
    return f"${value:,.2f}" if not -1 < value < 1 else f"${value:,.4f}"


@dataclass(frozen=True)
class ModelRef:
    """A foundation model and how it is reached (``geo`` None = in-Region)."""

    model_id: str
    geo: str | None = None

    @classmethod
    def from_source(cls, source: str) -> ModelRef:
        """From a model source as in the inventory or an ``aipctl:source`` tag (id or ARN)."""
        ident = source.rsplit("/", 1)[-1] if source.startswith("arn:") else source
        prefix, _, rest = ident.partition(".")
        if prefix in GEO_PREFIXES and rest.count(".") >= 1:
            return cls(rest, prefix)
        return cls(ident, None)

    @property
    def variant(self) -> str:
        return "global" if self.geo == "global" else "regional"


@dataclass(frozen=True)
class ModelPrice:
    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal


class PriceBook:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.source = raw["source"]
        self.models: dict[str, dict[str, Any]] = raw["models"]
        self._prices: dict[tuple[str, str], ModelPrice] = {}

    def knows(self, ref: ModelRef) -> bool:
        return ref.model_id in self.models

    def price(self, ref: ModelRef) -> ModelPrice:
        """USD per 1M tokens; unknown models raise KeyError (never a silent $0)."""
        key = (ref.model_id, ref.variant)
        found = self._prices.get(key)
        if found is None:  # a report prices ~200,000 rows of a few models: convert each price once
            entry = self.models[ref.model_id]["prices"][ref.variant]
            found = ModelPrice(*(Decimal(str(entry.get(k, 0))) for k in ("input", "output", "cache_read", "cache_write")))
            self._prices[key] = found
        return found

    def cost(
        self, ref: ModelRef, *, input_tokens: int = 0, output_tokens: int = 0, cache_read: int = 0, cache_write: int = 0
    ) -> Decimal:
        price = self.price(ref)
        total = (
            price.input * input_tokens
            + price.output * output_tokens
            + price.cache_read * cache_read
            + price.cache_write * cache_write
        )
        return total / MILLION

    def billing_service(self, model_id: str) -> str | None:
        entry = self.models.get(model_id)
        return entry["billing_service"] if entry else None

    def billing_services(self) -> list[str]:
        return sorted({m["billing_service"] for m in self.models.values()})


@cache
def price_book() -> PriceBook:
    return PriceBook(json.loads((files("aipctl.pricing") / "prices.json").read_text(encoding="utf-8")))


__all__ = ["ModelPrice", "ModelRef", "PriceBook", "price_book"]
