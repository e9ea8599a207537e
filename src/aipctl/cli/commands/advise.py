"""aipctl advise: where to save (runbook Phase 5), from what the callers' AIPs did."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import file_option, json_option, open_project, pass_options
from aipctl.inventory import load_inventory
from aipctl.pricing import usd_text
from aipctl.timeparse import parse_duration


@click.command("advise")
@file_option
@click.option("--since", default="30d", show_default=True, help="The window the advice rests on (at least 1d).")
@click.option(
    "--markdown",
    "markdown_out",
    type=click.Path(dir_okay=False),
    help="Write (or update) the recommendations as a marked block in this markdown file, e.g. the caller inventory.",
)
@click.option("--coverage", "with_coverage", is_flag=True, help="Also read CloudTrail for bypassers to wire (2 requests/s).")
@click.option(
    "--ledger",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also advise per tenant from this metering ledger (its invocation records of the callers' tenants).",
)
@json_option
@pass_options
def advise_cmd(
    opts: GlobalOptions,
    inventory_file: str,
    since: str,
    markdown_out: str | None,
    with_coverage: bool,
    ledger: str | None,
    as_json: bool,
) -> None:
    """Where to save: idle AIPs, cheaper models, cheaper routes, prompt caching, batch or flex for night work, and
    callers near their budget, each with its evidence, confidence and monthly saving."""
    window = dt.timedelta(seconds=parse_duration(since))
    if window < dt.timedelta(days=1):
        raise click.BadParameter("advice needs at least a day of data", param_hint="--since")
    if ledger is not None and not Path(ledger).is_file():
        raise click.BadParameter(f"no ledger at {ledger} (create one with `aipctl meter ingest`)", param_hint="--ledger")
    if markdown_out and not Path(markdown_out).resolve().parent.is_dir():  # refused before anything is read
        raise click.BadParameter(f"the directory of {markdown_out} does not exist", param_hint="--markdown")
    with open_project(opts, load_inventory(inventory_file)) as project:
        now = project.now()
        coverage = None
        if with_coverage:
            with console.progress_bar("reading CloudTrail (2 requests/s)") as bar:
                coverage = project.verify(window, now=now, progress=bar)
        found = project.advise(window, now=now, coverage=coverage, ledger=ledger)
    if markdown_out:
        from aipctl.advise import BEGIN, END, markdown_block
        from aipctl.report.render import replace_block

        path = Path(markdown_out)
        changed = replace_block(path, BEGIN, END, markdown_block(found, since))
        console.note(f"{'updated' if changed else 'unchanged'}: {markdown_out}")
    if as_json:
        console.print_json([a.to_dict() for a in found])
        return
    if not found:
        console.note(f"nothing to advise from the last {since}")
        return
    for item in found:
        saving = f"{usd_text(item.monthly_saving_usd)}/month" if item.monthly_saving_usd else "no cost"
        console.out.print(f"{item.kind:<11} {item.subject}  {saving}  ({item.confidence}): {item.detail}", highlight=False)
