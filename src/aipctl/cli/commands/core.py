"""init, plan, apply, list, demo: a few lines each over the Python API."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from aipctl._exceptions import ApplyFailed, UsageError
from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.inventory import DEFAULT_INVENTORY, LoadedInventory, example_inventory, load_inventory
from aipctl.inventory import rules as inv_rules

file_option = click.option(
    "-f",
    "--file",
    "inventory_file",
    default=DEFAULT_INVENTORY,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Inventory file.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


def optional_file_option(help_text: str) -> Callable[[F], F]:
    """-f FILE for commands that work without an inventory too (its region and keys are used)."""
    return click.option(
        "-f",
        "--file",
        "inventory_file",
        default=None,
        type=click.Path(dir_okay=False),
        help=f"{help_text} Default: {DEFAULT_INVENTORY} if present.",
    )


def load_optional_inventory(inventory_file: str | None) -> LoadedInventory | None:
    """The inventory given with -f, else ./aipctl.yaml when present, else None (see optional_file_option)."""
    if inventory_file or Path(DEFAULT_INVENTORY).exists():
        return load_inventory(inventory_file or DEFAULT_INVENTORY)
    return None


pass_options = click.make_pass_decorator(GlobalOptions)
F = TypeVar("F", bound=Callable[..., Any])


@click.command("init")
@click.option("-f", "--file", "inventory_file", default=DEFAULT_INVENTORY, show_default=True, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init_cmd(inventory_file: str, force: bool) -> None:
    """Write a commented example inventory (six callers of a typical platform)."""
    path = Path(inventory_file)
    if path.exists() and not force:
        raise UsageError(f"{path} already exists", hint="pass --force to overwrite it")
    path.write_text(example_inventory(), encoding="utf-8")
    console.note(f"wrote {path}: edit it, then run `aipctl plan -f {path}`")


def _plan(opts: GlobalOptions, loaded: LoadedInventory, target: Any, prune: bool) -> Any:
    from aipctl.plan import make_plan

    with console.progress_bar("reading live state") as bar:
        return make_plan(loaded, target, prune=prune, on_progress=bar.update)


@click.command("plan")
@file_option
@json_option
@click.option("--prune", is_flag=True, help="Plan deletes of managed AIPs that left the inventory.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are.")
@click.option("--all", "show_all", is_flag=True, help="Also show unchanged AIPs.")
@pass_options
def plan_cmd(
    opts: GlobalOptions, inventory_file: str, as_json: bool, prune: bool, detailed_exitcode: bool, show_all: bool
) -> int:
    """Show what `apply` would change, and where (account, Region, endpoint)."""
    loaded = load_inventory(inventory_file)
    with opts.open(loaded.inventory.region) as target:
        console.announce(target)
        plan = _plan(opts, loaded, target, prune)
    for warning in plan.warnings:
        console.warn(warning)
    if as_json:
        console.print_json(plan.to_dict())
    else:
        from aipctl.cli.render import plan_text

        for line in plan_text(plan, show_noop=show_all):
            console.out.print(line)
    return 2 if detailed_exitcode and plan.has_changes else 0


@click.command("apply")
@file_option
@json_option
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (required when not on a terminal).")
@click.option("--prune", is_flag=True, help="Delete managed AIPs that are no longer in the inventory.")
@click.option(
    "--via",
    type=click.Choice(["api", "cloudformation"]),
    default="api",
    show_default=True,
    help="Create AIPs with the Bedrock API, or as one CloudFormation stack per caller.",
)
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--skip-cost-tags", is_flag=True, help="Do not activate cost-allocation tags.")
@pass_options
def apply_cmd(
    opts: GlobalOptions,
    inventory_file: str,
    as_json: bool,
    yes: bool,
    prune: bool,
    via: str,
    concurrency: int,
    skip_cost_tags: bool,
) -> int:
    """Create, retag, replace (and with --prune delete) AIPs so the account matches the inventory."""
    loaded = load_inventory(inventory_file)
    if via == "cloudformation":
        from aipctl.cli.commands.cfn import apply_stacks

        return apply_stacks(opts, loaded, as_json=as_json, yes=yes, prune=prune, skip_cost_tags=skip_cost_tags)
    from aipctl.cli.render import plan_text, report_text
    from aipctl.plan import apply_plan

    with opts.open(loaded.inventory.region) as target:
        console.announce(target)
        plan = _plan(opts, loaded, target, prune)
        for warning in plan.warnings:
            console.warn(warning)
        if not plan.has_changes:
            if as_json:
                console.print_json({"plan": plan.to_dict(), "result": None})
            else:
                for line in plan_text(plan)[1:]:
                    console.out.print(line)
            return 0
        if not as_json:
            for line in plan_text(plan, limit=50):
                console.err.print(line)
        _confirm(yes, plan.target)
        with console.progress_bar("applying", total=len(plan.actionable)) as bar:
            report = apply_plan(
                plan,
                target,
                concurrency=concurrency,
                activate_cost_tags=not skip_cost_tags,
                on_result=lambda _result: bar.advance(),
            )
    if as_json:
        console.print_json({"plan": plan.to_dict(), "result": report.to_dict()})
    else:
        for line in report_text(report):
            console.out.print(line)
    if report.failures or report.guard_failures:
        failures = [(r.change.name, r.error or "") for r in report.failures] + [
            (g.name, e or "") for g, e in report.guard_failures
        ]
        raise ApplyFailed(f"{len(failures)} change(s) failed", failures=failures)
    return 130 if report.interrupted else 0


def _confirm(yes: bool, target_info: dict[str, str] | Any) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("apply changes the account; pass --yes to confirm when not running on a terminal")
    where = f"account {target_info.get('account')} in {target_info.get('region')} ({target_info.get('target')})"
    click.confirm(f"Apply these changes to {where}?", abort=True, err=True)


@click.command("list")
@optional_file_option("Inventory whose region to list.")
@json_option
@click.option("--all", "show_all", is_flag=True, help="Include AIPs that aipctl does not manage.")
@pass_options
def list_cmd(opts: GlobalOptions, inventory_file: str | None, as_json: bool, show_all: bool) -> None:
    """List application inference profiles with their caller, model source, ARN and tags."""
    from aipctl.plan.reconcile import read_live_state

    loaded = load_optional_inventory(inventory_file)
    with opts.open(loaded.inventory.region if loaded else None) as target:
        console.announce(target)
        live = read_live_state(target, [])
    for warning in live.warnings:
        console.warn(warning)
    rows = [
        {
            "caller": p.tags.get(inv_rules.TAG_CALLER),
            "alias": p.tags.get(inv_rules.TAG_ALIAS),
            "name": p.name,
            "arn": p.arn,
            "profile_id": p.profile_id,
            "model_source": p.tags.get(inv_rules.TAG_SOURCE),
            "models": list(p.models),
            "inventory": p.tags.get(inv_rules.TAG_MANAGED),
            "managed": inv_rules.TAG_MANAGED in p.tags,
            "brake": p.tags.get(inv_rules.TAG_BRAKE),
            "tags": dict(p.tags),
            "created_at": p.created_at.isoformat() if p.created_at else None,
        }
        for p in sorted(live.profiles, key=lambda p: p.name)
        if show_all or inv_rules.TAG_MANAGED in p.tags
    ]
    if as_json:
        console.print_json(rows)
        return
    from aipctl.cli.render import profiles_table

    console.out.print(profiles_table(rows))
    console.note(f"{len(rows)} AIP(s)")


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the demo leaves its inventory, emulator state, caller-inventory.md and aipctl-report.html.",
)
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of the simulated traffic.")
@pass_options
def demo_cmd(opts: GlobalOptions, directory: str, seed: int) -> None:
    """Run Phase 4 end to end on the embedded emulator, in a fresh state directory.

    \b
    inventory -> AIPs -> cost tags -> 3 days of traffic (one caller not switched) -> past the billing
    lag -> verify (names the bypasser) -> ledger from the invocation logs -> budget guard pass ->
    report top 3 -> caller-inventory.md and aipctl-report.html.
    Every other command can be run in DIR afterwards (aipctl verify, aipctl report, aipctl list ...).
    """
    import datetime as dt
    import shutil

    if opts.target != "sim":
        raise UsageError("the demo runs on the embedded emulator only (drop --target aws)")
    from aipctl.aws.simctl import SimControl
    from aipctl.cli.commands.report import emit
    from aipctl.cli.commands.verify import render_coverage
    from aipctl.cli.render import report_text
    from aipctl.plan import apply_plan
    from aipctl.report import build_report
    from aipctl.simulate.traffic import run_traffic
    from aipctl.verify import verify

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    inventory_path = root / DEFAULT_INVENTORY
    if not inventory_path.exists():
        inventory_path.write_text(example_inventory(), encoding="utf-8")
        console.note(f"1. wrote the example inventory {inventory_path} (6 callers)")
    else:
        console.note(f"1. using the inventory {inventory_path}")
    loaded = load_inventory(inventory_path)
    state = root / ".aipctl"
    shutil.rmtree(state / "sim", ignore_errors=True)  # a fresh account every time
    demo_opts = GlobalOptions("sim", str(state), None, None, None)
    with demo_opts.open(loaded.inventory.region) as target:
        info = console.announce(target)
        plan = _plan(demo_opts, loaded, target, prune=False)
        report = apply_plan(plan, target)
        console.note(
            f"2. created {sum(1 for r in report.results if r.ok)} AIPs (one per caller x model) and activated the cost tags:"
        )
        for line in report_text(report):
            console.err.print(line)
        from aipctl.aws.s3logs import InvocationLogs

        log_uri = InvocationLogs(target).enable("aipctl-demo-invocation-logs", "bedrock")
        with console.progress_bar("3. simulating 3 days of traffic", total=72) as bar:
            traffic = run_traffic(
                loaded,
                target,
                days=3,
                seed=seed,
                on_hour=lambda done, total: bar.update("3. simulating 3 days of traffic", done, total),
            )
        console.note(
            f"3. simulated 3 days: {traffic.to_dict()['total_calls']:,} calls; {traffic.bypass_caller} was left un-switched"
        )
        SimControl(str(target.endpoint_url)).advance(86400)
        console.note("4. advanced the simulated clock one day, past Cost Explorer's billing lag")
        now = target.now()
        window = dt.timedelta(days=4, hours=1)  # the whole traffic, whatever wall time passed meanwhile
        with console.progress_bar("5. verifying from CloudTrail (2 requests/s)") as bar:
            coverage = verify(loaded, target, since=window, now=now, on_progress=lambda text: bar.update(text, 0, 0))
        console.note("5. verify: which callers call their AIPs?")
        render_coverage(coverage, 1.0)
        from aipctl.guard.watch import Watch
        from aipctl.meter import ingest, open_ledger
        from aipctl.plan.reconcile import read_live_state
        from aipctl.report import add_ledger

        ledger = state / "ledger.duckdb"
        for old in state.glob("ledger.duckdb*"):
            old.unlink()
        metered = ingest(
            open_ledger(ledger), log_uri, loaded=loaded, profiles=list(read_live_state(target, []).profiles), target=target
        )
        console.note(
            f"6. metered {metered.new_records:,} invocations from the invocation logs ({log_uri}) into {ledger} "
            "(try `aipctl meter query --by caller` there)"
        )
        costs = build_report(loaded, target, since=window, now=now)
        costs.coverage = {c.caller: c.to_dict(1.0) for c in coverage.callers}
        add_ledger(costs, str(ledger))
        guard = Watch(
            loaded, target, source="ledger", ledger=str(ledger), dry_run=True, state_file=str(state / "guard-state.json")
        )
        for row in guard.run_once()["callers"]:
            if "budget_usd" in row:
                console.note(
                    f"7. guard: {row['caller']} spent ${row['spent_usd']:,.2f} of its ${row['budget_usd']:,.0f} monthly budget "
                    f"({row['percent']:.1f}%); `aipctl guard watch` alerts, brakes at brake_at and releases next month"
                )
    console.note("8. report: cost per caller (Cost Explorer, CloudWatch, estimate, ledger)")
    markdown, dashboard = root / "caller-inventory.md", root / "aipctl-report.html"
    emit(costs, info, top=3, markdown_out=str(markdown), html_out=str(dashboard))
    console.note(
        f"Done in {root}: {markdown} (top-3 block), {dashboard} (dashboard, open it in a browser). "
        f"Try `aipctl verify`, `aipctl report --since 4d`, `aipctl list` there."
    )
