"""init, plan, apply, list, demo: a few lines each over :class:`aipctl.Project`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aipctl._exceptions import ApplyFailed, TargetError, UsageError
from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import (
    confirm,
    file_option,
    json_option,
    load_optional_inventory,
    open_project,
    optional_file_option,
    pass_options,
)
from aipctl.inventory import DEFAULT_INVENTORY, example_inventory, load_inventory

if TYPE_CHECKING:
    from aipctl.fleet import Fleet, FleetPlan
    from aipctl.inventory import LoadedInventory
    from aipctl.plan import Plan
    from aipctl.project import Project

parallel_option = click.option(
    "--parallel",
    default=4,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Accounts × Regions worked on at once (inventories with accounts: or several Regions).",
)
via_option = click.option(
    "--via",
    type=click.Choice(["api", "cloudformation"]),
    default="api",
    show_default=True,
    help="Create AIPs with the Bedrock API, or as one CloudFormation stack per caller.",
)


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


def _plan(project: Project, prune: bool, via: str = "api", change_sets: bool = False, staged: bool = False) -> Plan:
    if staged and via == "cloudformation":
        raise UsageError("--staged stages AIP replacements of the API path; a stack replaces its AIPs itself")
    with console.progress_bar("reading live state") as bar:
        plan = project.plan(
            prune=prune,
            via="cloudformation" if via == "cloudformation" else "api",
            progress=bar,
            change_sets=change_sets,
            staged=staged,
        )
    for warning in plan.warnings:
        console.warn(warning)
    return plan


@click.command("plan")
@file_option
@json_option
@click.option("--prune", is_flag=True, help="Plan deletes of managed AIPs that left the inventory.")
@via_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are.")
@click.option("--all", "show_all", is_flag=True, help="Also show unchanged AIPs.")
@click.option(
    "--staged",
    is_flag=True,
    help="Stage replacements: create an AIP with a new model source beside the old one (re-wire, then --prune deletes it).",
)
@click.option(
    "--change-sets",
    is_flag=True,
    help="With --via cloudformation: ask CloudFormation what each stack update would do (change sets, deleted after).",
)
@parallel_option
@pass_options
def plan_cmd(
    opts: GlobalOptions,
    inventory_file: str,
    as_json: bool,
    prune: bool,
    via: str,
    detailed_exitcode: bool,
    show_all: bool,
    staged: bool,
    change_sets: bool,
    parallel: int,
) -> int:
    """Show what `apply` would change, and where (account, Region, endpoint)."""
    from aipctl.cli.render import plan_text

    if change_sets and via != "cloudformation":
        raise click.UsageError("--change-sets previews CloudFormation stack updates: add --via cloudformation")
    loaded = load_inventory(inventory_file)
    if loaded.is_fleet:
        if staged:
            raise click.UsageError("--staged plans one account: stage replacements with an inventory of that account")
        return _fleet_plan_cmd(opts, loaded, as_json, prune, via, detailed_exitcode, show_all, parallel)
    with open_project(opts, loaded) as project:
        plan = _plan(project, prune, via, change_sets, staged)
    if as_json:
        console.print_json(plan.to_dict())
    else:
        for line in plan_text(plan, show_noop=show_all):
            console.out.print(line)
    return 2 if detailed_exitcode and plan.has_changes else 0


@click.command("apply")
@file_option
@json_option
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (required when not on a terminal).")
@click.option("--prune", is_flag=True, help="Delete managed AIPs that are no longer in the inventory.")
@via_option
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--skip-cost-tags", is_flag=True, help="Do not activate cost-allocation tags.")
@click.option("--force", is_flag=True, help="Delete or replace AIPs even when they were called in the last 7 days.")
@click.option(
    "--staged",
    is_flag=True,
    help="Stage replacements: create an AIP with a new model source beside the old one (re-wire, then --prune deletes it).",
)
@parallel_option
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
    force: bool,
    staged: bool,
    parallel: int,
) -> int:
    """Create, retag, replace (and with --prune delete) AIPs so the account matches the inventory.

    Refuses, before changing anything, to delete or replace an AIP called in the last 7 days (its ARN
    would vanish under a running caller) unless --force."""
    from aipctl.cli.render import apply_json, plan_text, report_text

    loaded = load_inventory(inventory_file)
    if loaded.is_fleet:
        if staged:
            raise click.UsageError("--staged applies one account: stage replacements with an inventory of that account")
        return _fleet_apply_cmd(opts, loaded, as_json, yes, prune, via, concurrency, skip_cost_tags, force, parallel)
    with open_project(opts, loaded) as project:
        plan = _plan(project, prune, via, staged=staged)
        if not plan.has_changes:
            if as_json:
                console.print_json(apply_json(plan, None))
            else:
                # (the API path has always said this on stdout, the CloudFormation path on stderr)
                stream = console.out if plan.via == "api" else console.err
                for line in plan_text(plan)[1:]:
                    stream.print(line)
            return 0
        if not as_json:
            for line in plan_text(plan, limit=50):
                console.err.print(line)
        if plan.in_use and not force:
            used = ", ".join(f"{c.name} ({c.recent_calls:,} calls)" for c in plan.in_use)
            raise UsageError(
                f"{len(plan.in_use)} AIP(s) to delete or replace were called in the last 7 days: {used}; nothing changed",
                hint="re-wire their callers first (`aipctl wire`), or pass --force to change them anyway",
            )
        confirm(yes, dict(plan.target))
        with console.progress_bar("applying", total=len(plan.actionable) or None) as bar:
            report = project.apply(plan, concurrency=concurrency, activate_cost_tags=not skip_cost_tags, progress=bar)
    if as_json:
        console.print_json(apply_json(plan, report))
    else:
        for line in report_text(report):
            console.out.print(line)
    failures = report.failed_names()
    if failures:
        raise ApplyFailed(f"{len(failures)} change(s) failed", failures=failures)
    return 130 if report.interrupted else 0


def _fleet_plan(fleet: Fleet, prune: bool, via: str) -> FleetPlan:
    with console.progress_bar("planning accounts × Regions", total=len(fleet.placements)) as bar:
        plan = fleet.plan(prune=prune, via="cloudformation" if via == "cloudformation" else "api", progress=bar)
    for group in plan.groups:
        for warning in group.plan.warnings if group.plan else ():
            console.warn(f"{group.placement.label}: {warning}")
    return plan


def _fleet_plan_cmd(
    opts: GlobalOptions,
    loaded: LoadedInventory,
    as_json: bool,
    prune: bool,
    via: str,
    detailed_exitcode: bool,
    show_all: bool,
    parallel: int,
) -> int:
    from aipctl.cli.render import fleet_plan_text

    with open_project(opts, loaded) as project:
        plan = _fleet_plan(project.fleet(parallel=parallel), prune, via)
    if as_json:
        console.print_json(plan.to_dict())
    else:
        for line in fleet_plan_text(plan, show_noop=show_all):
            console.out.print(line)
    if plan.failed:
        raise ApplyFailed(
            f"{len(plan.failed)} account(s) × Region(s) could not be planned",
            failures=[(g.placement.label, g.error or "") for g in plan.failed],
        )
    return 2 if detailed_exitcode and plan.has_changes else 0


def _fleet_apply_cmd(
    opts: GlobalOptions,
    loaded: LoadedInventory,
    as_json: bool,
    yes: bool,
    prune: bool,
    via: str,
    concurrency: int,
    skip_cost_tags: bool,
    force: bool,
    parallel: int,
) -> int:
    from aipctl.cli.render import fleet_apply_json, fleet_apply_text, fleet_plan_text

    with open_project(opts, loaded) as project:
        fleet = project.fleet(parallel=parallel)
        plan = _fleet_plan(fleet, prune, via)
        if not plan.has_changes:
            if as_json:
                console.print_json(fleet_apply_json(plan, None))
            else:
                for line in fleet_plan_text(plan):
                    console.out.print(line)
            if plan.failed:
                raise ApplyFailed(
                    f"{len(plan.failed)} account(s) × Region(s) could not be planned",
                    failures=[(g.placement.label, g.error or "") for g in plan.failed],
                )
            return 0
        if not as_json:
            for line in fleet_plan_text(plan, limit=50):
                console.err.print(line)
        in_use = [c for g in plan.groups if g.plan for c in g.plan.in_use]
        if in_use and not force:
            used = ", ".join(f"{c.name} ({c.recent_calls:,} calls)" for c in in_use)
            raise UsageError(
                f"{len(in_use)} AIP(s) to delete or replace were called in the last 7 days: {used}; nothing changed",
                hint="re-wire their callers first (`aipctl wire`), or pass --force to change them anyway",
            )
        accounts = sorted({f"{g.placement.account_id or g.target.get('account', '')}" for g in plan.groups if g.plan})
        regions = sorted({g.placement.region for g in plan.groups if g.plan})
        confirm(yes, {**project.describe(), "accounts": ", ".join(accounts), "regions": ", ".join(regions)})
        with console.progress_bar("applying accounts × Regions", total=len(plan.groups)) as bar:
            result = fleet.apply(plan, concurrency=concurrency, activate_cost_tags=not skip_cost_tags, progress=bar)
    if as_json:
        console.print_json(fleet_apply_json(plan, result))
    else:
        for line in fleet_apply_text(result):
            console.out.print(line)
    failures = result.failed_names()
    if failures:
        raise ApplyFailed(f"{len(failures)} change(s) or account(s) × Region(s) failed", failures=failures)
    return 130 if result.interrupted else 0


@click.command("list")
@optional_file_option("Inventory whose region to list.")
@json_option
@click.option("--all", "show_all", is_flag=True, help="Include AIPs that aipctl does not manage.")
@pass_options
def list_cmd(opts: GlobalOptions, inventory_file: str | None, as_json: bool, show_all: bool) -> None:
    """List application inference profiles with their caller, model source, ARN and tags."""
    from aipctl.cli.render import profile_row, profiles_table
    from aipctl.inventory import rules

    loaded = load_optional_inventory(inventory_file)
    rows: list[dict[str, Any]] = []
    with open_project(opts, loaded) as project:
        if loaded is not None and loaded.is_fleet:
            failed = 0
            for placement, _shown, found, error in project.fleet().live():
                if found is None:
                    console.warn(f"{placement.label}: {error}")
                    failed += 1
                    continue
                for warning in found.warnings:
                    console.warn(f"{placement.label}: {warning}")
                where = {"account": placement.account, "account_id": placement.account_id, "region": placement.region}
                rows += [profile_row(p) | where for p in found.profiles if show_all or rules.TAG_MANAGED in p.tags]
        else:
            live = project.live()
            for warning in live.warnings:
                console.warn(warning)
            here = {"account": project.target.account, "account_id": project.target.account, "region": project.target.region}
            rows = [profile_row(p) | here for p in live.profiles if show_all or rules.TAG_MANAGED in p.tags]
            failed = 0
    if as_json:
        console.print_json(rows)
        return
    console.out.print(profiles_table(rows, placed=loaded is not None and loaded.is_fleet))
    console.note(f"{len(rows)} AIP(s)")
    if failed:
        raise TargetError(f"{failed} account(s) × Region(s) could not be listed (see the warnings above)")


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
    from aipctl.cli.demo import run_demo

    if opts.target != "sim":
        raise UsageError("the demo runs on the embedded emulator only (drop --target aws)")
    run_demo(Path(directory), seed)
