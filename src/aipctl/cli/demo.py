"""``aipctl demo``: the Phase 4 runbook end to end on the embedded emulator, as a sequence of facade calls."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import replace
from pathlib import Path

from aipctl.cli import console
from aipctl.cli.commands.report import emit
from aipctl.cli.commands.verify import render_coverage
from aipctl.cli.render import report_text
from aipctl.discover import draft_inventory
from aipctl.inventory import DEFAULT_INVENTORY, example_inventory, load_inventory
from aipctl.inventory.model import Reconcile
from aipctl.pricing import usd_text
from aipctl.project import Project

#: Days of history the demo writes: at the end, Cost Explorer has three whole days (the runbook's "3 days measured").
DAYS = 4
#: The whole simulated traffic, whatever wall time passed while it ran.
WINDOW = dt.timedelta(days=DAYS, hours=1)


def run_demo(root: Path, seed: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    inventory = root / DEFAULT_INVENTORY
    if inventory.exists():
        console.note(f"1. using the inventory {inventory}")
    else:
        inventory.write_text(example_inventory(), encoding="utf-8")
        console.note(f"1. wrote the example inventory {inventory} (6 callers)")
    loaded = load_inventory(inventory)
    state = root / ".aipctl"
    shutil.rmtree(state / "sim", ignore_errors=True)  # a fresh account every time
    for old in state.glob("ledger.duckdb*"):
        old.unlink()
    ledger = state / "ledger.duckdb"
    with Project.open(loaded, target="sim", state_dir=state) as project:
        info = console.announce(project.target)

        roles = project.workload_roles()  # the account's workloads exist before aipctl does
        mantle_trail = project.record_mantle("aipctl-demo-cloudtrail")
        callers = list(loaded.inventory.callers)
        before = project.traffic(1, seed=seed + 1, calls_per_day=8, bypass=callers, ago=DAYS + 1)
        with console.progress_bar("discovering from CloudTrail (2 requests/s)", prefix="1b. ") as bar:
            found = project.discover(dt.timedelta(days=DAYS + 3), source="cloudtrail", progress=bar)
        draft = root / "discovered.yaml"
        draft.write_text(draft_inventory(found.identities, project.target.region, project.target.account), encoding="utf-8")
        console.note(
            f"1b. discover (runbook Phase 1): before aipctl, {sum(before.calls.values()):,} calls a day went straight to "
            f"the models; CloudTrail names {len(found.identities)} identities — draft in {draft} (`aipctl discover`)"
        )
        for identity in found.identities[:6]:
            console.err.print(
                f"   {identity.caller_name():<22} {identity.runs_as:<8} {identity.calls:>5,} calls  {', '.join(identity.models)}",
                highlight=False,
            )
        applied = project.apply()
        console.note(
            f"2. created {sum(1 for r in applied.results if r.ok)} AIPs (one per caller x model), tagged the "
            f"{len(roles)} IAM roles the callers run as (principal plane) and activated the cost tags:"
        )
        for line in report_text(applied):
            console.err.print(line)

        prices = project.refresh_prices([project.target.region])
        console.note(
            f"2b. read the AWS Price List of {project.target.region} ({prices.parsed.products:,} products) into the price "
            f"book every estimate and ledger row is priced with (`aipctl prices show`)"
        )

        logs = project.enable_invocation_logs("aipctl-demo-invocation-logs", "bedrock")
        console.note(
            f"2c. invocation logs go to {logs}; trail {mantle_trail.name} records bedrock-mantle's calls (CloudTrail data "
            "events, which no invocation log or LookupEvents has), so verify sees that route too"
        )
        export, _ = project.cur_setup()  # before the traffic: a CUR 2.0 export bills from its creation month on
        with console.progress_bar("simulating 4 days of traffic", total=96, prefix="3. ") as bar:
            traffic = project.traffic(DAYS, seed=seed, progress=bar)
        console.note(
            f"3. wrote the last {DAYS} days of traffic, up to now: {sum(traffic.calls.values()):,} calls; "
            f"{traffic.bypass_caller} was left un-switched"
        )
        console.note("4. Cost Explorer has the days that ended more than 24 h ago; the estimate and the ledger cover the rest")

        with console.progress_bar("verifying from CloudTrail (2 requests/s)", prefix="5. ") as bar:
            coverage = project.verify(WINDOW, progress=bar)
        console.note("5. verify: which callers call their AIPs?")
        render_coverage(coverage, 1.0)

        metered = project.ingest(logs, ledger)
        console.note(
            f"6. metered {metered.new_records:,} invocations from the invocation logs ({logs}) into {ledger} "
            "(try `aipctl meter query --by caller` there)"
        )
        billed = project.ingest(export.data_uri, ledger).cur
        # The emulator bills a day 24 h after it ended; on AWS the watermark stays at its 72 h default.
        checked = project.reconcile(WINDOW, ledger, settings=Reconcile(watermark_hours=24))
        console.note(
            f"6b. CUR 2.0 ({export.data_uri}): {billed.lines if billed else 0:,} line items by AIP and IAM principal; "
            f"reconcile: {len(checked.rows)} caller-days, "
            + ("all within tolerance" if checked.ok else f"{len(checked.drifting)} drifting")
            + " (`aipctl reconcile --watermark 24h` there)"
        )

        guard = project.watch(source="ledger", ledger=str(ledger), dry_run=True, state_file=str(state / "guard-state.json"))
        for row in guard.run_once().callers:
            if row.budget_usd is not None:
                console.note(
                    f"7. guard: {row.caller} spent ${row.spent_usd:,.2f} of its ${row.budget_usd:,.0f} monthly budget "
                    f"({row.percent:.1f}%); `aipctl guard watch` alerts, brakes at brake_at and releases next month"
                )
        costs = project.report(WINDOW, ledger=ledger, coverage=coverage)
        advice = project.advise(WINDOW)
        costs = replace(costs, advice=tuple(a.to_dict() for a in advice))

    console.note("8. report: cost per caller (Cost Explorer, CloudWatch, estimate, ledger)")
    markdown, dashboard = root / "caller-inventory.md", root / "aipctl-report.html"
    emit(costs, info, top=3, markdown_out=str(markdown), html_out=str(dashboard))
    console.note(f"9. advise (runbook Phase 5): {len(advice)} recommendation(s) from the last {DAYS} days")
    for item in advice[:5]:
        saving = f"{usd_text(item.monthly_saving_usd)}/month" if item.monthly_saving_usd else "no cost"
        console.err.print(f"   {item.kind:<10} {item.caller}/{item.alias or '-'}  {saving}  ({item.confidence})", highlight=False)
    console.note(
        f"Done in {root}: {markdown} (top-3 block), {dashboard} (dashboard, open it in a browser). "
        f"Try `aipctl verify`, `aipctl report --since 4d`, `aipctl advise --since 4d`, `aipctl list` there."
    )
