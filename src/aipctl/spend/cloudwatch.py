"""Estimated spend: CloudWatch ``AWS/Bedrock`` token counts per AIP × the price of the AIP's model and route."""

from __future__ import annotations

from decimal import Decimal

from aipctl.aws.cloudwatch import TOKEN_METRICS, BedrockMetrics
from aipctl.aws.live import ManagedProfiles
from aipctl.aws.target import Target
from aipctl.inventory import rules
from aipctl.pricing import ModelRef, PriceBook, price_book
from aipctl.spend import SourceKind, SpendReading, SpendRow, SpendWindow, day_of


class CloudWatchSource:
    """One row per AIP and day (or per AIP for the window); an AIP whose model has no price gets ``usd=None``."""

    name = "cloudwatch"
    kind: SourceKind = "estimated"

    def __init__(self, target: Target, managed: ManagedProfiles, book: PriceBook | None = None) -> None:
        self.target = target
        self.managed = managed
        self.book = book or price_book()

    def read(self, window: SpendWindow) -> SpendReading:
        profiles = list(self.managed)
        if not profiles:
            return SpendReading(self.name, self.kind, ())
        whole = int((window.end - window.start).total_seconds())
        period = 86400 if window.granularity == "day" else max(60, whole // 60 * 60 + 60)
        ids = [p.profile_id for p in profiles]
        values = BedrockMetrics(self.target).values(ids, TOKEN_METRICS, window.start, window.end, period)
        rows: list[SpendRow] = []
        unpriced: set[str] = set()
        for profile in profiles:
            caller = profile.tags[rules.TAG_CALLER]
            ref = ModelRef.from_source(profile.tags.get(rules.TAG_SOURCE, ""))
            priced = self.book.knows(ref)
            if not priced:
                unpriced.add(ref.model_id)
            by_day: dict[str, list[int]] = {}
            for index, (metric, stat) in enumerate(TOKEN_METRICS):
                for when, value in values.get((profile.profile_id, metric, stat), []):
                    day = day_of(when) if window.granularity == "day" else window.first_day.isoformat()
                    by_day.setdefault(day, [0, 0, 0, 0])[index] += int(value)
            for day, (tin, tout, cread, cwrite) in sorted(by_day.items()):
                usd: Decimal | None = (
                    self.book.cost(ref, input_tokens=tin, output_tokens=tout, cache_read=cread, cache_write=cwrite)
                    if priced
                    else None
                )
                rows.append(
                    SpendRow(
                        caller,
                        day,
                        usd,
                        None,
                        None,
                        tin,
                        tout,
                        cread,
                        cwrite,
                        resource=profile.arn,
                        model=profile.tags.get(rules.TAG_SOURCE),
                    )
                )
        warnings = tuple(f"no price for {model}: its calls are not in the estimate" for model in sorted(unpriced))
        return SpendReading(self.name, self.kind, tuple(rows), warnings, tuple(ids))
