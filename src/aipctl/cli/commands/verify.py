"""aipctl verify: did every caller switch to its AIP? (runbook step 4.4, as a gate)."""

from __future__ import annotations

import datetime as dt

import click

from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import file_option, json_option, open_project, pass_options
from aipctl.inventory import load_inventory
from aipctl.timeparse import parse_duration
from aipctl.verify import VerifyReport


@click.command("verify")
@file_option
@click.option("--since", default="3d", show_default=True, help="How far back to look (e.g. 3d, 12h).")
@click.option(
    "--min-coverage",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Exit 1 when a caller's share of calls through its AIPs is below this.",
)
@click.option("--source", type=click.Choice(["cloudtrail", "logs", "both"]), default="cloudtrail", show_default=True)
@click.option("--logs", "logs_uri", default=None, help="Model invocation logs, s3://bucket/prefix (with --source logs|both).")
@click.option("--unknown", "show_unknown", is_flag=True, help="With --json: print only the unknown identities (a list).")
@json_option
@pass_options
def verify_cmd(
    opts: GlobalOptions,
    inventory_file: str,
    since: str,
    min_coverage: float,
    source: str,
    logs_uri: str | None,
    show_unknown: bool,
    as_json: bool,
) -> int:
    """Prove from CloudTrail (and invocation logs) that each caller calls its AIPs; name bypassers."""
    from aipctl._exceptions import UsageError
    from aipctl.aws.cloudtrail import lookup_rate

    loaded = load_inventory(inventory_file)
    window = dt.timedelta(seconds=parse_duration(since))
    if source in ("logs", "both") and not logs_uri:
        raise UsageError("--source logs needs --logs s3://bucket/prefix")
    with open_project(opts, loaded) as project:
        if source != "logs":
            console.note(
                f"reading CloudTrail LookupEvents at most {lookup_rate():g} requests/s (50 events each) for the last {since}"
            )
        with console.progress_bar("reading CloudTrail" if source != "logs" else "reading invocation logs") as bar:
            report = project.verify(
                window,
                use_cloudtrail=source != "logs",
                logs_uri=logs_uri if source != "cloudtrail" else None,
                progress=bar,
            )
    failing = report.failing(min_coverage)
    if as_json:
        console.print_json([u.to_dict() for u in report.unknown] if show_unknown else report.to_dict(min_coverage))
    else:
        render_coverage(report, min_coverage)
    return 1 if failing else 0


def render_coverage(report: VerifyReport, min_coverage: float) -> None:
    from rich.table import Table

    table = Table(
        header_style="bold",
        title=f"AIP coverage {report.start:%Y-%m-%d %H:%M} – {report.end:%Y-%m-%d %H:%M} UTC "
        f"({', '.join(report.sources)}; {report.calls_read:,} calls)",
    )
    for column in ("caller", "via AIP", "bypass", "other's AIP", "denied", "coverage", "last seen", "verdict"):
        table.add_column(column, justify="right" if column not in ("caller", "verdict", "last seen") else "left")
    for entry in report.callers:
        coverage = "–" if entry.coverage is None else f"{entry.coverage:.0%}"
        verdict = entry.verdict(min_coverage)
        styles = {"ok": "green", "ok (billed by principal)": "green", "no calls seen": "dim", "only denied calls": "yellow"}
        style = styles.get(verdict, "red")
        table.add_row(
            entry.caller,
            f"{entry.aip_calls:,}",
            f"{entry.bypass_calls:,}",
            f"{entry.misuse_calls:,}",
            f"{entry.denied_calls:,}" + (f" ({entry.blocked_bypass_calls:,} bypass)" if entry.blocked_bypass_calls else ""),
            coverage,
            entry.last_seen.strftime("%Y-%m-%d %H:%M") if entry.last_seen else "–",
            f"[{style}]{verdict}[/]",
        )
        for tenant, share in sorted(entry.tenants.items()):
            table.add_row(
                f"  └ tenant {tenant}",
                f"{share.aip_calls:,}",
                f"{share.bypass_calls:,}",
                "",
                "",
                "–" if share.coverage is None else f"{share.coverage:.0%}",
                "",
                "",
                style="dim",
            )
    console.out.print(table)
    for entry in report.callers:
        direct = [(m, n) for m, n in entry.bypass_models.most_common() if not m.startswith("bedrock-mantle:")]
        if direct:
            models = ", ".join(f"{m} ({n})" for m, n in direct[:3])
            console.warn(f"{entry.caller} still calls {models} directly: switch it to its AIP (`aipctl wire`)")
        if entry.mantle_calls:
            console.warn(
                f"{entry.caller} made {entry.mantle_calls:,} calls on bedrock-mantle, which reaches no AIP and no "
                "invocation log: `aipctl iam render --attach` denies it"
            )
    for use in report.bearer_tokens:
        long_term = use.types.get("LONG_TERM", 0)
        who = f"{use.identity} ({use.caller})" if use.caller else use.identity
        if long_term:
            console.warn(
                f"{who} called with a long-term Bedrock API key {long_term:,} times: a static secret of an IAM user — "
                "replace it with short-term keys or SigV4; `aipctl iam render --attach` denies long-term keys"
            )
        if sum(use.types.values()) > long_term:
            console.note(f"{who}: {sum(use.types.values()) - long_term:,} calls with short-term Bedrock API keys")
    if report.mantle_error:
        console.warn(f"{report.mantle_error} (`aipctl iam policy verify` lists the permissions)")
    if report.mantle_visible is False:
        console.warn(
            "bedrock-mantle's calls are not visible here: no logging trail selects AWS::BedrockMantle::Project data events "
            "(they never reach LookupEvents or invocation logs) — see docs/guards.md, 'Seeing bedrock-mantle'"
        )
    for unknown in report.unknown[:10]:
        console.warn(f"unknown identity {unknown.identity}: {unknown.calls:,} calls — add it to a caller's identities")
