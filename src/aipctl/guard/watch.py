"""``aipctl guard watch``: month-to-date spend per caller -> alerts, brake at ``brake_at``, release next month.

Spend comes from the fastest source available: the metering ledger (per request, minutes
behind the logs), else CloudWatch token metrics × price (about a minute behind), else Cost
Explorer (a day behind). A pass is idempotent: alerts already sent this month are remembered in
``.aipctl/guard-state.json``; a caller braked by the guard is released when a new month starts
(manual brakes are left alone).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from aipctl.aws.target import Target
from aipctl.guard import brake as brakes
from aipctl.inventory import LoadedInventory, rules
from aipctl.pricing import ModelRef, price_book

STATE_FILE = ".aipctl/guard-state.json"
GUARD_REASON = "guard:"


class Watch:
    def __init__(
        self,
        loaded: LoadedInventory,
        target: Target,
        *,
        source: str = "auto",
        ledger: str | None = None,
        ingest_from: str | None = None,
        dry_run: bool = False,
        state_file: str = STATE_FILE,
    ) -> None:
        from aipctl.meter import DEFAULT_LEDGER

        self.loaded = loaded
        self.target = target
        self.ledger = ledger or DEFAULT_LEDGER
        self.ingest_from = ingest_from
        self.dry_run = dry_run
        self.state_path = Path(state_file)
        if source == "auto":
            source = "ledger" if (ingest_from or Path(self.ledger).exists()) else "cloudwatch"
        self.source = source

    # -- spend -------------------------------------------------------------------------------
    def _profiles(self) -> list[Any]:
        from aipctl.plan.reconcile import read_live_state

        name = self.loaded.inventory.name
        return [p for p in read_live_state(self.target, []).profiles if p.tags.get(rules.TAG_MANAGED) == name]

    def spend(self, start: dt.datetime, now: dt.datetime, profiles: list[Any]) -> dict[str, float]:
        callers = self.loaded.inventory.callers
        if self.source == "ledger":
            from aipctl.meter import ingest, open_ledger, query

            con = open_ledger(self.ledger)
            if self.ingest_from:
                ingest(con, self.ingest_from, loaded=self.loaded, profiles=profiles, target=self.target)
            return {r["caller"]: float(r["cost_usd"] or 0) for r in query(con, "caller", start) if r["caller"] in callers}
        if self.source == "cloudwatch":
            from aipctl.aws.cloudwatch import TOKEN_METRICS, BedrockMetrics

            period = max(60, int((now - start).total_seconds()) // 60 * 60 + 60)
            values = BedrockMetrics(self.target).values([p.profile_id for p in profiles], TOKEN_METRICS, start, now, period)
            book = price_book()
            out: dict[str, float] = {}
            for profile in profiles:
                ref = ModelRef.from_source(profile.tags.get(rules.TAG_SOURCE, ""))
                if not book.knows(ref):
                    continue
                tokens = [int(sum(v for _, v in values.get((profile.profile_id, m, s), []))) for m, s in TOKEN_METRICS]
                cost = book.cost(
                    ref, input_tokens=tokens[0], output_tokens=tokens[1], cache_read=tokens[2], cache_write=tokens[3]
                )
                caller = profile.tags.get(rules.TAG_CALLER, "")
                out[caller] = out.get(caller, 0.0) + float(cost)
            return out
        from aipctl.aws.ce import CostExplorer

        explorer = CostExplorer(self.target)
        end = (now + dt.timedelta(days=1)).date().isoformat()
        services = explorer.services_matching(start.date().isoformat(), end, "Bedrock")
        if not services:
            return {}
        totals: dict[str, float] = {}
        for period_result in explorer.cost_and_usage(
            TimePeriod={"Start": start.date().isoformat(), "End": end},
            Granularity="MONTHLY",
            Metrics=["UnblendedCost"],
            GroupBy=[{"Type": "TAG", "Key": rules.TAG_APPLICATION}],
            Filter={"Dimensions": {"Key": "SERVICE", "Values": services}},
        ):
            for group in period_result.get("Groups", []):
                caller = group["Keys"][0].split("$", 1)[1]
                if caller in callers:
                    totals[caller] = totals.get(caller, 0.0) + float(Decimal(group["Metrics"]["UnblendedCost"]["Amount"]))
        return totals

    # -- one pass ----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_path.read_text()))
        except (OSError, ValueError):
            return {}

    def run_once(self) -> dict[str, Any]:
        now = self.target.now()
        month = now.strftime("%Y-%m")
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        profiles = self._profiles()
        spent = self.spend(start, now, profiles)
        braked = brakes.brakes(profiles)
        state = self._state()
        alerted: dict[str, list[float]] = state.get("alerted", {}).get(month, {})
        events: list[dict[str, Any]] = []
        rows = []
        for caller, entry in sorted(self.loaded.inventory.callers.items()):
            amount = spent.get(caller, 0.0)
            row: dict[str, Any] = {"caller": caller, "spent_usd": round(amount, 6), "braked": caller in braked}
            current = braked.get(caller)
            if current and current["reason"].startswith(GUARD_REASON) and not current["at"].startswith(month):
                events.append(self._act(caller, "release", f"released: a new budget period ({month}) began", profiles))
                row["braked"] = False
            if entry.budget is None:
                rows.append(row)
                continue
            pct = amount / entry.budget.monthly_usd * 100
            row |= {"budget_usd": entry.budget.monthly_usd, "percent": round(pct, 2)}
            for threshold in entry.budget.alert_at:
                if pct >= threshold and threshold not in alerted.get(caller, []):
                    alerted.setdefault(caller, []).append(threshold)
                    events.append(self._alert(caller, threshold, amount, entry.budget.monthly_usd))
            if entry.budget.brake_at and pct >= entry.budget.brake_at and not row["braked"]:
                reason = (
                    f"{GUARD_REASON} {pct:.0f}% of the ${entry.budget.monthly_usd:g} monthly budget (${amount:.2f} month to date)"
                )
                events.append(self._act(caller, "brake", reason, profiles))
                row["braked"] = True
            rows.append(row)
        if not self.dry_run:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            state.setdefault("alerted", {})[month] = alerted
            self.state_path.write_text(json.dumps(state, indent=2))
        return {"at": now.isoformat(), "source": self.source, "callers": rows, "events": events, "dry_run": self.dry_run}

    def _alert(self, caller: str, threshold: float, amount: float, budget: float) -> dict[str, Any]:
        message = f"reached {threshold:g}% of its ${budget:g} monthly budget (${amount:.2f} month to date)"
        alerts = self.loaded.inventory.alerts
        delivered = None
        if alerts and alerts.sns_topic_arn and not self.dry_run:
            from aipctl._exceptions import AwsError
            from aipctl.aws.sns import Topics

            try:
                Topics(self.target).publish(alerts.sns_topic_arn, f"aipctl budget alert: {caller}", f"{caller} {message}")
                delivered = alerts.sns_topic_arn
            except AwsError as exc:  # an undeliverable alert must not stop the brake below
                message += f" (alert not delivered: {exc.code})"
        return {"caller": caller, "kind": "alert", "threshold": threshold, "message": message, "delivered_to": delivered}

    def _act(self, caller: str, action: str, reason: str, profiles: list[Any]) -> dict[str, Any]:
        if not self.dry_run:
            if action == "brake":
                brakes.brake(self.loaded, self.target, profiles, caller, reason)
            else:
                brakes.release(self.loaded, self.target, profiles, caller)
        message = f"braked ({reason.removeprefix(GUARD_REASON).strip()})" if action == "brake" else reason
        return {"caller": caller, "kind": action, "message": message + (" [dry run]" if self.dry_run else "")}
