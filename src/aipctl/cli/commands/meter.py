"""aipctl meter: the per-invocation ledger (model invocation logs -> DuckDB; Athena beyond one machine)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from aipctl._exceptions import UsageError
from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import json_option, load_optional_inventory, open_project, optional_file_option, pass_options
from aipctl.meter import DEFAULT_LEDGER
from aipctl.timeparse import parse_duration

ledger_option = click.option(
    "--ledger", default=DEFAULT_LEDGER, show_default=True, type=click.Path(dir_okay=False), help="The DuckDB ledger file."
)
BY = click.option("--by", default="caller", show_default=True, type=click.Choice(["caller", "day", "hour", "model"]))


@click.group("meter")
def meter_group() -> None:
    """Per-invocation metering from model invocation logs (DuckDB; Athena for more than one machine holds)."""


@meter_group.command("ingest")
@click.argument("source", required=False)
@click.option(
    "--from-logging",
    is_flag=True,
    help="Read where the inventory's `logging:` sends the logs (every account × Region of an organization inventory).",
)
@optional_file_option("Inventory (its identities attribute calls made without an AIP).")
@click.option(
    "--cloudtrail-since",
    default=None,
    metavar="DURATION",
    help="Fill the identity of records that lack one from CloudTrail (runtime calls of the last DURATION, e.g. 1d).",
)
@ledger_option
@json_option
@pass_options
def ingest_cmd(
    opts: GlobalOptions,
    source: str | None,
    from_logging: bool,
    inventory_file: str | None,
    cloudtrail_since: str | None,
    ledger: str,
    as_json: bool,
) -> None:
    """Ingest invocation logs or CUR 2.0: a local folder, s3://bucket/prefix or logs://LOG_GROUP (incremental, idempotent).

    Parquet files under a CUR 2.0 export's data/BILLING_PERIOD=YYYY-MM/ folders are the bill of record: a
    period's newest revision replaces the one the ledger had (never added twice)."""
    from aipctl.meter import open_ledger
    from aipctl.meter.ledger import batch_bytes

    if (source is None) == (not from_logging):
        raise click.UsageError("give a SOURCE (folder, s3://…, logs://…) or --from-logging, not both")
    loaded = load_optional_inventory(inventory_file)
    if from_logging and loaded is None:
        raise UsageError("--from-logging reads the inventory's `logging:` block: no inventory found", hint="pass -f FILE")
    since = dt.timedelta(seconds=parse_duration(cloudtrail_since)) if cloudtrail_since else None
    batch_bytes()  # a bad AIPCTL_METER_BATCH_MB fails before anything is opened
    if source is not None and not source.startswith(("s3://", "logs://")) and not Path(source).exists():
        raise UsageError(f"no such folder or file {source!r}")
    if from_logging and since is not None:
        raise click.UsageError("--cloudtrail-since reads one account's CloudTrail: give a SOURCE with it")
    open_ledger(ledger).close()  # an unusable ledger fails before the target is opened
    with open_project(opts, loaded) as project, console.progress_bar("ingesting") as bar:
        if source is None:
            result = project.ingest_logging(ledger, progress=bar)
        else:
            result = project.ingest(source, ledger, trail_since=since, progress=bar)
    data = {
        "files": result.files,
        "skipped_files": result.skipped_files,
        "read_records": result.read_records,
        "new_records": result.new_records,
        "replaced_records": result.replaced_records,
        "ledger_records": result.records,
        "ledger": ledger,
        "cur": result.cur.to_dict() if result.cur else None,
    }
    if as_json:
        console.print_json(data)
        return
    if result.files or not result.cur:
        console.out.print(
            f"ingested {result.files} file(s) ({result.skipped_files} already in the ledger): "
            f"{result.new_records:,} new records"
            + (f", {result.replaced_records:,} replaced (changed files)" if result.replaced_records else "")
            + f", {result.records:,} in {ledger}"
        )
    if result.cur:
        cur = result.cur
        console.out.print(
            f"CUR 2.0: {cur.periods} billing period(s) at a new revision ({cur.files} file(s), {cur.lines:,} lines, "
            f"{cur.replaced_lines:,} lines of earlier revisions replaced), {cur.unchanged} unchanged"
        )


@meter_group.command("follow")
@click.argument("source")
@optional_file_option("Inventory (its identities attribute calls made without an AIP).")
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600), help="Seconds between polls.")
@click.option("--max-polls", default=None, type=click.IntRange(1), help="Stop after this many polls (default: until Ctrl-C).")
@ledger_option
@json_option
@pass_options
def follow_cmd(
    opts: GlobalOptions,
    source: str,
    inventory_file: str | None,
    interval: float,
    max_polls: int | None,
    ledger: str,
    as_json: bool,
) -> None:
    """Keep ingesting SOURCE as logs arrive: the ledger stays at most one poll behind delivery.

    Each poll is an incremental `meter ingest` (new S3 objects, new log events by stream cursor, grown
    files); it prints a line when records arrived (`--json`: one JSON object per poll that found any).
    Ctrl-C stops it after the poll in progress. Against the emulator, run `aipctl sim serve` (an
    embedded emulator is one process's); `guard watch --ingest SOURCE` is the same plus the brake."""
    import time

    from aipctl.meter import open_ledger
    from aipctl.meter.ledger import batch_bytes

    loaded = load_optional_inventory(inventory_file)
    batch_bytes()
    if not source.startswith(("s3://", "logs://")) and not Path(source).exists():
        raise UsageError(f"no such folder or file {source!r}")
    open_ledger(ledger).close()
    polls = new_total = 0
    with open_project(opts, loaded) as project:
        console.note(f"following {source} into {ledger} every {interval:g} s (Ctrl-C stops)")
        try:
            while max_polls is None or polls < max_polls:
                started = time.monotonic()
                result = project.ingest(source, ledger)
                polls += 1
                new_total += result.new_records
                if result.new_records:
                    at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
                    if as_json:  # JSON Lines: one object per poll that found records, flushed at once
                        line = {"at": at, "poll": polls, "new_records": result.new_records, "ledger_records": result.records}
                        print(json.dumps(line), flush=True)
                    else:
                        console.out.print(f"{at} +{result.new_records:,} records ({result.records:,} in the ledger)")
                if max_polls is None or polls < max_polls:
                    time.sleep(max(0.0, interval - (time.monotonic() - started)))
        except KeyboardInterrupt:
            console.note("stopped")
    console.note(f"{polls} poll(s), {new_total:,} new record(s)")


@meter_group.command("query")
@BY
@click.option("--since", default=None, help="Only hours newer than this (e.g. 3d).")
@click.option("--caller", default=None, help="Only this caller/tenant.")
@click.option("--top", type=click.IntRange(min=1), default=None, help="Only the N most expensive rows.")
@click.option("--csv", "csv_out", default=None, help="Write CSV to this file (- for stdout).")
@ledger_option
@json_option
def query_cmd(
    by: str, since: str | None, caller: str | None, top: int | None, csv_out: str | None, ledger: str, as_json: bool
) -> None:
    """Calls, tokens and cost per caller (× day, hour or model) from the ledger."""
    from aipctl.meter import open_ledger, query

    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=parse_duration(since)) if since else None
    rows = query(open_ledger(ledger), by, cutoff, caller=caller, top=top)
    if csv_out:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["caller", "calls", "cost_usd"])
        writer.writeheader()
        writer.writerows(rows)
        if csv_out == "-":
            click.echo(buffer.getvalue(), nl=False)
        else:
            Path(csv_out).write_text(buffer.getvalue())
    if as_json:
        console.print_json(rows)
        return
    if csv_out == "-":
        return
    _print_rows(rows)


def _print_rows(rows: Sequence[Mapping[str, object]]) -> None:
    from rich.table import Table

    table = Table(header_style="bold")
    for column in rows[0] if rows else ["caller", "calls", "cost_usd"]:
        table.add_column(column, justify="left" if column in ("caller", "day", "hour", "model") else "right")
    for row in rows:
        table.add_row(
            *(f"{v:,.6f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v) for v in row.values())
        )
    console.out.print(table)


def _typed(row: dict[str, str | None]) -> dict[str, object]:
    """Athena returns strings: counts and tokens back to int, cost to float."""
    out: dict[str, object] = {}
    for key, value in row.items():
        if value is not None and key in ("calls", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
            out[key] = int(float(value))
        elif value is not None and key == "cost_usd":
            out[key] = float(value)
        else:
            out[key] = value
    return out


@meter_group.command("athena")
@click.option("--logs", "log_uri", required=True, help="Where Bedrock writes invocation logs: s3://bucket/prefix.")
@BY
@optional_file_option("Inventory (its identities attribute calls made without an AIP).")
@click.option("--table", default="bedrock_invocation_logs", show_default=True)
@click.option("--run", "run_it", is_flag=True, help="Run the DDL and the query on Athena and print the result.")
@click.option("--database", default="default", show_default=True, help="Glue database of the table (with --run).")
@click.option("--output", default=None, help="s3:// location for Athena's results (required with --run).")
@click.option("--workgroup", default="primary", show_default=True)
@json_option
@pass_options
def athena_cmd(
    opts: GlobalOptions,
    log_uri: str,
    by: str,
    inventory_file: str | None,
    table: str,
    run_it: bool,
    database: str,
    output: str | None,
    workgroup: str,
    as_json: bool,
) -> None:
    """Print (or --run) the Glue/Athena table DDL (partition projection) and the ledger's query in Athena's SQL.

    The query is the very SQL DuckDB runs during ingest, transpiled to Trino; run both in the
    Athena console, with `aws athena start-query-execution`, or with --run.
    """
    from aipctl.aws.s3logs import parse_s3_uri
    from aipctl.meter.sql import Lookups, athena_ddl, attributed_select, report_select, to_athena

    parse_s3_uri(log_uri)
    if run_it and not output:
        raise UsageError("--run needs --output s3://bucket/prefix/ for Athena's results")
    if output:
        parse_s3_uri(output)
    loaded = load_optional_inventory(inventory_file)
    with open_project(opts, loaded) as project:
        target = project.target
        account, region = target.account, target.region
        lookups = Lookups.build(loaded, project.live().profiles)
        ddl = athena_ddl(log_uri, account, region, table)
        attributed = f"({attributed_select(table, lookups, for_athena=True)})"
        sql = to_athena(report_select(attributed, by))
        if run_it:
            from aipctl.aws.athena import Athena

            athena = Athena(target)
            assert output is not None
            athena.run(ddl, database=database, output=output, workgroup=workgroup)
            result = athena.run(sql, database=database, output=output, workgroup=workgroup)
            rows = [_typed(dict(zip(result["columns"], values, strict=True))) for values in result["rows"]]
            if as_json:
                console.print_json(rows)
            else:
                _print_rows(rows)
                console.note(f"Athena query {result['id']} in database {database}; results also under {output}")
            return
    if as_json:
        console.print_json({"ddl": ddl, "query": sql, "account": account, "region": region})
    else:
        click.echo(ddl + ";\n\n" + sql + ";")
