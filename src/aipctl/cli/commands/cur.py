"""aipctl cur setup, aipctl reconcile: CUR 2.0 as the bill of record, and the ledger checked against it."""

from __future__ import annotations

import datetime as dt

import click

from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import confirm, json_option, load_optional_inventory, open_project, optional_file_option, pass_options
from aipctl.inventory import DEFAULT_INVENTORY, load_inventory
from aipctl.meter import DEFAULT_LEDGER
from aipctl.timeparse import parse_duration


@click.group("cur")
def cur_group() -> None:
    """CUR 2.0 (AWS Data Exports): the export aipctl reads as the bill of record."""


@cur_group.command("setup")
@optional_file_option("Inventory (names the export after it).")
@click.option("--bucket", default=None, help="Bucket for the export (default aipctl-cur-<account>-<region>; created if missing).")
@click.option("--prefix", default="cur2", show_default=True, help="S3 prefix of the export.")
@click.option("--name", default=None, help="Export name (default aipctl-<inventory>-cur2).")
@click.option("--yes", is_flag=True, help="Create without asking (needed when not on a terminal).")
@json_option
@pass_options
def setup_cmd(
    opts: GlobalOptions, inventory_file: str | None, bucket: str | None, prefix: str, name: str | None, yes: bool, as_json: bool
) -> None:
    """Create the CUR 2.0 export: hourly, with resource ids and the calling IAM principal, as Parquet.

    \b
    It creates the bucket if missing and sets its policy so that Data Exports may write to it (this
    account's exports only). An export of that name that exists already is kept as it is. The first
    files arrive within 24 hours; then `aipctl meter ingest s3://BUCKET/PREFIX/NAME/data/`.
    """
    loaded = load_optional_inventory(inventory_file)
    with open_project(opts, loaded) as project:
        confirm(yes, dict(project.target.describe()), "cur setup")
        export, created = project.cur_setup(bucket=bucket, prefix=prefix, name=name)
    if as_json:
        console.print_json({**export.to_dict(), "created": created})
        return
    verb = "created" if created else "exists already:"
    console.out.print(f"CUR 2.0 export {verb} {export.name} ({export.arn})")
    console.out.print(f"  delivers to {export.data_uri}  (ingest: aipctl meter ingest {export.data_uri})")
    if not export.has_principals:
        console.warn(
            "this export has no IAM principal column (line_item_iam_principal): the principal plane cannot be read from it; "
            "tick 'Include caller identity (IAM principal) allocation data' on the export in the Billing console"
        )


@click.command("reconcile")
@optional_file_option("Inventory (callers, tenants, identities, and the reconcile: tolerances).")
@click.option("--since", default="7d", show_default=True, help="Days to compare (e.g. 30d).")
@click.option("--ledger", default=DEFAULT_LEDGER, show_default=True, type=click.Path(dir_okay=False), help="The ledger.")
@click.option("--tolerance-usd", type=click.FloatRange(min=0), default=None, help="Drift allowed per row, USD (inventory: 1).")
@click.option("--tolerance-pct", type=click.FloatRange(min=0, max=100), default=None, help="Drift allowed, % of the bill (1).")
@click.option("--watermark", default=None, metavar="DURATION", help="Days ending less than this ago are not judged (72h).")
@json_option
@pass_options
def reconcile_cmd(
    opts: GlobalOptions,
    inventory_file: str | None,
    since: str,
    ledger: str,
    tolerance_usd: float | None,
    tolerance_pct: float | None,
    watermark: str | None,
    as_json: bool,
) -> int:
    """Metered (the ledger) against billed (CUR 2.0 in the ledger, else Cost Explorer), per caller, tenant and day.

    Exit 0 when every row is within tolerance, 1 when one drifts (for CI and cron).
    """
    from pathlib import Path

    from aipctl._exceptions import UsageError

    loaded = load_inventory(inventory_file or DEFAULT_INVENTORY)
    if not Path(ledger).exists():
        raise UsageError(f"no ledger at {ledger}", hint="`aipctl meter ingest SOURCE` fills it from invocation logs and CUR")
    base = loaded.inventory.reconcile
    settings = base.model_copy(
        update={
            k: v
            for k, v in (
                ("tolerance_usd", tolerance_usd),
                ("tolerance_pct", tolerance_pct),
                ("watermark_hours", parse_duration(watermark) / 3600 if watermark else None),
            )
            if v is not None
        }
    )
    with open_project(opts, loaded) as project:
        result = project.reconcile(dt.timedelta(seconds=parse_duration(since)), ledger, settings=settings)
    if as_json:
        console.print_json([r.to_dict() for r in result.rows])
        return 0 if result.ok else 1
    _table(result)
    return 0 if result.ok else 1


def _table(result: object) -> None:
    from rich.table import Table

    from aipctl.reconcile import Reconciliation

    assert isinstance(result, Reconciliation)
    table = Table(header_style="bold", title=f"metered vs billed ({result.source}), days before {result.watermark:%Y-%m-%d}")
    for column in ("day", "caller", "tenant", "metered USD", "billed USD", "drift USD", "", "cause"):
        table.add_column(column, justify="right" if "USD" in column else "left")
    for row in result.rows:
        table.add_row(
            row.day,
            row.caller,
            row.tenant or "",
            f"{row.metered_usd:.4f}",
            f"{row.billed_usd:.4f}",
            f"{row.drift_usd:+.4f}",
            "ok" if row.ok else "DRIFT",
            row.cause or "",
            style="" if row.ok else "red",
        )
    console.out.print(table)
    s = result.settings
    verdict = "all rows within tolerance" if result.ok else f"{len(result.drifting)} row(s) drift"
    console.note(
        f"{verdict} (tolerance ${s.tolerance_usd:g} and {s.tolerance_pct:g} % per row; days after "
        f"{result.watermark:%Y-%m-%d} are not final in billing yet, watermark {s.watermark_hours:g} h)"
    )
