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
@click.option("--since", default="7d", show_default=True, help="How far back to look (CloudTrail keeps 90d).")
@click.option(
    "--write",
    "write_to",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write the draft inventory here; an existing inventory gets the new identities appended (nothing else changes).",
)
@click.option("--force", is_flag=True, help="With --write: replace an existing file instead of merging into it.")
@click.option("--name", default="discovered", show_default=True, help="The draft inventory's name.")
@click.option(
    "--source",
    type=click.Choice(["auto", "ledger", "cloudtrail"]),
    default="auto",
    show_default=True,
    help="auto: the ledger when it holds the window (fast; tokens and cost), else CloudTrail (2 requests/s).",
)
@click.option(
    "--ledger",
    default=None,
    type=click.Path(dir_okay=False),
    help="The metering ledger (default: .aipctl/ledger.duckdb when it exists): a source, and prices for CloudTrail.",
)
@json_option
@pass_options
def discover_cmd(
    opts: GlobalOptions,
    since: str,
    write_to: str | None,
    force: bool,
    name: str,
    source: str,
    ledger: str | None,
    as_json: bool,
) -> None:
    """Find every IAM role and user that calls Bedrock (invocation logs and CUR in the ledger, or CloudTrail with
    bedrock-mantle's data events), group them into candidate callers, and draft an inventory that `aipctl plan`
    accepts (owner and environment are placeholders to edit) — or append the new ones to an existing inventory."""
    from aipctl.discover import draft_inventory, merge_draft
    from aipctl.inventory import parse_inventory
    from aipctl.inventory import rules as inventory_rules
    from aipctl.meter import DEFAULT_LEDGER

    window = dt.timedelta(seconds=parse_duration(since))
    if window > dt.timedelta(days=90) and source != "ledger":
        raise click.BadParameter(
            "CloudTrail's event history keeps 90 days (the ledger keeps more: --source ledger)", param_hint="--since"
        )
    if problem := inventory_rules.check_identifier(name, "inventory name"):
        raise click.BadParameter(problem, param_hint="--name")
    if ledger is not None and not Path(ledger).is_file():
        raise click.BadParameter(f"no ledger at {ledger} (create one with `aipctl meter ingest`)", param_hint="--ledger")
    ledger = ledger or (DEFAULT_LEDGER if Path(DEFAULT_LEDGER).is_file() else None)
    if source == "ledger" and not ledger:
        raise UsageError("--source ledger needs a ledger", hint="create one with `aipctl meter ingest`, or pass --ledger")
    existing = Path(write_to).read_text(encoding="utf-8") if write_to and Path(write_to).is_file() and not force else None
    if existing is not None:
        parse_inventory(existing, str(write_to))  # a file that is not an inventory: its errors, before any reading
    with open_project(opts, None) as project, console.progress_bar("discovering") as bar:
        end = project.now()
        if source == "cloudtrail" or not ledger:
            console.note(
                f"reading Bedrock calls of the last {since} from CloudTrail LookupEvents at 2 requests/s "
                "(a ledger of invocation logs is faster: `aipctl meter ingest`, then --ledger)"
            )
        found = project.discover(window, now=end, source=source, ledger=ledger, progress=bar)
        region, account = project.target.region, project.target.account
    identities = found.identities
    read = f"{found.requests} LookupEvents request(s)" if found.requests else f"{found.records:,} ledger record(s)"
    if found.mantle_visible is False:
        console.warn("bedrock-mantle's calls are not visible: no logging trail records its data events (docs/guards.md)")
    if not any(i.models for i in identities):  # nothing to draft: an inventory needs a model
        if as_json:
            console.print_json([i.to_dict() for i in identities])
        else:
            console.note(f"no Bedrock call in the last {since} ({region}, {', '.join(found.sources)}); nothing to draft")
        return
    added: list[str] = []
    if existing is not None and write_to:
        text, added = merge_draft(existing, write_to, identities, region, account)
    else:
        text = draft_inventory(identities, region, account, name)
        parse_inventory(text, write_to or "discovered.yaml")  # the draft must be an inventory as it is
    if write_to and (existing is None or added):
        Path(write_to).write_text(text, encoding="utf-8")
    if as_json:
        console.note(f"{(end - window).isoformat()} to {end.isoformat()}: {', '.join(found.sources)}, {read}")
        console.print_json([i.to_dict() for i in identities])
    else:
        for identity in identities:
            share = f"{identity.via_aip / identity.calls:.0%} through AIPs" if identity.calls else "billed only"
            cost = f", ${identity.cost_usd:,.2f}" if identity.cost_usd is not None else ""
            console.out.print(
                f"{identity.caller_name():<24} {identity.arn} ({identity.runs_as})  {identity.calls:,} calls{cost}, "
                f"{share}, models: {', '.join(identity.models) or '-'}",
                highlight=False,
            )
        console.note(
            f"{len(identities)} identit{'y' if len(identities) == 1 else 'ies'} from {', '.join(found.sources)} ({read})"
        )
        if not write_to:
            print(text, end="")
    if write_to and existing is not None:
        if added:
            console.note(f"appended {len(added)} caller(s) to {write_to}: {', '.join(added)} — edit owner and environment")
        else:
            console.note(f"{write_to} already names every identity found; nothing changed")
    elif write_to:
        console.note(f"wrote {write_to}: edit owner and environment, then `aipctl plan -f {write_to}`")
