"""Metered spend: the per-request ledger (``aipctl meter``), per caller and day from its hourly rollup."""

from __future__ import annotations

import os
from decimal import Decimal

from aipctl.spend import SourceKind, SpendReading, SpendRow, SpendWindow


class LedgerSource:
    """Rows straight from the ledger; calls nobody could be attributed to have ``caller=None``."""

    name = "ledger"
    kind: SourceKind = "metered"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)

    def read(self, window: SpendWindow) -> SpendReading:
        from aipctl.meter import open_ledger, query
        from aipctl.meter.sql import UNATTRIBUTED

        end = window.end_day.isoformat()
        rows = tuple(
            SpendRow(
                caller=None if row["caller"] == UNATTRIBUTED else str(row["caller"]),
                day=str(row["day"]) if window.granularity == "day" else window.first_day.isoformat(),
                usd=Decimal(str(row["cost_usd"] or 0)),
                calls=int(row["calls"]),
                input_tokens=int(row["input_tokens"] or 0),
                output_tokens=int(row["output_tokens"] or 0),
                cache_read_tokens=int(row["cache_read_tokens"] or 0),
                cache_write_tokens=int(row["cache_write_tokens"] or 0),
            )
            for row in query(open_ledger(self.path), "day", window.start)
            if str(row["day"]) < end
        )
        return SpendReading(self.name, self.kind, rows, scope=(self.path,))
