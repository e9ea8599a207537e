"""aipctl meter: the per-invocation ledger (model invocation logs -> DuckDB)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from aipctl.cli import console
from aipctl.cli.commands.core import json_option, optional_file_option, pass_options
from aipctl.cli.main import GlobalOptions
from aipctl.inventory import DEFAULT_INVENTORY, load_inventory
from aipctl.meter import DEFAULT_LEDGER
from aipctl.timeparse import parse_duration

ledger_option = click.option(
    "--ledger", default=DEFAULT_LEDGER, show_default=True, type=click.Path(dir_okay=False), help="The DuckDB ledger file."
)


@click.group("meter")
def meter_group() -> None:
    """Per-invocation metering from model invocation logs (DuckDB)."""


@meter_group.command("ingest")
@click.argument("source")
@optional_file_option("Inventory (its identities attribute calls made without an AIP).")
@ledger_option
@json_option
@pass_options
def ingest_cmd(opts: GlobalOptions, source: str, inventory_file: str | None, ledger: str, as_json: bool) -> None:
    """Ingest invocation logs from a local folder or s3://bucket/prefix (incremental, idempotent)."""
    from aipctl.meter import ingest, open_ledger
    from aipctl.plan.reconcile import read_live_state

    loaded = load_inventory(inventory_file or DEFAULT_INVENTORY) if inventory_file or Path(DEFAULT_INVENTORY).exists() else None
    con = open_ledger(ledger)
    with opts.open(loaded.inventory.region if loaded else None) as target:
        console.announce(target)
        profiles = read_live_state(target, []).profiles
        with console.progress_bar("ingesting") as bar:
            result = ingest(
                con,
                source,
                loaded=loaded,
                profiles=profiles,
                target=target,
                on_file=lambda done, total: bar.update("ingesting", done, total),
            )
    data = {
        "files": result.files,
        "skipped_files": result.skipped_files,
        "new_records": result.new_records,
        "ledger_records": result.records,
        "ledger": ledger,
    }
    if as_json:
        console.print_json(data)
    else:
        console.out.print(
            f"ingested {result.files} file(s) ({result.skipped_files} already in the ledger): "
            f"{result.new_records:,} new records, {result.records:,} in {ledger}"
        )


@meter_group.command("query")
@click.option("--by", default="caller", show_default=True, type=click.Choice(["caller", "day", "hour", "model"]))
@click.option("--since", default=None, help="Only invocations newer than this (e.g. 3d).")
@ledger_option
@json_option
def query_cmd(by: str, since: str | None, ledger: str, as_json: bool) -> None:
    """Calls, tokens and cost per caller (× day, hour or model) from the ledger."""
    from aipctl.meter import open_ledger, query

    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=parse_duration(since)) if since else None
    rows = query(open_ledger(ledger), by, cutoff)
    if as_json:
        console.print_json(rows)
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for column in rows[0] if rows else ["caller", "calls", "cost_usd"]:
        table.add_column(column, justify="left" if column in ("caller", "day", "hour", "model") else "right")
    for row in rows:
        table.add_row(
            *(f"{v:,.6f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v) for v in row.values())
        )
    console.out.print(table)
