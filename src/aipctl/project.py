"""The Python facade: one inventory on one target, and everything aipctl does with them.

The command line, ``aipctl demo`` and the benchmarks all go through :class:`Project`; so can your
own scripts::

    import datetime as dt
    from aipctl import Project

    with Project.open("aipctl.yaml", target="sim") as project:   # or target="aws", profile="prod"
        plan = project.plan()
        project.apply(plan)
        report = project.report(since=dt.timedelta(days=3))
        print(report.to_dict()["callers"][0])

Methods never print; long ones take a ``progress`` callable (:mod:`aipctl.progress`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aipctl._exceptions import AwsError, TargetError, UsageError
from aipctl.aws.live import LiveState, ManagedProfiles, read_live_state
from aipctl.aws.target import DEFAULT_STATE_DIR, Target, TargetKind, open_target
from aipctl.inventory import LoadedInventory, load_inventory
from aipctl.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from aipctl.advise import Advice
    from aipctl.aws.bedrock import LiveProfile
    from aipctl.aws.cloudtrail import DataTrail
    from aipctl.aws.exports import ExportInfo
    from aipctl.discover import Discovery
    from aipctl.fleet import Fleet
    from aipctl.guard.brake import BrakeResult
    from aipctl.guard.watch import SourceName, Watch
    from aipctl.inventory.model import Reconcile
    from aipctl.inventory.placement import Placement
    from aipctl.meter.ledger import IngestResult
    from aipctl.plan.apply import ApplyReport
    from aipctl.plan.model import Plan, Via
    from aipctl.pricing.pricelist import Refreshed
    from aipctl.reconcile import Reconciliation
    from aipctl.report import CostReport
    from aipctl.simulate.traffic import TrafficReport
    from aipctl.spend import SpendWindow
    from aipctl.verify import VerifyReport
    from aipctl.wiring.rows import WiringRow


class Project:
    """An inventory (optional for the commands that work without one) on an open :class:`Target`."""

    def __init__(
        self, loaded: LoadedInventory | None, target: Target, state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR
    ) -> None:
        self._loaded = loaded
        self.target = target
        self.state_dir = Path(state_dir)
        self._live: LiveState | None = None

    @classmethod
    @contextmanager
    def open(
        cls,
        inventory: str | os.PathLike[str] | LoadedInventory | None,
        *,
        target: TargetKind = "sim",
        region: str | None = None,
        profile: str | None = None,
        state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR,
        endpoint_url: str | None = None,
    ) -> Iterator[Project]:
        """Load the inventory (a path, or an already loaded one) and open the target in its Region."""
        loaded = inventory if isinstance(inventory, LoadedInventory) or inventory is None else load_inventory(inventory)
        if loaded is not None and region and region != loaded.inventory.region:
            raise UsageError(
                f"--region {region} differs from the inventory's region {loaded.inventory.region}",
                hint="an inventory describes one Region; change `region:` in the file to act elsewhere",
            )
        where = loaded.inventory.region if loaded else region
        with open_target(target, region=where, profile=profile, state_dir=state_dir, endpoint_url=endpoint_url) as opened:
            from aipctl.pricing import use_state_dir

            use_state_dir(state_dir, opened.kind)
            yield cls(loaded, opened, state_dir)

    # -- what it acts on -----------------------------------------------------------------------
    @property
    def loaded(self) -> LoadedInventory:
        if self._loaded is None:
            raise UsageError("this needs an inventory", hint="pass -f FILE (create one with `aipctl init`)")
        return self._loaded

    @property
    def has_inventory(self) -> bool:
        return self._loaded is not None

    def describe(self) -> dict[str, str]:
        """Account, Region, endpoint (and emulator state) this project acts on."""
        return self.target.describe()

    def now(self) -> dt.datetime:
        """The target's clock (the emulator's simulated one, or the wall clock on AWS)."""
        return self.target.now()

    def one_account(self, what: str) -> None:
        """Refuse, clearly, what does not work across accounts and Regions yet (it would act on one and miss the rest)."""
        if self._loaded is not None and self._loaded.is_fleet:
            raise UsageError(
                f"{what} does not work across the accounts and Regions of {self._loaded.path} yet",
                hint="plan, apply, list and report do (docs/organizations.md); run the others with an inventory "
                "of one account and Region",
            )

    # -- live state ----------------------------------------------------------------------------
    def live(self, *, refresh: bool = False, progress: Progress = NO_PROGRESS) -> LiveState:
        """Every AIP of the Region with its tags (read once; changes made through the project re-read it)."""
        self.one_account("this command")
        if self._live is None or refresh:
            self._live = read_live_state(self.target, progress=progress)
        return self._live

    def managed(self, *, refresh: bool = False) -> ManagedProfiles:
        """The AIPs this inventory manages."""
        return self.live(refresh=refresh).managed(self.loaded)

    def _changed(self) -> None:
        self._live = None

    # -- plan / apply --------------------------------------------------------------------------
    def plan(
        self,
        *,
        prune: bool = False,
        via: Via = "api",
        progress: Progress = NO_PROGRESS,
        change_sets: bool = False,
        staged: bool = False,
    ) -> Plan:
        """``staged``: a model-source change stages the new AIP beside the old one instead of replacing it in place."""
        from aipctl.plan import make_plan

        self.one_account("Project.plan (use Project.fleet().plan())")
        return make_plan(
            self.loaded, self.target, prune=prune, via=via, progress=progress, change_sets=change_sets, staged=staged
        )

    def apply(
        self,
        plan: Plan | None = None,
        *,
        concurrency: int = 8,
        activate_cost_tags: bool = True,
        progress: Progress = NO_PROGRESS,
    ) -> ApplyReport:
        """Apply ``plan`` (default: a fresh plan without prune). Failed changes are in the report, not raised."""
        self.one_account("Project.apply (use Project.fleet().apply())")
        from aipctl.plan import apply_plan

        plan = plan or self.plan(progress=progress)
        try:
            return apply_plan(
                plan, self.target, concurrency=concurrency, activate_cost_tags=activate_cost_tags, progress=progress
            )
        finally:
            self._changed()

    def fleet(self, *, parallel: int | None = None) -> Fleet:
        """The inventory's accounts × Regions, each on its own target (assumed roles): plan, apply, list per
        placement. For an inventory of one account and Region it is that one placement."""
        from aipctl.fleet import DEFAULT_PARALLEL, Fleet

        return Fleet(self.loaded, self.target, parallel=parallel or DEFAULT_PARALLEL)

    # -- callers' view -------------------------------------------------------------------------
    def wiring(self, callers: Collection[str] = ()) -> list[WiringRow]:
        """Each caller × alias with its AIP ARN, env var and SSM name (every AIP must exist)."""
        from aipctl.wiring.rows import wiring_rows

        self.check_callers(callers)
        return wiring_rows(self.loaded, self.managed(), callers)

    def check_callers(self, callers: Collection[str]) -> None:
        unknown = sorted(set(callers) - set(self.loaded.inventory.callers))
        if unknown:
            raise UsageError(
                f"unknown caller(s) {', '.join(unknown)} in {self.loaded.path}",
                hint=f"callers: {', '.join(self.loaded.inventory.callers) or 'none'}",
            )

    # -- evidence and money --------------------------------------------------------------------
    def verify(
        self,
        since: dt.timedelta,
        *,
        use_cloudtrail: bool = True,
        logs_uri: str | None = None,
        now: dt.datetime | None = None,
        progress: Progress = NO_PROGRESS,
    ) -> VerifyReport:
        from aipctl.verify import verify

        if self.loaded.is_fleet:
            return self._fleet_verify(since, now or self.now(), use_cloudtrail=use_cloudtrail, logs_uri=logs_uri)
        return verify(
            self.loaded,
            self.target,
            since=since,
            now=now or self.now(),
            use_cloudtrail=use_cloudtrail,
            logs_uri=logs_uri,
            managed=self.managed(),
            progress=progress,
        )

    def _fleet_verify(self, since: dt.timedelta, now: dt.datetime, *, use_cloudtrail: bool, logs_uri: str | None) -> VerifyReport:
        """CloudTrail of every account × Region, each judged against every caller (a caller's identity calling
        where it has no AIP is a bypass there), merged per caller with its calls per placement."""
        from aipctl.aws.live import read_live_state
        from aipctl.verify import merged, verify

        if logs_uri is not None:
            raise UsageError(
                "--source logs reads one account's invocation logs; across accounts verify reads CloudTrail",
                hint="drop --logs/--source, or verify one account with an inventory of its own",
            )

        def work(placement: Placement, target: Target) -> VerifyReport:
            here = self.loaded.project(placement, every_caller=True)
            managed = read_live_state(target).managed(here)
            return verify(here, target, since=since, now=now, use_cloudtrail=use_cloudtrail, managed=managed)

        parts = []
        for placement, _, found, error in self.fleet().each(work):
            if found is None:
                raise TargetError(f"{placement.label}: {error}")  # a verdict missing an account would be a false ok
            parts.append((f"{placement.account} {placement.region}".strip(), found))
        return merged(parts)

    def advise(
        self,
        since: dt.timedelta,
        *,
        now: dt.datetime | None = None,
        coverage: VerifyReport | None = None,
        ledger: str | os.PathLike[str] | None = None,
    ) -> list[Advice]:
        """Where to save over the window: the inventory's AIPs and budgets; with ``coverage``, bypassers to wire; with
        ``ledger``, what a tenant's own calls support that its AIP's aggregate hides."""
        from aipctl.advise import advise, tenant_advice, wire_advice

        if ledger is not None:
            self.one_account("advise --ledger")
            now = now or self.now()
            base = self.advise(since, now=now, coverage=coverage)
            skip = {(a.kind, a.aip) for a in base}
            tenants = tenant_advice(str(ledger), self.managed(), since, now, self.target.region, skip=skip)
            return sorted(base + tenants, key=lambda a: -a.monthly_saving_usd)

        wire = wire_advice(coverage) if coverage is not None else []
        now = now or self.now()
        budgets = {n: c.budget.monthly_usd for n, c in self.loaded.inventory.callers.items() if c.budget}
        if self.loaded.is_fleet:  # each account × Region's AIPs (their ARNs say where); a budget on the caller's sum
            from decimal import Decimal

            from aipctl.advise import budget_advice, month_to_date
            from aipctl.aws.live import read_live_state

            def work(placement: Placement, target: Target) -> tuple[list[Advice], dict[str, Decimal]]:
                managed = read_live_state(target).managed(self.loaded.project(placement))
                return advise(target, managed, since, now), month_to_date(target, managed, now) if budgets else {}

            found: list[Advice] = []
            spent: dict[str, Decimal] = {}
            for placement, _, answer, error in self.fleet().each(work):
                if answer is None:
                    raise TargetError(f"{placement.label}: {error}")
                found += answer[0]
                for caller, usd in answer[1].items():  # a caller's month so far: every account and Region it runs in
                    spent[caller] = spent.get(caller, Decimal(0)) + usd
            return wire + budget_advice(spent, budgets, now) + sorted(found, key=lambda a: -a.monthly_saving_usd)
        return wire + advise(self.target, self.managed(), since, now, budgets=budgets)

    def discover(
        self,
        since: dt.timedelta,
        *,
        now: dt.datetime | None = None,
        source: str = "auto",
        ledger: str | None = None,
        progress: Progress = NO_PROGRESS,
    ) -> Discovery:
        """Every IAM role and user that called Bedrock in the last ``since``, busiest first. Works without an inventory.

        ``source``: ``ledger`` (invocation logs and CUR lines in the metering ledger: tokens and cost, no
        2 requests/s), ``cloudtrail`` (LookupEvents plus bedrock-mantle's data events from trails), or ``auto``:
        the ledger when it holds records of the window, else CloudTrail; with CloudTrail, a ledger still prices."""
        import itertools

        from aipctl.aws.cloudtrail import Trail
        from aipctl.discover import Discovery, identities, ledger_costs, ledger_has_records, ledger_identities

        end = now or self.now()
        start = end - since
        profiles = self.live().profiles
        if source == "ledger" or (source == "auto" and ledger and ledger_has_records(ledger, start, end)):
            if not ledger:
                raise UsageError("--source ledger needs a ledger", hint="create one with `aipctl meter ingest`, or pass --ledger")
            found, records = ledger_identities(ledger, start, end, profiles)
            sources = sorted({s for i in found for s in i.sources}) or ["invocation-logs"]
            return Discovery(found, tuple(sources), records=records)
        trail = Trail(self.target)
        readable, _ = trail.readable_data_trails()
        calls = itertools.chain(
            trail.runtime_calls(start, end, progress), *(trail.mantle_calls(t, start, end, progress) for t in readable)
        )
        found = identities(calls, profiles)
        if ledger:
            costs = ledger_costs(ledger, start, end)
            for identity in found:
                identity.cost_usd = costs.get(identity.arn, 0.0)
        sources = ["cloudtrail", *(["cloudtrail-data-events"] if readable else [])]
        return Discovery(found, tuple(sources), requests=trail.requests, mantle_visible=bool(readable))

    def report(
        self,
        since: dt.timedelta,
        *,
        second_key: str | None = None,
        ledger: str | os.PathLike[str] | None = None,
        coverage: VerifyReport | None = None,
        now: dt.datetime | None = None,
        progress: Progress = NO_PROGRESS,
        daily_estimates: bool = False,
    ) -> CostReport:
        """Cost per caller over whole UTC days: Cost Explorer, CloudWatch × price, and the ledger when given.

        The CloudWatch estimate is per day for the days the bill does not have in full yet, and one sum
        before them (all the report needs of it there: the deviation from the bill); ``daily_estimates``
        reads every day (FOCUS exports need each day's tokens)."""
        from aipctl.aws.ce import QueryMemo
        from aipctl.report import build_report, read_health, report_window
        from aipctl.spend import CostSource
        from aipctl.spend.cloudwatch import CloudWatchSource
        from aipctl.spend.cost_explorer import BILLING_LAG, CostExplorerSource
        from aipctl.spend.ledger import LedgerSource
        from aipctl.spend.principal import PRINCIPAL_APPLICATION, PrincipalPlaneSource

        now = now or self.now()
        window = report_window(since, now)
        if self.loaded.is_fleet:
            return self._fleet_report(
                window, now, ledger=ledger, coverage=coverage, daily_estimates=daily_estimates, progress=progress
            )
        billing_key = _billing_key(second_key)
        principal = any(c.attribution != "profile" for c in self.loaded.inventory.callers.values())
        memo = QueryMemo()  # both planes from one Cost Explorer query (see CostExplorerSource.marginal_of)
        # the bill needs no AIP list: its reads start before the AIPs are listed, CloudWatch's after
        unlisted: list[CostSource] = [
            CostExplorerSource(
                self.target,
                now=now,
                second_key=billing_key,
                check_tags=True,
                memo=memo,
                marginal_of=PRINCIPAL_APPLICATION if principal and billing_key is None else None,
            ),
            *([PrincipalPlaneSource(self.target, self.loaded, now=now, memo=memo)] if principal else []),
            *([LedgerSource(ledger)] if ledger is not None else []),
        ]
        with ThreadPoolExecutor(max_workers=len(unlisted) + 2, thread_name_prefix="aipctl-report") as pool:
            progress("reading " + ", ".join([unlisted[0].name, CloudWatchSource.name, *(source.name for source in unlisted[1:])]))
            early = [pool.submit(source.read, window) for source in unlisted]
            managed = self.managed()
            estimate = CloudWatchSource(self.target, managed, daily_from=None if daily_estimates else (now - BILLING_LAG).date())
            health_read, estimated = pool.submit(read_health, self.target, managed, window), pool.submit(estimate.read, window)
            readings = [early[0].result(), estimated.result(), *(future.result() for future in early[1:])]
            health = health_read.result()
        sources = [unlisted[0], estimate, *unlisted[1:]]
        return build_report(
            self.loaded,
            sources,
            window,
            readings=readings,
            health=health,
            brakes=managed.brakes(),
            released={c: t for c, t in managed.snoozes().items() if t > now.strftime("%Y-%m-%dT%H:%M:%SZ")},
            coverage={c.caller: c.to_dict(1.0) for c in coverage.callers} if coverage else None,
            second_key=second_key,
            progress=progress,
        )

    def _fleet_report(
        self,
        window: SpendWindow,
        now: dt.datetime,
        *,
        ledger: str | os.PathLike[str] | None,
        coverage: VerifyReport | None,
        daily_estimates: bool,
        progress: Progress,
    ) -> CostReport:
        """The consolidated report of an organization inventory: the bill from the management account (else from
        each account) split by linked account, CloudWatch and AIP health from every account × Region."""
        from dataclasses import replace

        from aipctl.report import CallerHealth, build_report, read_health
        from aipctl.spend import CostSource, MergedSource
        from aipctl.spend.cloudwatch import CloudWatchSource
        from aipctl.spend.cost_explorer import BILLING_LAG, CostExplorerSource
        from aipctl.spend.ledger import LedgerSource
        from aipctl.spend.principal import PrincipalPlaneSource

        fleet = self.fleet()
        progress("reading every account × Region")
        opened = fleet.each(lambda p, t: (t, self.loaded.project(p), read_live_state(t)))
        warnings = [f"{p.label}: not read: {error}" for p, _, _, error in opened if error]
        reached = [(p, found) for p, _, found, _ in opened if found is not None]
        payer = [(p, found[0]) for p, found in reached if p.billing][:1]
        billing = payer or list({p.account: (p, found[0]) for p, found in reached}.values())  # else each account's own
        daily_from = None if daily_estimates else (now - BILLING_LAG).date()
        key = "DIMENSION:LINKED_ACCOUNT"
        sources: list[CostSource] = [
            MergedSource(
                "cost_explorer",
                "billed",
                [(None, CostExplorerSource(t, now=now, second_key=key, check_tags=True)) for _, t in billing],
            ),
            MergedSource(
                "cloudwatch",
                "estimated",
                [
                    (p.account_id, CloudWatchSource(t, live.managed(here), daily_from=daily_from))
                    for p, (t, here, live) in reached
                ],
            ),
        ]
        if any(c.attribution != "profile" for c in self.loaded.inventory.callers.values()):
            parts = [(None, PrincipalPlaneSource(t, self.loaded, now=now)) for _, t in billing]
            sources.append(MergedSource("principal_plane", "principal", parts, label_rows=False))
        if ledger is not None:
            sources.append(LedgerSource(ledger))
        readings = [source.read(window) for source in sources]
        health: dict[str, CallerHealth] = {}
        brakes: dict[str, Any] = {}
        released: dict[str, str] = {}
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        for _, (t, here, live) in reached:
            managed = live.managed(here)
            brakes |= managed.brakes()
            released |= {c: until for c, until in managed.snoozes().items() if until > stamp}
            for caller, found in read_health(t, managed, window).items():
                have = health.get(caller, CallerHealth())
                busiest = found if found.invocations > have.invocations else have
                health[caller] = CallerHealth(
                    have.invocations + found.invocations,
                    have.throttles + found.throttles,
                    have.errors + found.errors,
                    busiest.latency_ms,
                )
        report = build_report(
            self.loaded,
            sources,
            window,
            readings=readings,
            health=health,
            brakes=brakes,
            released=released,
            coverage={c.caller: c.to_dict(1.0) for c in coverage.callers} if coverage else None,
            progress=progress,
        )
        from aipctl.inventory.placement import caller_placements

        inv = self.loaded.inventory
        return replace(
            report,
            warnings=report.warnings + tuple(warnings),
            accounts=tuple((alias, account.id) for alias, account in inv.accounts.items()),
            placements={name: tuple(caller_placements(inv, name)) for name in inv.callers},
        )

    def ingest(
        self,
        source: str,
        ledger: str | os.PathLike[str],
        *,
        trail_since: dt.timedelta | None = None,
        progress: Progress = NO_PROGRESS,
    ) -> IngestResult:
        """Meter invocation logs (a folder, ``s3://…`` or ``logs://…``) into the ledger; works without an inventory."""
        from aipctl.meter import ingest, open_ledger, trail_identities

        fleet = self._loaded is not None and self._loaded.is_fleet
        if fleet and trail_since:
            raise UsageError("--cloudtrail-since reads one account's CloudTrail; an organization inventory cannot use it")
        trail = trail_identities(self.target, trail_since) if trail_since else None
        return ingest(
            open_ledger(ledger),
            source,
            loaded=self._loaded,
            profiles=self._every_profile() if fleet else self.live().profiles,
            target=self.target,
            trail=trail,
            progress=progress,
        )

    def _every_profile(self) -> list[LiveProfile]:
        """The AIPs of every account × Region of an organization inventory (a CUR of the management account bills
        them all: its lines are attributed by any of them)."""
        found: list[LiveProfile] = []
        for placement, _, profiles, error in self.fleet().each(lambda p, t: read_live_state(t).profiles):
            if profiles is None:
                raise TargetError(f"{placement.label}: {error}")  # lines of that account would be unattributed
            found += profiles
        return found

    def ingest_logging(self, ledger: str | os.PathLike[str], *, progress: Progress = NO_PROGRESS) -> IngestResult:
        """Meter the invocation logs where the inventory's ``logging:`` sends them: in an organization inventory, in
        every account × Region it is set up in (each through its role, attributed with that placement's AIPs), into one
        ledger. Every placement is tried; the ones that failed are named after the others were ingested."""
        from dataclasses import replace as with_values

        from aipctl.meter import ingest, open_ledger
        from aipctl.meter.ledger import IngestResult

        spec = self.loaded.inventory.logging
        if spec is None:
            raise UsageError(
                f"{self.loaded.path} has no `logging:` block to read logs from",
                hint="add one (docs/metering.md), apply it, or give `meter ingest` a SOURCE",
            )
        if self.loaded.is_fleet:
            fleet = self.fleet()
            places = [(p.label, fleet.target(p), self.loaded.project(p)) for p in self.loaded.placements]
            places = [(label, t, here) for label, t, here in places if here.inventory.logging is not None]
        else:
            places = [(self.target.region, self.target, self.loaded)]
        total = IngestResult(0, 0, 0, 0)
        failed: list[str] = []
        for done, (label, target, here) in enumerate(places, 1):
            progress(f"ingesting {label}", done - 1, len(places))
            logging = here.inventory.logging
            assert logging is not None
            try:
                if logging.s3 is not None:
                    uri = f"s3://{logging.s3.bucket_in(target.account, target.region)}/{logging.s3.prefix}".rstrip("/")
                else:
                    assert logging.cloudwatch is not None
                    uri = f"logs://{logging.cloudwatch.log_group}"
                con = open_ledger(ledger)
                try:
                    found = ingest(con, uri, loaded=here, profiles=read_live_state(target).profiles, target=target)
                finally:
                    con.close()
            except (AwsError, TargetError) as exc:  # the other placements are still read
                failed.append(f"{label}: {exc}")
                continue
            total = with_values(
                total,
                files=total.files + found.files,
                skipped_files=total.skipped_files + found.skipped_files,
                records=found.records,
                new_records=total.new_records + found.new_records,
                read_records=total.read_records + found.read_records,
                replaced_records=total.replaced_records + found.replaced_records,
            )
        if failed:
            raise TargetError(
                f"invocation logs not ingested in {len(failed)} account(s) × Region(s): {'; '.join(failed)} "
                f"(the others were: {total.new_records:,} new records, {total.records:,} in the ledger)"
            )
        return total

    # -- the bill of record (CUR 2.0) and reconciliation ------------------------------------------
    def cur_setup(self, *, bucket: str | None = None, prefix: str = "cur2", name: str | None = None) -> tuple[ExportInfo, bool]:
        """Create (once) the CUR 2.0 export aipctl reads, with its bucket and bucket policy; (export, created)."""
        from aipctl.aws.exports import DataExports

        exports = DataExports(self.target)
        name = name or f"aipctl-{self._loaded.inventory.name if self._loaded else 'default'}-cur2"
        found = exports.find(name)
        if found is not None:
            return found, False
        bucket = bucket or f"aipctl-cur-{self.target.account}-{self.target.region}"
        exports.prepare_bucket(bucket, self.target.region)
        arn = exports.create(name, bucket, prefix, self.target.region, tags={"aipctl:managed": name})
        return exports.get(arn), True

    def reconcile(
        self,
        since: dt.timedelta,
        ledger: str | os.PathLike[str],
        *,
        settings: Reconcile | None = None,
        progress: Progress = NO_PROGRESS,
    ) -> Reconciliation:
        """Ledger (metered) against the bill (CUR in the ledger, else Cost Explorer), per caller/tenant/day.

        An organization inventory reconciles from the CUR lines in the ledger (the management account's export bills
        every member): its ledger holds the logs of every account (``meter ingest --from-logging``)."""
        from aipctl.meter import open_ledger
        from aipctl.meter.cur import has_lines
        from aipctl.reconcile import billed_from_cur, billed_from_rows, metered, reconcile, watermark_of
        from aipctl.report import report_window
        from aipctl.spend.cost_explorer import CostExplorerSource
        from aipctl.spend.principal import PrincipalPlaneSource

        settings = settings or self.loaded.inventory.reconcile
        now = self.now()
        window = report_window(since, now)
        watermark = watermark_of(now, settings.watermark_hours)
        con = open_ledger(ledger)
        try:
            progress("reading the ledger")
            meter_rows = metered(con, window.first_day, watermark)
            if has_lines(con):
                bill_rows, source = billed_from_cur(con, window.first_day, watermark), "cur"
            else:
                self.one_account("reconcile without CUR lines in the ledger")
                progress("reading Cost Explorer")
                aip = CostExplorerSource(self.target, now=now).read(window).rows
                principal = PrincipalPlaneSource(self.target, self.loaded, now=now).read(window).rows
                bill_rows, source = billed_from_rows(self.loaded, aip, principal, watermark), "cost_explorer"
        finally:
            con.close()
        return reconcile(self._loaded, meter_rows, bill_rows, source=source, watermark=watermark, settings=settings)

    # -- guards --------------------------------------------------------------------------------
    def brake(self, caller: str, reason: str, *, tenant: str | None = None) -> BrakeResult:
        """Brake a caller (tag ``aipctl:brake`` on its AIPs), or only one ``tenant`` of it (its session tag)."""
        from aipctl.guard.brake import brake, brake_tenant

        if self.loaded.is_fleet:
            if tenant is not None:
                return self._fleet_brake(
                    caller, lambda here, target, managed: brake_tenant(here, target, managed, caller, tenant)
                )
            return self._fleet_brake(caller, lambda here, target, managed: brake(here, target, managed, caller, reason))
        try:
            if tenant is not None:
                return brake_tenant(self.loaded, self.target, self.managed(), caller, tenant)
            return brake(self.loaded, self.target, self.managed(), caller, reason)
        finally:
            self._changed()

    def release(self, caller: str, *, tenant: str | None = None, until: dt.datetime | None = None) -> BrakeResult:
        """Release a caller's brake (``until``: and keep `guard watch` from braking it again before then)."""
        from aipctl.guard.brake import brake_tenant, release

        if tenant is not None and until is not None:
            raise UsageError("--until releases a whole caller; a tenant's release has no snooze")
        if self.loaded.is_fleet:
            if tenant is not None:
                return self._fleet_brake(
                    caller, lambda here, target, managed: brake_tenant(here, target, managed, caller, tenant, release=True)
                )
            return self._fleet_brake(caller, lambda here, target, managed: release(here, target, managed, caller, until=until))
        try:
            if tenant is not None:
                return brake_tenant(self.loaded, self.target, self.managed(), caller, tenant, release=True)
            return release(self.loaded, self.target, self.managed(), caller, until=until)
        finally:
            self._changed()

    def _fleet_brake(self, caller: str, act: Callable[[LoadedInventory, Target, ManagedProfiles], BrakeResult]) -> BrakeResult:
        """Brake or release ``caller`` in every account × Region it is placed in, all of them tried even when one
        fails (a brake must not stop at the first account); the failed ones are in the result's ``failed``."""
        from aipctl.aws.live import read_live_state
        from aipctl.guard.brake import merged_results
        from aipctl.inventory.placement import caller_placements

        inventory = self.loaded.inventory
        if caller not in inventory.callers:
            raise UsageError(
                f"unknown caller {caller!r} in {self.loaded.path} (known: {', '.join(sorted(inventory.callers)) or 'none'})"
            )
        where = set(caller_placements(inventory, caller))
        chosen = [p for p in self.loaded.placements if p.key in where]

        def work(placement: Placement, target: Target) -> BrakeResult:
            here = self.loaded.project(placement)
            return act(here, target, read_live_state(target).managed(here))

        parts, failed = [], []
        for placement, _, result, error in self.fleet().each(work, only=chosen):
            if result is None:
                failed.append(f"{placement.label}: {error}")
            else:
                parts.append((placement.label, result))
        return merged_results(caller, parts, failed)

    def anti_bypass_policies(self, callers: Collection[str] = ()) -> dict[str, dict[str, object]]:
        """Per caller (all, or ``callers``), the identity policy that allows only its own AIPs. In an organization
        inventory a caller's one policy allows its AIPs in every account and Region it is placed in (an AIP of
        another account in it grants nothing there) and is attached in each of those accounts."""
        from aipctl.guard.brake import aip_only_policies

        self.check_callers(callers)
        inventory = self.loaded.inventory
        managed = (
            ManagedProfiles.of(self._every_profile(), inventory.name, inventory.callers)
            if self.loaded.is_fleet
            else self.managed()
        )
        return aip_only_policies(self.loaded, managed, list(callers) or list(inventory.callers))

    def attach_anti_bypass(self, policies: dict[str, dict[str, object]], *, detach: bool = False) -> dict[str, list[str]]:
        """Put the policies on each caller's roles and users (or remove them); caller -> principal ARNs touched.

        In an organization inventory: in every account a caller is placed in, through that account's role (IAM is
        global to an account: one placement per account acts). Every account is tried; if some failed, the
        others' changes stand and a :class:`TargetError` names the failed ones (running it again converges)."""
        from aipctl.guard.brake import attach_aip_only
        from aipctl.inventory.placement import caller_placements

        if not self.loaded.is_fleet:
            return attach_aip_only(self.loaded, self.target, policies, detach=detach)
        inventory = self.loaded.inventory
        first: dict[str, Placement] = {}
        for placement in self.loaded.placements:
            first.setdefault(placement.account, placement)
        placed = {alias: [c for c in policies if any(a == alias for a, _ in caller_placements(inventory, c))] for alias in first}

        def work(placement: Placement, target: Target) -> dict[str, list[str]]:
            mine = {c: policies[c] for c in placed[placement.account]}
            return attach_aip_only(self.loaded.project(placement), target, mine, detach=detach) if mine else {}

        touched: dict[str, list[str]] = {}
        failed = []
        chosen = [p for alias, p in first.items() if placed[alias]]
        for placement, _, result, error in self.fleet().each(work, only=chosen):
            if result is None:
                failed.append(f"{placement.account}: {error}")
                continue
            for caller, arns in result.items():
                touched.setdefault(caller, []).extend(arns)
        if failed:
            raise TargetError(
                f"the anti-bypass policies were {'removed' if detach else 'attached'} in the other accounts, not in: "
                + "; ".join(failed)
                + (
                    f" (done: {sum(len(a) for a in touched.values())} principals); run the command again once fixed"
                    if touched
                    else ""
                )
            )
        return touched

    def watch(
        self,
        *,
        source: SourceName = "auto",
        ledger: str | None = None,
        ingest_from: str | None = None,
        dry_run: bool = False,
        state_file: str | None = None,
    ) -> Watch:
        """The budget guard; ``watch.run_once()`` is one pass (an organization inventory: over all its accounts)."""
        from aipctl.guard.watch import STATE_FILE, Watch

        return Watch(
            self.loaded,
            self.target,
            source=source,
            ledger=ledger,
            ingest_from=ingest_from,
            dry_run=dry_run,
            state_file=state_file or STATE_FILE,
            fleet=self.fleet() if self.loaded.is_fleet else None,
        )

    # -- the emulator --------------------------------------------------------------------------
    def traffic(
        self,
        days: float,
        *,
        seed: int = 7,
        calls_per_day: int = 40,
        bypass: Sequence[str] | None = None,
        concurrency: int = 8,
        ago: float = 0.0,
        progress: Progress = NO_PROGRESS,
    ) -> TrafficReport:
        """``days`` of simulated traffic through the callers' AIPs (``bypass``: straight to their models), ending ``ago``
        days before now (emulator only)."""
        self.one_account("sim traffic")
        from aipctl.simulate.traffic import run_traffic

        return run_traffic(
            self.loaded,
            self.target,
            days=days,
            seed=seed,
            calls_per_day=calls_per_day,
            bypass=bypass,
            concurrency=concurrency,
            ago=ago,
            progress=progress,
        )

    def workload_roles(self) -> list[str]:
        """Create the IAM roles the callers run as, where missing (emulator: the account's workloads); their ARNs."""
        from aipctl.simulate.traffic import ensure_workload_roles

        return ensure_workload_roles(self.loaded, self.target)

    def refresh_prices(self, regions: Sequence[str] | None, *, progress: Progress = NO_PROGRESS) -> Refreshed:
        """Read the Price List (``regions``; None: all) into the state directory's price book, and make it active."""
        import json

        from aipctl import pricing
        from aipctl.pricing.pricelist import fetch, merged, model_names

        current = pricing.price_book()
        refreshed = fetch(self.target, regions, model_names(self.target, current), progress)
        if refreshed.book["models"] and regions:  # the Regions not read keep the prices they had
            refreshed.book["models"] = merged(refreshed.book["models"], current.models, regions)
            refreshed.book["other_regions_from"] = f"{current.source}, {current.generated}"
        if not refreshed.book["models"]:
            raise AwsError(
                "the Price List answered no Bedrock token prices for the models of this Region",
                service="pricing",
                operation="GetProducts",
                code="NoPrices",
                hint="check the Regions asked for (--region), and that the principal may call pricing:GetProducts",
            )
        path = pricing.cache_path(self.state_dir, self.target.kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(refreshed.book, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(scratch, path)  # all or nothing: a failed refresh keeps the previous book
        pricing.use_book(pricing.load_book(path))
        return refreshed

    def enable_invocation_logs(self, bucket: str, prefix: str) -> str:
        """Point Bedrock's model invocation logging at ``s3://bucket/prefix`` (metadata only); returns the URI."""
        from aipctl.aws.s3logs import InvocationLogs

        return InvocationLogs(self.target).enable(bucket, prefix)

    def record_mantle(self, bucket: str) -> DataTrail:
        """A trail that records bedrock-mantle's data events in ``bucket``, so verify sees mantle (demo, tests)."""
        from aipctl.aws.cloudtrail import Trail

        return Trail(self.target).record_mantle(bucket)


def _billing_key(key: str | None) -> str | None:
    """The AIP tag Cost Explorer splits by for ``--by KEY`` (``owner`` is the tag Owner; ``tier`` is no tag)."""
    if key is None or key.lower() == "tier":
        return None
    return {"owner": "Owner", "environment": "Environment", "application": "Application"}.get(key.lower(), key)
