"""Prices of Bedrock models, and the cost of token usage behind an opaque AIP ARN.

The price book holds, per model, a rate per Region × route (``regional``: in-Region and geo profiles such as
``eu.`` / ``us.``; ``global``: ``global.`` profiles) × service tier (``default``, ``priority``, ``flex``,
``batch``) × token kind (input, output, cache read, 5-minute and 1-hour cache write), in USD per million
tokens. It comes from the AWS Price List API (:mod:`aipctl.pricing.pricelist`): ``aipctl prices refresh``
writes one into the state directory; the snapshot that ships with aipctl (``prices.json``, made the same way,
see docs/pricing.md) is used until then.

>>> from decimal import Decimal
>>> from aipctl.pricing import price_book, ModelRef
>>> ref = ModelRef.from_source("eu.anthropic.claude-sonnet-4-6")
>>> ref.model_id, ref.geo
('anthropic.claude-sonnet-4-6', 'eu')
>>> price_book().cost(ref, input_tokens=1_000_000, output_tokens=0) == Decimal("3.3")
True
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any

from aipctl._exceptions import AipctlError
from aipctl.inventory.rules import GEO_PREFIXES

MILLION = Decimal(1_000_000)
KINDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
TIERS = ("default", "priority", "flex", "batch")
#: The file ``aipctl prices refresh`` writes into the state directory (one per target: the emulator's Price List
#: is not AWS's).
CACHE_NAME = "prices-{kind}.json"
FORMAT = 2


def usd_text(value: float | Decimal) -> str:
    """``$1,234.56``, or four decimals below a dollar (a $0.50 budget's spend is not "$0.00" or "$0.01")."""
    return f"${value:,.2f}" if not -1 < value < 1 else f"${value:,.4f}"


class Unpriced(AipctlError, KeyError):
    """Usage the book has no price for (a model, Region, tier or token kind): never counted as $0."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unpriced"


@dataclass(frozen=True)
class ModelRef:
    """A foundation model and how it is reached (``geo`` None = in-Region) from which Region (None: any)."""

    model_id: str
    geo: str | None = None
    region: str | None = None

    @classmethod
    def from_source(cls, source: str, region: str | None = None) -> ModelRef:
        """From a model source as in the inventory or an ``aipctl:source`` tag (id or ARN; an ARN names its Region)."""
        ident = source.rsplit("/", 1)[-1] if source.startswith("arn:") else source
        if source.startswith("arn:") and region is None:
            region = source.split(":")[3] or None
        prefix, _, rest = ident.partition(".")
        if prefix in GEO_PREFIXES and rest.count(".") >= 1:
            return cls(rest, prefix, region)
        return cls(ident, None, region)

    def in_region(self, region: str | None) -> ModelRef:
        return replace(self, region=region) if region != self.region else self

    @property
    def variant(self) -> str:
        """The route it is priced at."""
        return "global" if self.geo == "global" else "regional"


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens of one route and tier (0 for a token kind the model does not bill)."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal = Decimal(0)
    #: The kinds without a rate (usage of them cannot be priced).
    missing: frozenset[str] = frozenset()


class PriceBook:
    def __init__(self, raw: dict[str, Any], path: str | None = None) -> None:
        if raw.get("format") != FORMAT:
            raise AipctlError(
                f"{path or 'price book'}: format {raw.get('format')!r} is not {FORMAT}; run `aipctl prices refresh`"
            )
        self.source: str = raw["source"]
        self.generated: str = raw["generated"]
        self.path = path
        self.models: dict[str, dict[str, Any]] = raw["models"]
        self._prices: dict[tuple[str, str, str | None, str], ModelPrice] = {}
        #: (ref, tier) -> its rates and per-token rates (the price per million / 10^6), for :meth:`cost`'s hot path
        self._per_token: dict[tuple[ModelRef, str], tuple[ModelPrice, tuple[Decimal, ...]]] = {}

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "generated": self.generated, "path": self.path or "(shipped with aipctl)"}

    def knows(self, ref: ModelRef) -> bool:
        return ref.model_id in self.models

    def rate(self, ref: ModelRef, kind: str, tier: str = "default") -> Decimal | None:
        """USD per million tokens of one dimension; None where the book has no such price."""
        entry = self.models.get(ref.model_id)
        if entry is None:
            return None
        name = f"{ref.variant}/{tier}/{kind}"
        if ref.region is not None:
            if entry["priced_regions"] and ref.region not in entry["priced_regions"]:
                return None
            override = entry["regions"].get(ref.region, {})
            if name in override:
                value = override[name]
                return None if value is None else Decimal(str(value))
        value = entry["rates"].get(name)
        return None if value is None else Decimal(str(value))

    def price(self, ref: ModelRef, tier: str = "default") -> ModelPrice:
        """The rates of a route and tier; unknown models (or no input price) raise :class:`Unpriced`."""
        cache_key = (ref.model_id, ref.variant, ref.region, tier)
        found = self._prices.get(cache_key)
        if found is None:  # a report prices ~200,000 rows of a few models: work each price out once
            rates = {kind: self.rate(ref, kind, tier) for kind in KINDS}
            if rates["input"] is None:
                where = f" in {ref.region}" if ref.region else ""
                raise Unpriced(f"no {tier}-tier price for {ref.model_id} ({ref.variant}){where} in the price book")
            missing = frozenset(k for k, v in rates.items() if v is None)
            values = [rates[k] or Decimal(0) for k in KINDS]
            found = ModelPrice(values[0], values[1], values[2], values[3], values[4], missing)
            self._prices[cache_key] = found
        return found

    def per_token(self, ref: ModelRef, tier: str = "default") -> tuple[ModelPrice, tuple[Decimal, ...]]:
        """The rates of a route and tier, and the same per token (input, output, cache read, 5-min and 1-h write)."""
        found = self._per_token.get((ref, tier))
        if found is None:
            price = self.price(ref, tier)
            rates = (price.input, price.output, price.cache_read, price.cache_write, price.cache_write_1h)
            found = self._per_token[(ref, tier)] = (price, tuple(r / MILLION for r in rates))
        return found

    def cost(
        self,
        ref: ModelRef,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read: int = 0,
        cache_write: int = 0,
        cache_write_1h: int = 0,
        tier: str = "default",
    ) -> Decimal:
        """List price of the usage (``cache_write`` counts 5-minute writes; ``cache_write_1h`` the 1-hour ones)."""
        price, (p_in, p_out, p_read, p_write, p_long) = self.per_token(ref, tier)
        if price.missing:
            used = {
                "output": output_tokens,
                "cache_read": cache_read,
                "cache_write": cache_write,
                "cache_write_1h": cache_write_1h,
            }
            lacking = [k for k in price.missing if used.get(k)]
            if lacking:
                raise Unpriced(f"no price for {', '.join(sorted(lacking))} tokens of {ref.model_id} ({tier} tier)")
        total = p_in * input_tokens + p_out * output_tokens
        if cache_read or cache_write or cache_write_1h:  # most calls write and read no cache
            total += p_read * cache_read + p_write * cache_write + p_long * cache_write_1h
        return total

    def billing_service(self, model_id: str) -> str | None:
        entry = self.models.get(model_id)
        return entry["billing_service"] if entry else None

    def billing_services(self) -> list[str]:
        return sorted({m["billing_service"] for m in self.models.values() if m.get("billing_service")})


@dataclass(frozen=True)
class Terms:
    """Negotiated prices (the inventory's ``pricing:``): what the account pays of list price, per model."""

    discount: Decimal = Decimal(0)  # a fraction: 0.125 for 12.5 %
    per_model: Mapping[str, Decimal] = field(default_factory=dict)  # base model id -> its discount
    credits_usd: Decimal = Decimal(0)

    @classmethod
    def of(cls, inventory: Any) -> Terms | None:
        """From an inventory (None when it has no ``pricing:`` block)."""
        block = getattr(inventory, "pricing", None)
        if block is None:
            return None
        per_model = {
            ModelRef.from_source(inventory.models[alias]).model_id: Decimal(str(t.discount_pct)) / 100
            for alias, t in block.models.items()
        }
        return cls(Decimal(str(block.discount_pct)) / 100, per_model, Decimal(str(block.credits_usd)))

    def factor(self, source: str | None) -> Decimal:
        """The share of list price paid for a model source (id, profile id or ARN; None: the account's terms)."""
        if source and self.per_model:
            found = self.per_model.get(ModelRef.from_source(source).model_id)
            if found is not None:
                return 1 - found
        return 1 - self.discount

    def to_dict(self) -> dict[str, Any]:
        return {
            "discount_pct": float(self.discount * 100),
            "models": {m: float(d * 100) for m, d in sorted(self.per_model.items())},
            "credits_usd_per_month": float(self.credits_usd),
        }


_active: PriceBook | None = None


def load_book(path: str | os.PathLike[str]) -> PriceBook:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AipctlError(f"{path}: cannot read the price book ({exc}); run `aipctl prices refresh`") from None
    try:
        return PriceBook(raw, str(path))
    except (KeyError, TypeError):
        raise AipctlError(f"{path}: not a price book written by `aipctl prices refresh`") from None


def shipped_book() -> PriceBook:
    return PriceBook(json.loads((files("aipctl.pricing") / "prices.json").read_text(encoding="utf-8")))


def price_book() -> PriceBook:
    """The active book: the one :func:`use_book` chose, else ``$AIPCTL_PRICES``, else the snapshot shipped with aipctl."""
    global _active
    if _active is None:
        env = os.environ.get("AIPCTL_PRICES")
        _active = load_book(env) if env else shipped_book()
    return _active


def use_book(book: PriceBook | None) -> None:
    """Make ``book`` the active one (None: back to the default choice)."""
    global _active
    _active = book


def cache_path(state_dir: str | os.PathLike[str], kind: str) -> Path:
    return Path(state_dir) / CACHE_NAME.format(kind=kind)


def use_state_dir(state_dir: str | os.PathLike[str], kind: str) -> PriceBook:
    """The state directory's refreshed book for this target kind when there is one (and no ``$AIPCTL_PRICES``),
    made active; else the default choice."""
    cached = cache_path(state_dir, kind)
    use_book(load_book(cached) if not os.environ.get("AIPCTL_PRICES") and cached.is_file() else None)
    return price_book()


__all__ = [
    "ModelPrice",
    "ModelRef",
    "PriceBook",
    "Terms",
    "Unpriced",
    "cache_path",
    "load_book",
    "price_book",
    "use_book",
    "use_state_dir",
]
