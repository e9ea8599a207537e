"""aipctl iam / brake / release / guard: anti-bypass IAM, the emergency brake, the budget watch."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, cast

import click

from aipctl._exceptions import AlertUndelivered, PartialBrake, UsageError
from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import file_option, json_option, open_project, optional_file_option, pass_options
from aipctl.guard.brake import BrakeResult
from aipctl.inventory import DEFAULT_INVENTORY, load_inventory
from aipctl.timeparse import parse_duration

if TYPE_CHECKING:
    from aipctl.guard.watch import SourceName, WatchPass


@click.group("iam")
def iam_group() -> None:
    """IAM for callers (anti-bypass policies) and for aipctl itself (least privilege)."""


@iam_group.command("render")
@file_option
@click.option("--caller", "only", multiple=True, help="Only these callers (repeatable).")
@click.option("--attach", is_flag=True, help="Put each policy inline on the caller's roles/users (aipctl-aip-only-<caller>).")
@click.option("--detach", is_flag=True, help="Remove those inline policies again.")
@click.option("--yes", "-y", is_flag=True, help="Confirm --attach/--detach (they change what callers may do).")
@click.option(
    "--trust",
    is_flag=True,
    help="Instead: the trust policy each caller with tenants needs on its role (AssumeRole, TagSession limited to its keys).",
)
@click.option(
    "--scp",
    is_flag=True,
    help="Instead: a service control policy for the organisation (covers roles and users created later).",
)
@click.option(
    "--exempt",
    multiple=True,
    metavar="ARN",
    help="With --scp: principals the SCP spares (aipctl's operator role, break-glass admins; wildcards allowed).",
)
@click.option(
    "--principal",
    "principals",
    multiple=True,
    metavar="ARN",
    help="With --trust: who runs the gateway and calls session_for (repeatable; default the account, i.e. its IAM policies).",
)
@json_option
@pass_options
def iam_render_cmd(
    opts: GlobalOptions,
    inventory_file: str,
    only: tuple[str, ...],
    attach: bool,
    detach: bool,
    yes: bool,
    trust: bool,
    scp: bool,
    exempt: tuple[str, ...],
    principals: tuple[str, ...],
    as_json: bool,
) -> None:
    """Per caller, an identity policy allowing only its own AIPs and denying direct model calls.

    With --trust: per caller with tenants, the trust policy of the role its tenants' sessions assume.
    """
    from aipctl.guard.iam import aip_only_name

    if scp:
        from aipctl.guard.iam import scp_policy

        for arn in exempt:
            if not arn.startswith("arn:"):
                raise UsageError(f"--exempt {arn!r} is not a principal ARN (arn:aws:iam::ACCOUNT:role/NAME)")
        document = scp_policy(list(exempt))
        if as_json:
            console.print_json(document)
        else:
            console.out.print("# service control policy: attach it to the OU or accounts of the callers (AWS Organizations)")
            if not exempt:
                console.warn("no --exempt principal: aipctl's own role could not retag AIPs (the brake) under this SCP")
            console.out.print(json.dumps(document, indent=2), highlight=False)
        return
    if exempt:
        raise UsageError("--exempt goes with --scp")
    if trust:
        _render_trust(opts, inventory_file, only, principals, as_json)
        return
    if principals:
        raise UsageError("--principal goes with --trust")
    if attach and detach:
        raise UsageError("--attach and --detach exclude each other")
    if (attach or detach) and not yes:
        raise UsageError("--attach/--detach change what callers may invoke; pass --yes to confirm")
    with open_project(opts, load_inventory(inventory_file)) as project:
        info = project.describe()
        documents = project.anti_bypass_policies(only)
        attached = project.attach_anti_bypass(documents, detach=detach) if attach or detach else {}
    if as_json:
        console.print_json(documents if not (attach or detach) else {"policies": documents, "principals": attached})
        return
    if attach or detach:
        verb = "attached to" if attach else "removed from"
        for caller, arns in attached.items():
            console.out.print(f"{aip_only_name(caller)} {verb} {', '.join(arns)}")
        console.note(f"on {info.get('account')} {info.get('region')}")
        return
    for caller, document in documents.items():
        console.out.print(f"# {caller}: {aip_only_name(caller)}")
        console.out.print(json.dumps(document, indent=2), highlight=False)


def _render_trust(
    opts: GlobalOptions, inventory_file: str, only: tuple[str, ...], principals: tuple[str, ...], as_json: bool
) -> None:
    from aipctl.guard.iam import trust_policy

    loaded = load_inventory(inventory_file)
    unknown = sorted(set(only) - set(loaded.inventory.callers))
    if unknown:
        raise UsageError(f"--caller {', '.join(unknown)}: not a caller of the inventory")
    callers = [n for n, c in loaded.inventory.callers.items() if c.tenants and (not only or n in only)]
    if not callers:
        raise UsageError("no caller with tenants: a trust policy with session tags is only needed for tenants")
    for arn in principals:
        if not arn.startswith("arn:") or ":iam::" not in arn:
            raise UsageError(f"--principal {arn!r} is not an IAM principal ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    with open_project(opts, loaded) as project:
        account = project.target.account
    who = list(principals) or [f"arn:aws:iam::{account}:root"]
    documents = {caller: trust_policy(loaded, caller, who) for caller in callers}
    if as_json:
        console.print_json(documents)
        return
    for caller, document in documents.items():
        console.out.print(f"# {caller}: trust policy of its tenants' role (aws iam update-assume-role-policy)")
        console.out.print(json.dumps(document, indent=2), highlight=False)


@iam_group.command("policy")
@click.argument("command", required=False)
@optional_file_option("Inventory whose callers' principals the IAM writes are limited to (default aipctl.yaml, if there).")
@json_option
def iam_policy_cmd(command: str | None, inventory_file: str | None, as_json: bool) -> None:
    """The least-privilege IAM policy aipctl itself needs, for one command or all of them.

    No statement grants an IAM write on "*": `apply` (principal tags) and `iam render` (the anti-bypass
    policy) write IAM only on the inventory's principals; the brake and `guard watch` write no IAM at all.
    """
    from pathlib import Path

    from aipctl.guard.selfpolicy import COMMAND_CALLS, FLEET_COMMANDS, needs_inventory, policy_for

    if command is not None and command not in COMMAND_CALLS:
        raise UsageError(f"unknown command {command!r} (known: {', '.join(sorted(COMMAND_CALLS))})")
    names = [command] if command else sorted(COMMAND_CALLS)
    path = inventory_file or (DEFAULT_INVENTORY if Path(DEFAULT_INVENTORY).exists() else None)
    wanted = any(needs_inventory(n) or n in FLEET_COMMANDS for n in names)  # IAM writes, or roles in accounts:
    loaded = load_inventory(path) if path and wanted else None
    documents = {name: policy_for(name, loaded) for name in names}
    if as_json:
        console.print_json(documents[command] if command else documents)
        return
    for name, document in documents.items():
        console.out.print(f"# aipctl {name}")
        console.out.print(json.dumps(document, indent=2), highlight=False)


def _print_pass(result: WatchPass, count: int) -> None:
    from rich.table import Table

    table = Table(header_style="bold", title=f"guard pass {count} at {result.at[:19]}Z, spend from {result.source}")
    for column in ("caller", "month to date", "budget", "used", "state"):
        table.add_column(column, justify="left" if column in ("caller", "state") else "right")
    for row in result.callers:
        table.add_row(
            row.caller,
            f"${row.spent_usd:,.4f}",
            f"${row.budget_usd:,.2f}" if row.budget_usd else "–",
            f"{row.percent:.1f}%" if row.budget_usd and row.percent is not None else "–",
            "[red]braked[/red]" if row.braked else (f"released until {row.released_until}" if row.released_until else ""),
        )
    console.out.print(table)
    for event in result.events:
        console.out.print(f"{event.caller}: {event.kind}: {event.message}")


def _brake_common(
    opts: GlobalOptions,
    inventory_file: str,
    caller: str,
    action: str,
    reason: str,
    as_json: bool,
    tenant: str | None = None,
    until: str | None = None,
) -> None:
    with open_project(opts, load_inventory(inventory_file)) as project:
        if action == "brake":
            result = project.brake(caller, reason, tenant=tenant)
        else:
            result = project.release(caller, tenant=tenant, until=_until(until, project.now()) if until else None)
    if as_json:
        console.print_json(result.to_dict())
    elif tenant is not None:
        console.out.print(f"{caller}: tenant {tenant} {result.action} (aipctl:braked-tenants on {len(result.aips)} AIP(s))")
    else:
        _say(result, caller, action)
        if result.placements:
            console.note(f"{caller}: {action} in {len(result.placements)} account(s) × Region(s): {', '.join(result.placements)}")
    if result.failed:
        raise PartialBrake(
            f"{caller}: {action} did not go through in {len(result.failed)} account(s) × Region(s): {'; '.join(result.failed)}"
            + (f" (done in {', '.join(result.placements)})" if result.placements else ""),
            hint="fix the access named above and run the same command again (it is idempotent)",
        )
    if action == "brake" and result.uncovered:
        raise PartialBrake(
            f"{caller}: the brake is recorded on its AIPs, but IAM denies nothing yet for {', '.join(result.uncovered)}: "
            "the deny is a statement of the anti-bypass policy, which is not attached there "
            "(callers wired with aipctl.attach stop in-process anyway)",
            hint=f"have someone with IAM rights run `aipctl iam render --caller {caller} --attach --yes` once",
        )


def _say(result: BrakeResult, caller: str, action: str) -> None:
    if result.action == "unchanged":
        state = "already braked" if action == "brake" else "not braked"
        console.out.print(f"{caller}: {state} (nothing changed)")
    elif action == "brake":
        console.out.print(
            f"{caller}: braked — {len(result.aips)} AIP(s) tagged aipctl:brake; denied on every path for "
            f"{', '.join(result.principals) or 'no principal yet'}"
        )
    else:
        console.out.print(f"{caller}: released — aipctl:brake removed from {len(result.aips)} AIP(s)")
        if result.until:
            console.out.print(f"{caller}: guard watch will not brake it again before {result.until} (`aipctl brake` still does)")
    for arn in result.legacy:
        console.warn(
            f"{arn} still has the inline brake policy of an earlier aipctl: `aipctl iam render --attach --yes` removes it"
        )


tenant_option = click.option(
    "--tenant", default=None, help="Only this tenant of CALLER (its session tag); the other tenants keep working."
)


@click.command("brake")
@click.argument("caller")
@file_option
@click.option("--reason", default="manual brake", show_default=True, help="Recorded with the brake (tag aipctl:brake).")
@tenant_option
@json_option
@pass_options
def brake_cmd(opts: GlobalOptions, caller: str, inventory_file: str, reason: str, tenant: str | None, as_json: bool) -> None:
    """Emergency brake: tag CALLER's AIPs aipctl:brake, which its anti-bypass policy denies on every path.

    Needs no IAM write: the deny is part of the policy `aipctl iam render --attach` put on the caller's
    roles once. Exits 1 when some of its principals lack that policy (and says which).
    """
    _brake_common(opts, inventory_file, caller, "brake", reason, as_json, tenant)


#: The longest release by hand: a snooze must end (the budget period is a month).
MAX_SNOOZE = dt.timedelta(days=31)


def _until(text: str, now: dt.datetime) -> dt.datetime:
    """``--until``: a duration from now (``8h``, ``2d``) or a UTC time (``2026-12-24T18:00:00Z``, ``2026-12-24``)."""
    try:
        when = now + dt.timedelta(seconds=parse_duration(text))
    except UsageError:
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(
                f"{text!r} is neither a duration (8h, 2d) nor a time (2026-12-24T18:00:00Z)", param_hint="--until"
            ) from None
        when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    if when <= now:
        raise click.BadParameter(f"{when.isoformat()} is not in the future (now: {now.isoformat()})", param_hint="--until")
    if when - now > MAX_SNOOZE:
        raise click.BadParameter(f"at most {MAX_SNOOZE.days} days ahead: a release by hand must end", param_hint="--until")
    return when


@click.command("release")
@click.argument("caller")
@file_option
@tenant_option
@click.option(
    "--until",
    default=None,
    help="Keep guard watch from braking CALLER again before this time: a duration (8h, 2d) or a UTC time.",
)
@json_option
@pass_options
def release_cmd(
    opts: GlobalOptions, caller: str, inventory_file: str, tenant: str | None, until: str | None, as_json: bool
) -> None:
    """Release CALLER's emergency brake (or that of one of its tenants).

    Without --until, the next `guard watch` pass brakes it again while it is over brake_at."""
    _brake_common(opts, inventory_file, caller, "release", "", as_json, tenant, until)


@click.group("guard")
def guard_group() -> None:
    """Budget guard: month-to-date spend per caller, alerts, brake and release."""


@guard_group.command("test-alert")
@file_option
@click.option("--message", default="a test alert from aipctl: this target receives budget alerts and brakes", show_default=True)
@json_option
@pass_options
def test_alert_cmd(opts: GlobalOptions, inventory_file: str, message: str, as_json: bool) -> None:
    """Send one test alert to every target of the inventory's `alerts:` (SNS topic, webhooks); exit 1 if one failed."""
    from aipctl.guard.notify import deliver

    loaded = load_inventory(inventory_file)
    alerts = loaded.inventory.alerts
    if alerts is None or not (alerts.sns_topic_arn or alerts.webhooks):
        raise UsageError(f"{loaded.path} names no alert target", hint="add alerts: {sns_topic_arn: …} and/or webhooks")
    with open_project(opts, loaded) as project:
        results = deliver(project.target, alerts, "aipctl test alert", message, kind="test")
    if as_json:
        console.print_json([d.to_dict() for d in results])
    else:
        for delivery in results:
            state = "[green]delivered[/green]" if delivery.ok else "[red]not delivered[/red]"
            console.out.print(f"{delivery.target}: {state} {delivery.detail}".rstrip())
    if not all(d.ok for d in results):
        raise AlertUndelivered(f"{sum(not d.ok for d in results)} of {len(results)} alert target(s) did not take the test alert")


@guard_group.command("watch")
@file_option
@click.option("--once", is_flag=True, help="One pass, then exit (for cron or a scheduled Lambda).")
@click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(0.05, 86400), help="Seconds between passes.")
@click.option(
    "--source",
    type=click.Choice(["auto", "ledger", "cloudwatch", "cost-explorer"]),
    default="auto",
    show_default=True,
    help="Where month-to-date spend comes from (auto: the ledger if present, else CloudWatch, else Cost Explorer).",
)
@click.option("--ledger", default=None, type=click.Path(dir_okay=False), help="Ledger file (default .aipctl/ledger.duckdb).")
@click.option("--ingest", "ingest_from", default=None, help="Ingest this log source into the ledger before each pass.")
@click.option("--dry-run", is_flag=True, help="Report what would be braked or released; change nothing.")
@click.option(
    "--state-file",
    default=".aipctl/guard-state.json",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Which alerts went out this month (keep it on durable storage when run from cron or Lambda).",
)
@click.option("--passes", default=0, type=click.IntRange(0), help="Stop after N passes (0: run until interrupted).")
@json_option
@pass_options
def guard_watch_cmd(
    opts: GlobalOptions,
    inventory_file: str,
    once: bool,
    interval: float,
    source: str,
    ledger: str | None,
    ingest_from: str | None,
    dry_run: bool,
    state_file: str,
    passes: int,
    as_json: bool,
) -> None:
    """Compute month-to-date spend per caller, alert at thresholds, brake at brake_at, release next month."""
    import time

    with open_project(opts, load_inventory(inventory_file)) as project:
        watch = project.watch(
            source=cast("SourceName", source),
            ledger=ledger,
            ingest_from=ingest_from,
            dry_run=dry_run,
            state_file=state_file,
        )
        count = 0
        try:
            while True:
                result = watch.run_once()
                count += 1
                if as_json:
                    console.print_json(result.to_dict())
                else:
                    _print_pass(result, count)
                sys.stdout.flush()
                if once or (passes and count >= passes):
                    return
                time.sleep(interval)
        except KeyboardInterrupt:
            return
