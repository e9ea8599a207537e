"""aipctl report: what did each caller cost? (runbook step 4.5, every day)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import file_option, json_option, open_project, pass_options
from aipctl.inventory import load_inventory
from aipctl.timeparse import parse_duration

if TYPE_CHECKING:
    from aipctl.report import CostReport


@click.command("report")
@file_option
@click.option("--since", default="3d", show_default=True, help="Period (whole UTC days up to today), e.g. 3d, 30d.")
@click.option("--top", default=3, show_default=True, type=click.IntRange(1, 10_000), help="Top-N callers to highlight.")
@click.option(
    "--by",
    "second_key",
    default=None,
    help="Roll callers up by tier, owner, environment or a tag key (totals per value), and split each caller by it.",
)
@click.option("--csv", "csv_out", default=None, help="Write CSV to this file (- for stdout).")
@click.option(
    "--markdown",
    "markdown_out",
    default=None,
    type=click.Path(dir_okay=False),
    help="Update the marked block in this markdown file (created if missing).",
)
@click.option("--html", "html_out", default=None, type=click.Path(dir_okay=False), help="Write the HTML dashboard here.")
@click.option(
    "--focus",
    "focus_out",
    default=None,
    help="Write the billed days as a FOCUS 1.2 CSV (FinOps Open Cost and Usage Specification) to this file (- for stdout).",
)
@click.option(
    "--daily-estimates",
    is_flag=True,
    help="Read the CloudWatch estimate for every day (default: per day only where the bill is not complete; --focus implies it).",
)
@click.option("--coverage", "with_coverage", is_flag=True, help="Also read CloudTrail for AIP coverage (2 requests/s).")
@click.option(
    "--advise", "with_advice", is_flag=True, help="Also run aipctl advise over the window (JSON `advice`, a dashboard section)."
)
@click.option(
    "--ledger",
    default=None,
    type=click.Path(dir_okay=False),
    help="Metering ledger to add as a third source (default: .aipctl/ledger.duckdb when it exists).",
)
@json_option
@pass_options
def report_cmd(
    opts: GlobalOptions,
    inventory_file: str,
    since: str,
    top: int,
    second_key: str | None,
    csv_out: str | None,
    markdown_out: str | None,
    html_out: str | None,
    focus_out: str | None,
    daily_estimates: bool,
    with_coverage: bool,
    with_advice: bool,
    ledger: str | None,
    as_json: bool,
) -> None:
    """Cost per caller from Cost Explorer, CloudWatch metrics per AIP, a token-based estimate and the ledger."""
    from aipctl.meter import DEFAULT_LEDGER

    if ledger is not None and not Path(ledger).exists():
        raise click.BadParameter(f"no ledger at {ledger} (create one with `aipctl meter ingest`)", param_hint="--ledger")
    ledger = ledger or (DEFAULT_LEDGER if Path(DEFAULT_LEDGER).exists() else None)
    check_outputs(as_json=as_json, csv_out=csv_out, markdown_out=markdown_out, html_out=html_out, focus_out=focus_out)
    window = dt.timedelta(seconds=parse_duration(since))
    if with_advice and window < dt.timedelta(days=1):
        raise click.BadParameter("advice needs at least a day of data", param_hint="--since")
    with open_project(opts, load_inventory(inventory_file)) as project, console.progress_bar("reading") as bar:
        now = project.now()
        coverage = project.verify(window, now=now) if with_coverage else None
        report = project.report(
            window,
            second_key=second_key,
            ledger=ledger,
            coverage=coverage,
            now=now,
            progress=bar,
            daily_estimates=daily_estimates or focus_out is not None,
        )
        if with_advice:
            from dataclasses import replace

            found = project.advise(window, now=now, coverage=coverage)
            report = replace(report, advice=tuple(a.to_dict() for a in found))
        info = project.describe()
    emit(
        report,
        info,
        top=top,
        as_json=as_json,
        csv_out=csv_out,
        markdown_out=markdown_out,
        html_out=html_out,
        focus_out=focus_out,
    )


def check_outputs(
    *,
    as_json: bool,
    csv_out: str | None,
    markdown_out: str | None,
    html_out: str | None,
    focus_out: str | None,
) -> None:
    """Refuse, before anything is read, outputs that would collide or cannot be written."""
    stdout = [flag for flag, value in (("--csv -", csv_out), ("--focus -", focus_out)) if value == "-"]
    stdout += ["--json"] if as_json else []
    if len(stdout) > 1:
        raise click.UsageError(f"{' and '.join(stdout)} all want stdout: write all but one of them to a file")
    files: dict[Path, str] = {}
    for flag, value in (("--csv", csv_out), ("--markdown", markdown_out), ("--html", html_out), ("--focus", focus_out)):
        if not value or value == "-":
            continue
        path = Path(value).resolve()
        if path in files:
            raise click.UsageError(f"{files[path]} and {flag} name the same file {value}: give each its own")
        if not path.parent.is_dir():
            raise click.BadParameter(f"the directory of {value} does not exist", param_hint=flag)
        if path.is_dir():
            raise click.BadParameter(f"{value} is a directory", param_hint=flag)
        files[path] = flag


def emit(
    report: CostReport,
    info: dict[str, str],
    *,
    top: int,
    as_json: bool = False,
    csv_out: str | None = None,
    markdown_out: str | None = None,
    html_out: str | None = None,
    focus_out: str | None = None,
) -> None:
    from aipctl.report.render import html_dashboard, to_csv, update_markdown

    check_outputs(as_json=as_json, csv_out=csv_out, markdown_out=markdown_out, html_out=html_out, focus_out=focus_out)
    for warning in report.warnings:
        console.warn(warning)
    if focus_out:
        from aipctl.report.focus import FOCUS_VERSION, focus_export

        export = focus_export(report, info)
        for warning in export.warnings:
            console.warn(warning)
        if focus_out == "-":
            print(export.to_csv(), end="")
        else:
            Path(focus_out).write_text(export.to_csv(), encoding="utf-8")
            console.note(f"wrote {focus_out} ({len(export.rows)} FOCUS {FOCUS_VERSION} rows)")
    if csv_out == "-":
        print(to_csv(report), end="")
    elif csv_out:
        Path(csv_out).write_text(to_csv(report), encoding="utf-8")
        console.note(f"wrote {csv_out}")
    if markdown_out:
        changed = update_markdown(Path(markdown_out), report, top)
        console.note(f"{'updated' if changed else 'unchanged'}: {markdown_out}")
    if html_out:
        Path(html_out).write_text(html_dashboard(report, info, top), encoding="utf-8")
        console.note(f"wrote {html_out}")
    if as_json:
        console.print_json(report.to_dict())
    elif csv_out != "-" and focus_out != "-":
        _table(report, top)


def _table(report: CostReport, top: int) -> None:
    from rich.table import Table

    total = report.total_billed
    metered = report.total_metered is not None
    principal = "principal" in report.sources.values()
    table = Table(header_style="bold", title=f"Bedrock cost per caller {report.start} – {report.end} (exclusive)")
    for column in (
        "#",
        "caller",
        "billed USD",
        "share",
        "estimated USD",
        *(["metered USD"] if metered else []),
        *(["by principal USD", "outside AIPs USD"] if principal else []),
        "deviation",
        "invocations",
        "tokens in",
        "tokens out",
        "p50 ms",
        "p99 ms",
        "throttles",
    ):
        table.add_column(column, justify="left" if column == "caller" else "right")
    ranked = report.top(len(report.callers))
    for rank, c in enumerate(ranked, 1):
        tokens, health = c.line("estimated"), c.health
        table.add_row(
            str(rank),
            c.caller if c.attribution != "principal" else f"{c.caller} (by principal)",
            f"{c.bill:.4f}",
            f"{c.bill / total:.0%}" if total else "–",
            f"{c.estimated:.4f}",
            *([f"{c.metered or 0:.4f}"] if metered else []),
            *([f"{c.line('principal').usd:.4f}", f"{c.outside_aips:.4f}"] if principal else []),
            "–" if c.deviation is None else f"{c.deviation:+.1%}",
            f"{health.invocations:,}",
            f"{tokens.input_tokens:,}",
            f"{tokens.output_tokens:,}",
            f"{health.latency_ms.get('p50', 0):.0f}",
            f"{health.latency_ms.get('p99', 0):.0f}",
            f"{health.throttles:,}",
            style="bold" if rank <= top else "",
        )
        for t in report.tenants_of(c.caller):
            cells = ["", f"  └ tenant {t.tenant}", f"{t.bill:.4f}", f"{t.bill / total:.0%}" if total else "–", ""]
            cells += [""] * metered + ([f"{t.bill:.4f}", ""] if principal else [])
            table.add_row(*cells, *[""] * 7, style="dim")
    blanks = [""] * (8 + metered + 2 * principal)
    table.add_row("", "(untagged)", f"{report.untagged:.4f}", f"{report.untagged_share:.0%}", *blanks)
    console.out.print(table)
    names = ", ".join(c.caller for c in ranked[:top])
    console.note(f"top {top}: {names}; billed total ${total:,.4f}, untagged ${report.untagged:,.4f}")
    from aipctl.report.render import account_lines, pricing_line

    for line in account_lines(report) if report.accounts else ():
        console.out.print(line)
    console.note(pricing_line(report))
    if report.groups:
        rollup = Table(header_style="bold", title=f"by {report.groups[0]['by']}")
        for column in ("value", "billed USD", "estimated USD", "callers"):
            rollup.add_column(column, justify="right" if "USD" in column else "left")
        for group in report.groups:
            rollup.add_row(
                str(group["value"]), f"{group['billed_usd']:.4f}", f"{group['estimated_usd']:.4f}", ", ".join(group["callers"])
            )
        console.out.print(rollup)
    split = report.untagged_split()
    if split and report.untagged:
        known = sum(split["known_principal_no_aip_usd"].values())
        console.note(
            f"of the untagged ${report.untagged:,.4f}: ${known:,.4f} by the callers' own principals outside their AIPs "
            f"({', '.join(sorted(split['known_principal_no_aip_usd'])) or 'none'}), "
            f"${split['unknown_principal_usd']:,.4f} by principals no caller owns"
        )
