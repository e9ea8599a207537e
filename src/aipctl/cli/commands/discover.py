"""aipctl discover: which identities call Bedrock in this account and Region, and a draft inventory (Phase 1)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from aipctl._exceptions import UsageError
from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import json_option, open_project, pass_options
from aipctl.timeparse import parse_duration


@click.command("discover")
@click.option("--since", default="7d", show_default=True, help="How far back to read CloudTrail (at most 90d).")
@click.option("--write", "write_to", default=None, type=click.Path(dir_okay=False), help="Write the draft inventory here.")
@click.option("--force", is_flag=True, help="With --write: replace an existing file.")
@click.option("--name", default="discovered", show_default=True, help="The draft inventory's name.")
@click.option(
    "--ledger",
    default=None,
    type=click.Path(dir_okay=False),
    help="Price each identity from this metering ledger (default: .aipctl/ledger.duckdb when it exists).",
)
@json_option
@pass_options
def discover_cmd(
    opts: GlobalOptions, since: str, write_to: str | None, force: bool, name: str, ledger: str | None, as_json: bool
) -> None:
    """Find every IAM role and user that calls bedrock-runtime (CloudTrail), group them into candidate callers,
    and draft an inventory that `aipctl plan` accepts (owner and environment are placeholders to edit)."""
    from aipctl.discover import draft_inventory
    from aipctl.inventory import parse_inventory
    from aipctl.inventory import rules as inventory_rules

    window = dt.timedelta(seconds=parse_duration(since))
    if window > dt.timedelta(days=90):
        raise click.BadParameter("CloudTrail's event history keeps 90 days", param_hint="--since")
    if problem := inventory_rules.check_identifier(name, "inventory name"):
        raise click.BadParameter(problem, param_hint="--name")
    from aipctl.meter import DEFAULT_LEDGER

    if ledger is not None and not Path(ledger).is_file():
        raise click.BadParameter(f"no ledger at {ledger} (create one with `aipctl meter ingest`)", param_hint="--ledger")
    ledger = ledger or (DEFAULT_LEDGER if Path(DEFAULT_LEDGER).is_file() else None)
    if write_to and Path(write_to).exists() and not force:
        raise UsageError(f"{write_to} exists", hint="pass --force to replace it, or --write another file")
    with open_project(opts, None) as project, console.progress_bar("reading CloudTrail") as bar:
        console.note(f"reading bedrock-runtime calls of the last {since} from CloudTrail LookupEvents (2 requests/s)")
        end = project.now()
        found, requests = project.discover(window, now=end, progress=bar)
        region, account = project.target.region, project.target.account
    period = {"start": (end - window).isoformat(), "end": end.isoformat()}
    if ledger and found:
        from aipctl.discover import ledger_costs

        costs = ledger_costs(ledger, end - window, end)
        for identity in found:
            identity.cost_usd = costs.get(identity.arn, 0.0)
    if not found:  # nothing to draft: an inventory needs a model
        if as_json:
            console.print_json([])
        else:
            console.note(f"no bedrock-runtime call in CloudTrail in the last {since} ({region}); nothing to draft")
        return
    draft = draft_inventory(found, region, account, name)
    parse_inventory(draft, write_to or "discovered.yaml")  # the draft must be an inventory as it is
    if write_to:
        Path(write_to).write_text(draft, encoding="utf-8")
    if as_json:
        console.note(f"{period['start']} to {period['end']}: {requests} LookupEvents request(s)")
        console.print_json([i.to_dict() for i in found])
        if write_to:
            console.note(f"wrote {write_to}: edit owner and environment, then `aipctl plan -f {write_to}`")
        return
    for identity in found:
        console.out.print(
            f"{identity.caller_name():<24} {identity.arn}  {identity.calls:,} calls, "
            f"{identity.via_aip / identity.calls:.0%} through AIPs, models: {', '.join(identity.models)}",
            highlight=False,
        )
    console.note(f"{len(found)} identit{'y' if len(found) == 1 else 'ies'} from {requests} LookupEvents request(s)")
    if write_to:
        console.note(f"wrote {write_to}: edit owner and environment, then `aipctl plan -f {write_to}`")
    else:
        print(draft, end="")
