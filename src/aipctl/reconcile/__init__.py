"""Reconciliation: what the ledger metered against what AWS billed, per caller, tenant and day.

The bill is CUR 2.0 when the ledger has it (``aipctl meter ingest`` of the export), else Cost
Explorer (the AIP plane for ``attribution: profile`` callers, the principal plane for the others and
for tenants). Both sides are cut at a *watermark*: days that ended less than ``watermark_hours``
ago (default 72 h) are not final in billing yet, and comparing them would report the billing lag as
drift (AWS's spend-guardrails sample measured Marketplace-billed models settling after more than
48 h). A row drifts when |metered - billed| exceeds both ``tolerance_usd`` and ``tolerance_pct`` of
the bill; where it can, the row names the likely cause.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection as Connection

from aipctl.inventory import LoadedInventory
from aipctl.inventory.model import Reconcile
from aipctl.spend import SpendRow

Key = tuple[str, str | None, str]  # caller, tenant, day


@dataclass(frozen=True)
class Billed:
    usd: float
    net_usd: float | None = None  # after discounts and credits (CUR), when known


@dataclass(frozen=True)
class Metered:
    usd: float
    calls: int
    unpriced_calls: int


@dataclass(frozen=True)
class Row:
    caller: str
    tenant: str | None
    day: str
    metered_usd: float
    billed_usd: float
    net_billed_usd: float | None
    calls: int
    ok: bool
    cause: str | None
    source: str

    @property
    def drift_usd(self) -> float:
        return round(self.metered_usd - self.billed_usd, 6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "caller": self.caller,
            "tenant": self.tenant,
            "day": self.day,
            "metered_usd": round(self.metered_usd, 6),
            "billed_usd": round(self.billed_usd, 6),
            "net_billed_usd": None if self.net_billed_usd is None else round(self.net_billed_usd, 6),
            "drift_usd": self.drift_usd,
            "metered_calls": self.calls,
            "ok": self.ok,
            "cause": self.cause,
            "billed_source": self.source,
        }


@dataclass(frozen=True)
class Reconciliation:
    rows: tuple[Row, ...]
    watermark: dt.datetime
    source: str  # cur | cost_explorer
    settings: Reconcile

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def drifting(self) -> list[Row]:
        return [r for r in self.rows if not r.ok]


def metered(con: Connection, since: dt.date, until: dt.datetime) -> dict[Key, Metered]:
    """Ledger spend per (caller, None, day) and per (caller, tenant, day), on days before ``until``."""
    out: dict[Key, Metered] = {}
    rows = con.execute(
        "SELECT caller, tenant, strftime(ts, '%Y-%m-%d') AS day, sum(coalesce(cost_usd, 0)), count(*), "
        "count(*) FILTER (WHERE cost_usd IS NULL AND error_code IS NULL) "
        "FROM invocations WHERE ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ GROUP BY ALL",
        [since.isoformat(), until.isoformat()],
    ).fetchall()
    for caller, tenant, day, usd, calls, unpriced in rows:
        for key in ((str(caller), None, str(day)), *([(str(caller), str(tenant), str(day))] if tenant else [])):
            found = out.get(key, Metered(0.0, 0, 0))
            out[key] = Metered(found.usd + float(usd), found.calls + int(calls), found.unpriced_calls + int(unpriced))
    return out


def billed_from_cur(con: Connection, since: dt.date, until: dt.datetime) -> dict[Key, Billed]:
    out: dict[Key, list[float]] = defaultdict(lambda: [0.0, 0.0])
    rows = con.execute(
        "SELECT caller, tenant, strftime(usage_start, '%Y-%m-%d'), sum(unblended_cost), sum(net_unblended_cost) "
        "FROM bill_lines WHERE usage_start >= ?::TIMESTAMPTZ AND usage_start < ?::TIMESTAMPTZ GROUP BY ALL",
        [since.isoformat(), until.isoformat()],
    ).fetchall()
    for caller, tenant, day, usd, net in rows:
        for key in ((str(caller), None, str(day)), *([(str(caller), str(tenant), str(day))] if tenant else [])):
            out[key][0] += float(usd or 0)
            out[key][1] += float(net or 0)
    return {k: Billed(v[0], v[1]) for k, v in out.items()}


def billed_from_rows(
    loaded: LoadedInventory, aip_rows: Iterable[SpendRow], principal_rows: Iterable[SpendRow], until: dt.datetime
) -> dict[Key, Billed]:
    """Cost Explorer: the principal plane for callers on it (it covers calls outside their AIPs too, as the
    ledger does), the AIP plane for ``attribution: profile`` callers; tenants from their session tag."""
    callers = loaded.inventory.callers
    last = until.date().isoformat()
    out: dict[Key, Decimal] = defaultdict(Decimal)
    for row in aip_rows:
        if row.caller in callers and callers[row.caller].attribution == "profile" and row.usd is not None and row.day < last:
            out[(row.caller, None, row.day)] += row.usd
    for row in principal_rows:
        if row.caller in callers and callers[row.caller].attribution != "profile" and row.usd is not None and row.day < last:
            out[(row.caller, row.tenant, row.day)] += row.usd
    return {k: Billed(float(v)) for k, v in out.items()}


def _cause(metered_side: Metered, billed_side: Billed, source: str) -> str:
    drift = metered_side.usd - billed_side.usd
    if metered_side.unpriced_calls:
        return f"{metered_side.unpriced_calls} call(s) of models the price book has no price for (metered at $0)"
    if drift < 0 and metered_side.calls == 0:
        return "billed, but no call in the ledger: invocation logs missing for this day (or logging was off)"
    if drift < 0:
        return (
            f"metered ${metered_side.usd:,.4f} < billed ${billed_side.usd:,.4f}: calls missing from the invocation logs "
            "(a log object not ingested or not delivered), or calls outside its identities and AIPs"
        )
    if billed_side.net_usd is not None and billed_side.net_usd < billed_side.usd - 1e-9:
        return f"discounts/credits: net ${billed_side.net_usd:,.4f} is below the list-price bill"
    return (
        f"metered ${metered_side.usd:,.4f} > billed ${billed_side.usd:,.4f} ({source}): the price book is above the bill "
        "(private pricing, a discount) or the bill is not final"
    )


def reconcile(
    loaded: LoadedInventory | None,
    metered_rows: Mapping[Key, Metered],
    billed_rows: Mapping[Key, Billed],
    *,
    source: str,
    watermark: dt.datetime,
    settings: Reconcile,
) -> Reconciliation:
    keys = sorted(set(metered_rows) | set(billed_rows), key=lambda k: (k[2], k[0], k[1] or ""))
    rows = []
    for key in keys:
        m = metered_rows.get(key, Metered(0.0, 0, 0))
        b = billed_rows.get(key, Billed(0.0))
        if abs(m.usd) < 1e-12 and abs(b.usd) < 1e-12:
            continue
        allowed = max(settings.tolerance_usd, settings.tolerance_pct / 100 * abs(b.usd))
        ok = abs(m.usd - b.usd) <= allowed + 1e-9
        rows.append(
            Row(key[0], key[1], key[2], m.usd, b.usd, b.net_usd, m.calls, ok, None if ok else _cause(m, b, source), source)
        )
    return Reconciliation(tuple(rows), watermark, source, settings)


def watermark_of(now: dt.datetime, hours: float) -> dt.datetime:
    """The start of the first day that is not final: days ending before now - hours are."""
    cut = now - dt.timedelta(hours=hours)
    return dt.datetime.combine(cut.date(), dt.time(), dt.timezone.utc)


__all__: Sequence[str] = ["Billed", "Metered", "Reconciliation", "Row", "reconcile", "watermark_of"]
