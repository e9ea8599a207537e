"""``aipctl advise`` (runbook Phase 5), first slice: idle AIPs and model right-sizing, from CloudWatch.

Per managed AIP over the window: ``Invocations``, ``InputTokenCount`` and ``OutputTokenCount`` (one
GetMetricData batch). Two recommendations, each only where the data supports it:

- **idle**: no call in the window although the AIP is older than the window: prune it (saving
  $0 — an AIP costs nothing idle — but it is a route nobody watches).
- **right-size**: calls that are short on both sides (mean output ≤ 100 tokens, mean input ≤ 2,000)
  on a model with a cheaper sibling of the same provider (Sonnet → Haiku, Opus → Sonnet, Nova Pro →
  Nova Lite …), with at least 100 calls: the saving is the window's tokens priced at the sibling,
  per 30 days. Confidence ``medium``: aipctl sees sizes, not answer quality — try it on a tenant first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aipctl.aws.cloudwatch import BedrockMetrics
from aipctl.aws.live import ManagedProfiles
from aipctl.aws.target import Target
from aipctl.inventory import rules
from aipctl.pricing import ModelRef, PriceBook, price_book

#: A model's cheaper sibling of the same provider (what right-sizing suggests), by model id.
SMALLER = {
    "anthropic.claude-opus-4-6-v1": "anthropic.claude-sonnet-4-6",
    "anthropic.claude-opus-4-5-20251101-v1:0": "anthropic.claude-sonnet-4-6",
    "anthropic.claude-opus-4-1-20250805-v1:0": "anthropic.claude-sonnet-4-6",
    "anthropic.claude-sonnet-4-6": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-sonnet-4-5-20250929-v1:0": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-sonnet-4-20250514-v1:0": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "amazon.nova-premier-v1:0": "amazon.nova-pro-v1:0",
    "amazon.nova-pro-v1:0": "amazon.nova-lite-v1:0",
}
MAX_MEAN_OUTPUT = 100
MAX_MEAN_INPUT = 2000
MIN_CALLS = 100
_METRICS = (("Invocations", "Sum"), ("InputTokenCount", "Sum"), ("OutputTokenCount", "Sum"))


@dataclass(frozen=True)
class Advice:
    kind: str  # idle | right-size (the kinds: right-size, cache, batch, flex, routing, idle, wire, budget)
    caller: str
    alias: str
    aip: str
    detail: str
    monthly_saving_usd: float
    confidence: str
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "caller": self.caller,
            "alias": self.alias,
            "aip": self.aip,
            "detail": self.detail,
            "monthly_saving_usd": self.monthly_saving_usd,
            "confidence": self.confidence,
            "evidence": self.evidence,
        }


def advise(
    target: Target, managed: ManagedProfiles, since: dt.timedelta, now: dt.datetime, book: PriceBook | None = None
) -> list[Advice]:
    """Recommendations for the inventory's AIPs over [now - since, now), biggest saving first."""
    book = book or price_book()
    profiles = list(managed)
    if not profiles:
        return []
    start = now - since
    period = max(60, int(since.total_seconds()) // 60 * 60)
    values = BedrockMetrics(target).values([p.profile_id for p in profiles], _METRICS, start, now, period)
    scale = Decimal(30 * 86400) / Decimal(int(since.total_seconds()))
    out: list[Advice] = []
    for profile in profiles:
        caller, alias = profile.tags.get(rules.TAG_CALLER, ""), profile.tags.get(rules.TAG_ALIAS, "")
        calls, tin, tout = (int(sum(v for _, v in values.get((profile.profile_id, m, s), []))) for m, s in _METRICS)
        if calls == 0:
            if profile.created_at is not None and profile.created_at <= start:
                out.append(
                    Advice(
                        "idle",
                        caller,
                        alias,
                        profile.arn,
                        f"no call in {since.days} days: remove {alias!r} from {caller!r} and `apply --prune`, "
                        "or wire the caller to it",
                        0.0,
                        "high",
                        {"calls": 0, "created_at": profile.created_at.isoformat()},
                    )
                )
            continue
        ref = ModelRef.from_source(profile.tags.get(rules.TAG_SOURCE, ""), target.region)
        sibling_id = SMALLER.get(ref.model_id)
        if sibling_id is None or not book.knows(ref) or calls < MIN_CALLS:
            continue
        sibling = ModelRef(sibling_id, ref.geo)  # the same route (in-Region, geo or global)
        if not book.knows(sibling) or tout / calls > MAX_MEAN_OUTPUT or tin / calls > MAX_MEAN_INPUT:
            continue
        now_cost = book.cost(ref, input_tokens=tin, output_tokens=tout)
        cheaper = book.cost(sibling, input_tokens=tin, output_tokens=tout)
        saving = (now_cost - cheaper) * scale
        if saving <= 0:
            continue
        out.append(
            Advice(
                "right-size",
                caller,
                alias,
                profile.arn,
                f"{calls:,} calls averaging {tin / calls:,.0f} tokens in and {tout / calls:,.0f} out on {ref.model_id}: "
                f"{sibling_id} costs {cheaper / now_cost:.0%} as much for the same tokens",
                round(float(saving), 2),
                "medium",
                {
                    "calls": calls,
                    "mean_input_tokens": round(tin / calls, 1),
                    "mean_output_tokens": round(tout / calls, 1),
                    "window_cost_usd": round(float(now_cost), 6),
                    "window_cost_at_sibling_usd": round(float(cheaper), 6),
                    "sibling": sibling_id,
                },
            )
        )
    return sorted(out, key=lambda a: (-a.monthly_saving_usd, a.kind, a.caller, a.alias))
