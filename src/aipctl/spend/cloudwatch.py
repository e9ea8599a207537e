"""Estimated spend: CloudWatch ``AWS/Bedrock`` token counts per AIP × the price of the AIP's model and route."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from aipctl.aws.bedrock import LiveProfile
from aipctl.aws.cloudwatch import TOKEN_METRICS, BedrockMetrics
from aipctl.aws.live import ManagedProfiles
from aipctl.aws.target import Target
from aipctl.inventory import rules
from aipctl.pricing import ModelRef, PriceBook, price_book
from aipctl.spend import SourceKind, SpendReading, SpendRow, SpendWindow, day_of


class CloudWatchSource:
    """One row per AIP and day (or per AIP for the window); an AIP whose model has no price gets ``usd=None``.

    ``daily_from``: split by day only from this day on; the days before it come as one row per AIP
    (``SpendRow.days``). A report passes the first day the bill lacks: before it, Cost Explorer has
    every day and the estimate only needs its sum (for the deviation), which is 1 datapoint per AIP
    and metric instead of one per day — a 30-day report of 1,500 AIPs reads 18,000 instead of 186,000.
    """

    name = "cloudwatch"
    kind: SourceKind = "estimated"

    def __init__(
        self, target: Target, managed: ManagedProfiles, book: PriceBook | None = None, *, daily_from: dt.date | None = None
    ) -> None:
        self.target = target
        self.managed = managed
        self.book = book or price_book()
        self.daily_from = daily_from

    def read(self, window: SpendWindow) -> SpendReading:
        profiles = list(self.managed)
        if not profiles:
            return SpendReading(self.name, self.kind, ())
        ids = [p.profile_id for p in profiles]
        metrics = BedrockMetrics(self.target)
        split = self.daily_from
        if window.granularity != "day" or split is None or not window.first_day < split < window.end_day:
            whole = int((window.end - window.start).total_seconds())
            period = 86400 if window.granularity == "day" else max(60, whole // 60 * 60 + 60)
            values = metrics.values(ids, TOKEN_METRICS, window.start, window.end, period)
            return self._rows(profiles, values, window, ids, span=None)
        cut = dt.datetime.combine(split, dt.time(), dt.timezone.utc)
        head = metrics.values(ids, TOKEN_METRICS, window.start, cut, int((cut - window.start).total_seconds()))
        head_rows = self._rows(profiles, head, window, ids, span=(split - window.first_day).days)
        tail = self._rows(profiles, metrics.values(ids, TOKEN_METRICS, cut, window.end, 86400), window, ids, span=None)
        return SpendReading(self.name, self.kind, head_rows.rows + tail.rows, tail.warnings, tuple(ids))

    def _rows(
        self,
        profiles: list[LiveProfile],
        values: dict[tuple[str, str, str], list[tuple[dt.datetime, float]]],
        window: SpendWindow,
        ids: list[str],
        span: int | None,
    ) -> SpendReading:
        rows: list[SpendRow] = []
        unpriced: set[str] = set()
        for profile in profiles:
            caller = profile.tags[rules.TAG_CALLER]
            ref = ModelRef.from_source(profile.tags.get(rules.TAG_SOURCE, ""), self.target.region)
            priced = self.book.knows(ref)
            if not priced:
                unpriced.add(ref.model_id)
            by_day: dict[str, list[int]] = {}
            for index, (metric, stat) in enumerate(TOKEN_METRICS):
                for when, value in values.get((profile.profile_id, metric, stat), []):
                    day = day_of(when) if window.granularity == "day" and span is None else window.first_day.isoformat()
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
                        days=span or 1,
                    )
                )
        warnings = tuple(f"no price for {model}: its calls are not in the estimate" for model in sorted(unpriced))
        return SpendReading(self.name, self.kind, tuple(rows), warnings, tuple(ids))
