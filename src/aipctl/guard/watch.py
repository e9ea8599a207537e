"""``aipctl guard watch``: month-to-date spend per caller -> alerts, brake at ``brake_at``, release next month.

Spend comes from one :class:`aipctl.spend.CostSource`, the fastest available: the metering ledger
(per request, minutes behind the logs), else CloudWatch token metrics × price (about a minute
behind), else Cost Explorer (a day behind). A pass is idempotent: alerts already sent this month
are remembered in ``.aipctl/guard-state.json``; a caller braked by the guard is released when a
new month starts (manual brakes are left alone).

An organization inventory (a :class:`aipctl.fleet.Fleet`) is watched as one: each caller's spend is summed over
every account × Region (CloudWatch per placement; Cost Explorer from the management account, which bills the
whole organization), and a brake or release tags the caller's AIPs in every placement, all tried when one fails.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from aipctl._exceptions import AipctlError, TargetError, UsageError
from aipctl.aws.live import ManagedProfiles, read_live_state
from aipctl.aws.target import Target
from aipctl.guard import brake as brakes
from aipctl.guard.notify import deliver
from aipctl.inventory import LoadedInventory
from aipctl.pricing import usd_text
from aipctl.spend import CostSource, SpendWindow

if TYPE_CHECKING:
    from collections.abc import Callable

    from aipctl.inventory.placement import Placement


class Placements(Protocol):
    """What the watch needs of :class:`aipctl.fleet.Fleet` (guard does not import the fleet, which imports guard)."""

    def each(self, work: Callable[[Placement, Target], Any]) -> list[tuple[Placement, dict[str, str], Any, str | None]]: ...

    def target(self, placement: Placement) -> Target: ...


STATE_FILE = ".aipctl/guard-state.json"
GUARD_REASON = "guard:"
SourceName = Literal["auto", "ledger", "cloudwatch", "cost-explorer"]


@dataclass(frozen=True)
class WatchRow:
    caller: str
    spent_usd: float
    braked: bool
    budget_usd: float | None = None
    percent: float | None = None
    #: Released by hand until this UTC time: the brake waits (`aipctl release --until`).
    released_until: str | None = None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"caller": self.caller, "spent_usd": self.spent_usd, "braked": self.braked}
        if self.budget_usd is not None:
            row |= {"budget_usd": self.budget_usd, "percent": self.percent}
        if self.released_until:
            row["released_until"] = self.released_until
        return row


@dataclass(frozen=True)
class GuardEvent:
    """Something a pass did: an ``alert`` sent (or not deliverable), a ``brake`` engaged, a ``release``."""

    caller: str
    kind: Literal["alert", "brake", "release"]
    message: str
    threshold: float | None = None
    delivered_to: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"caller": self.caller, "kind": self.kind, "message": self.message}
        if self.kind == "alert":
            out |= {"threshold": self.threshold, "delivered_to": self.delivered_to}
        return out


@dataclass(frozen=True)
class WatchPass:
    at: str
    source: str
    callers: tuple[WatchRow, ...]
    events: tuple[GuardEvent, ...]
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "source": self.source,
            "callers": [r.to_dict() for r in self.callers],
            "events": [e.to_dict() for e in self.events],
            "dry_run": self.dry_run,
        }


def spend_source(name: str, target: Target, managed: ManagedProfiles, ledger: str) -> CostSource:
    """The :class:`CostSource` behind a ``--source`` name."""
    if name == "ledger":
        from aipctl.spend.ledger import LedgerSource

        return LedgerSource(ledger)
    if name == "cloudwatch":
        from aipctl.spend.cloudwatch import CloudWatchSource

        return CloudWatchSource(target, managed)
    if name == "cost-explorer":
        from aipctl.spend.cost_explorer import CostExplorerSource

        return CostExplorerSource(target)
    raise UsageError(f"unknown spend source {name!r}: use ledger, cloudwatch or cost-explorer")


class Watch:
    def __init__(
        self,
        loaded: LoadedInventory,
        target: Target,
        *,
        source: SourceName = "auto",
        ledger: str | None = None,
        ingest_from: str | None = None,
        dry_run: bool = False,
        state_file: str = STATE_FILE,
        fleet: Placements | None = None,
    ) -> None:
        from aipctl.meter import DEFAULT_LEDGER

        if fleet is not None and ingest_from:
            raise UsageError(
                "--ingest reads one account's logs; across accounts the watch reads CloudWatch, Cost Explorer or a ledger",
                hint="ingest each account's logs into the ledger with `aipctl meter ingest`, then `guard watch --source ledger`",
            )
        self.loaded = loaded
        self.target = target
        self.fleet = fleet
        #: (placement, target, its projection of the inventory, its AIPs), read at each pass.
        self._views: list[tuple[Placement | None, Target, LoadedInventory, ManagedProfiles]] = []
        self.ledger = ledger or DEFAULT_LEDGER
        self.ingest_from = ingest_from
        self.dry_run = dry_run
        self.state_path = Path(state_file)
        if source == "auto":
            source = "ledger" if (ingest_from or Path(self.ledger).exists()) else "cloudwatch"
        self.source = source

    # -- spend -------------------------------------------------------------------------------
    def spend(self, start: dt.datetime, now: dt.datetime, managed: ManagedProfiles) -> dict[str, float]:
        """Month-to-date USD per caller of the inventory, from the watch's source."""
        if self.source == "ledger" and self.ingest_from:
            from aipctl.meter import ingest, open_ledger

            ingest(open_ledger(self.ledger), self.ingest_from, loaded=self.loaded, profiles=managed, target=self.target)
        callers = self.loaded.inventory.callers
        window = SpendWindow(start, now, "month")
        totals: dict[str, float] = defaultdict(float)
        reading = self._source(managed).read(window)
        for row in reading.rows:
            if row.caller in callers and row.usd is not None:
                totals[row.caller] += float(row.usd)
        return dict(totals)

    def _source(self, managed: ManagedProfiles) -> CostSource:
        if self.fleet is None or self.source == "ledger":
            return spend_source(self.source, self.target, managed, self.ledger)
        from aipctl.spend import MergedSource

        if self.source == "cost-explorer":  # the management account bills every member: read it there, else each account
            payer = [t for p, t, _, _ in self._views if p is not None and p.billing][:1]
            accounts = payer or list({(p.account if p else ""): t for p, t, _, _ in self._views}.values())
            parts: list[tuple[str | None, CostSource]] = [
                (None, spend_source("cost-explorer", t, managed, self.ledger)) for t in accounts
            ]
            return MergedSource("cost_explorer", "billed", parts)
        parts = [(p.label if p else None, spend_source(self.source, t, m, self.ledger)) for p, t, _, m in self._views]
        return MergedSource("cloudwatch", "estimated", parts)

    def _managed(self) -> ManagedProfiles:
        """The inventory's AIPs (in an organization: of every account × Region, merged); the views per placement."""
        if self.fleet is None:
            managed = read_live_state(self.target).managed(self.loaded)
            self._views = [(None, self.target, self.loaded, managed)]
            return managed

        def read(placement: Placement, target: Target) -> tuple[LoadedInventory, ManagedProfiles]:
            here = self.loaded.project(placement)
            return here, read_live_state(target).managed(here)

        views: list[tuple[Placement | None, Target, LoadedInventory, ManagedProfiles]] = []
        for placement, _, found, error in self.fleet.each(read):
            if found is None:  # a missing account would under-count spend: no verdict rather than a false ok
                raise TargetError(f"guard watch: {placement.label}: {error}")
            views.append((placement, self.fleet.target(placement), *found))
        self._views = views
        return ManagedProfiles(self.loaded.inventory.name, tuple(p for *_, m in views for p in m))

    # -- one pass ----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_path.read_text()))
        except (OSError, ValueError):
            return {}

    def run_once(self) -> WatchPass:
        now = self.target.now()
        month = now.strftime("%Y-%m")
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        managed = self._managed()
        spent = self.spend(start, now, managed)
        braked = managed.brakes()
        snoozed = {c: t for c, t in managed.snoozes().items() if t > now.strftime("%Y-%m-%dT%H:%M:%SZ")}
        state = self._state()
        alerted: dict[str, list[float]] = state.get("alerted", {}).get(month, {})
        events: list[GuardEvent] = []
        rows: list[WatchRow] = []
        for caller, entry in sorted(self.loaded.inventory.callers.items()):
            amount = spent.get(caller, 0.0)
            is_braked = caller in braked
            current = braked.get(caller)
            if current and current.reason.startswith(GUARD_REASON) and not current.at.startswith(month):
                events.append(self._act(caller, "release", f"released: a new budget period ({month}) began", managed))
                is_braked = False
            if entry.budget is None:
                rows.append(WatchRow(caller, round(amount, 6), is_braked))
                continue
            budget = entry.budget.monthly_usd
            pct = amount / budget * 100
            for threshold in entry.budget.alert_at:
                if pct >= threshold and threshold not in alerted.get(caller, []):
                    alerted.setdefault(caller, []).append(threshold)
                    events.append(self._alert(caller, threshold, amount, budget))
            if entry.budget.brake_at and pct >= entry.budget.brake_at and not is_braked and caller in snoozed:
                pass  # released by hand until then (`aipctl release --until`): alerts go on, the brake waits
            elif entry.budget.brake_at and pct >= entry.budget.brake_at and not is_braked:
                reason = f"{GUARD_REASON} {pct:.0f}% of the ${budget:g} monthly budget ({usd_text(amount)} month to date)"
                events.append(self._act(caller, "brake", reason, managed))
                is_braked = True
            rows.append(WatchRow(caller, round(amount, 6), is_braked, budget, round(pct, 2), snoozed.get(caller)))
        if not self.dry_run:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            state.setdefault("alerted", {})[month] = alerted
            self.state_path.write_text(json.dumps(state, indent=2))
        return WatchPass(now.isoformat(), self.source, tuple(rows), tuple(events), self.dry_run)

    def _alert(self, caller: str, threshold: float, amount: float, budget: float) -> GuardEvent:
        message = f"reached {threshold:g}% of its ${budget:g} monthly budget ({usd_text(amount)} month to date)"
        delivered = None
        if not self.dry_run:  # an undeliverable alert must not stop the brake below: deliver() never raises
            results = deliver(
                self.target, self.loaded.inventory.alerts, f"aipctl budget alert: {caller}", f"{caller} {message}", caller=caller
            )
            delivered = next((d.target for d in results if d.ok and d.target.startswith("arn:")), None)
            failed = [f"{d.target}: {d.detail}" for d in results if not d.ok]
            if failed:
                message += f" (alert not delivered: {'; '.join(failed)})"
        return GuardEvent(caller, "alert", message, threshold, delivered)

    def _act(self, caller: str, action: Literal["brake", "release"], reason: str, managed: ManagedProfiles) -> GuardEvent:
        gap = ""
        if not self.dry_run:
            uncovered: list[str] = []
            failed: list[str] = []
            for placement, target, here, view in self._views:
                if not view.of_caller(caller):
                    continue  # not placed here
                try:
                    if action == "brake":
                        uncovered += brakes.brake(here, target, view, caller, reason).uncovered
                    else:
                        brakes.release(here, target, view, caller)
                except AipctlError as exc:  # the other placements are braked anyway
                    failed.append(f"{placement.label if placement else target.region}: {exc}")
            if uncovered:
                gap = f"; IAM denies nothing yet for {', '.join(sorted(set(uncovered)))} (no anti-bypass policy attached)"
            if failed:
                gap += f"; not done in {'; '.join(failed)}"
        message = f"braked ({reason.removeprefix(GUARD_REASON).strip()}){gap}" if action == "brake" else reason
        if not self.dry_run:  # the brake and its release are news too: same targets as the alerts
            subject = f"aipctl {'brake' if action == 'brake' else 'release'}: {caller}"
            deliver(self.target, self.loaded.inventory.alerts, subject, f"{caller} {message}", caller=caller, kind=action)
        return GuardEvent(caller, action, message + (" [dry run]" if self.dry_run else ""))
