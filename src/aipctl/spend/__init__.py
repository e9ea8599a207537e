"""Spend per caller (and tenant) per day, from interchangeable sources.

Every place that asks "what did each caller spend?" — the report, the budget guard — reads
:class:`CostSource` objects and gets the same typed rows back. A source is one class that turns
one AWS (or local) answer into :class:`SpendRow` s; adding a source means adding that class::

    sources = [CostExplorerSource(target), CloudWatchSource(target, managed), LedgerSource(".aipctl/ledger.duckdb")]
    for source in sources:
        reading = source.read(SpendWindow(start, end))
        for row in reading.rows:   # caller (None: untagged/unattributed), tenant, day, usd, calls, tokens
            ...

``kind`` tells what a source's numbers are: ``billed`` (what AWS charges: Cost Explorer, CUR),
``estimated`` (usage metrics × the price book), ``metered`` (per request, from invocation logs) or
``principal`` (billed, on the principal plane: by the calling IAM principal's and session's tags).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

SourceKind = Literal["billed", "estimated", "metered", "principal"]
Granularity = Literal["day", "month"]


@dataclass(frozen=True)
class SpendWindow:
    """[start, end) in UTC; ``granularity`` is how rows are bucketed (``month``: one row per caller)."""

    start: dt.datetime
    end: dt.datetime
    granularity: Granularity = "day"

    @property
    def first_day(self) -> dt.date:
        return self.start.date()

    @property
    def end_day(self) -> dt.date:
        """The first day not in the window (a window ending 10:00 includes that day)."""
        midnight = self.end.time() == dt.time() and self.end.tzinfo is not None
        return self.end.date() if midnight else self.end.date() + dt.timedelta(days=1)


@dataclass(frozen=True)
class SpendRow:
    """Spend of one caller (or tenant) on one day. ``usd`` None: usage the source could not price."""

    caller: str | None  # None: untagged (billed) or unattributed (metered)
    day: str  # YYYY-MM-DD; with granularity "month", the window's first day
    usd: Decimal | None
    tenant: str | None = None
    calls: int | None = None  # None: the source does not count calls
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    #: The value of a second grouping the source was asked for (``report --by KEY``), else None.
    group: str | None = None
    #: Per-AIP sources: the AIP's ARN and the model it copies (``aipctl:source``), for exports by resource.
    resource: str | None = None
    model: str | None = None
    #: Days the row sums when it is more than one (``day`` is the first): a stretch the source was
    #: not asked to split by day. Its spend counts in totals, not per day.
    days: int = 1
    #: What is paid after discounts, when the source knows (the bill's NetUnblendedCost); else the report
    #: works it out from the inventory's ``pricing:`` terms.
    net_usd: Decimal | None = None


@dataclass(frozen=True)
class SpendReading:
    """What one source said about one window."""

    source: str
    kind: SourceKind
    rows: tuple[SpendRow, ...]
    warnings: tuple[str, ...] = ()
    #: What was read: the billing services (Cost Explorer), the ledger file, the AIP ids.
    scope: tuple[str, ...] = ()
    #: Days before this are final (billing lags); None: every day is as final as it will get.
    complete_until: dt.date | None = None


class CostSource(Protocol):
    """One place spend comes from. ``read`` may call AWS; it never prints."""

    name: str
    kind: SourceKind

    def read(self, window: SpendWindow) -> SpendReading: ...


def day_of(value: dt.datetime | dt.date) -> str:
    return (value.astimezone(dt.timezone.utc).date() if isinstance(value, dt.datetime) else value).isoformat()


__all__ = ["CostSource", "Granularity", "SourceKind", "SpendReading", "SpendRow", "SpendWindow", "day_of"]


class MergedSource:
    """Several readings as one source: the same kind of number from several accounts or Regions (an organization's
    placements), each row's ``group`` set to its part's label (an account id) unless the part set one itself."""

    def __init__(self, name: str, kind: SourceKind, parts: Sequence[tuple[str | None, CostSource]], *, label_rows: bool = True):
        self.name = name
        self.kind = kind
        self.parts = list(parts)
        self.label_rows = label_rows

    def read(self, window: SpendWindow) -> SpendReading:
        from concurrent.futures import ThreadPoolExecutor
        from dataclasses import replace

        with ThreadPoolExecutor(max_workers=min(8, len(self.parts) or 1), thread_name_prefix="aipctl-merged") as pool:
            readings = list(pool.map(lambda part: part[1].read(window), self.parts))
        rows: list[SpendRow] = []
        warnings: list[str] = []
        for (label, _), reading in zip(self.parts, readings, strict=True):
            if self.label_rows and label is not None:
                rows += [row if row.group is not None else replace(row, group=label) for row in reading.rows]
            else:
                rows += reading.rows
            warnings += [w if label is None else f"{label}: {w}" for w in reading.warnings]
        finals = [r.complete_until for r in readings if r.complete_until is not None]
        scope = tuple(dict.fromkeys(s for r in readings for s in r.scope))
        return SpendReading(self.name, self.kind, tuple(rows), tuple(dict.fromkeys(warnings)), scope, min(finals, default=None))
