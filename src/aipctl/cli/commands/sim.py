"""aipctl sim: serve the emulator, read and move its clock, inject faults, set quotas, reset."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from aipctl._exceptions import UsageError
from aipctl.aws.simctl import SimControl
from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import json_option, open_project, pass_options
from aipctl.timeparse import parse_duration

endpoint_option = click.option(
    "--endpoint", "endpoint", default=None, help="A running `aipctl sim serve` (default: the embedded emulator state)."
)


@contextmanager
def control(opts: GlobalOptions, endpoint: str | None) -> Iterator[SimControl]:
    url = endpoint or (opts.endpoint_url if opts.target == "sim" else None)
    if opts.target != "sim" and not endpoint:
        raise UsageError("`aipctl sim` steers the emulator; drop --target aws or pass --endpoint")
    if url:
        yield SimControl(url)
        return
    with opts.open() as target:
        yield SimControl(str(target.endpoint_url))  # an embedded emulator always listens somewhere


@click.group("sim")
def sim_group() -> None:
    """The AWS emulator: `serve` it for any AWS client, or steer the embedded one."""


@sim_group.command("serve")
@click.option("--port", default=4566, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--no-state", is_flag=True, help="Keep state in memory only (nothing read or written).")
@click.option(
    "--durability",
    type=click.Choice(["journal", "snapshot"]),
    default="journal",
    show_default=True,
    help="journal: every write is on disk before it is answered; snapshot: saved every 2 s (a kill loses the last seconds).",
)
@pass_options
def serve_cmd(opts: GlobalOptions, port: int, no_state: bool, durability: str) -> None:
    """Serve the emulator on 127.0.0.1 until stopped (state: <state-dir>/sim, shared with the embedded one)."""
    from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
    from aipctl_sim import EmulatorServer
    from aipctl_sim.state import StateLocked

    state = None if no_state else str(Path(opts.state_dir) / "sim")
    try:
        server = EmulatorServer(state_dir=state, port=port, durability=durability).start()
    except StateLocked as exc:
        raise UsageError(str(exc), hint="stop the other process or pass another --state-dir") from None
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc}", hint="pick another --port (0 = any free port)") from None
    for warning in server.warnings:
        console.warn(warning)
    if server.replayed[0]:
        console.note(f"recovered {server.replayed[0]} writes from the journal of the last run")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    url = server.endpoint_url
    console.note(f"aipctl sim serving on {url} (state: {state or 'in memory'}); Ctrl-C stops it")
    console.note(
        f"  export AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID={SIM_ACCESS_KEY} "
        f"AWS_SECRET_ACCESS_KEY={SIM_SECRET_KEY} AWS_REGION=eu-central-1"
    )
    print(url, flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
        console.note("emulator stopped" + (f"; state saved in {state}" if state else ""))


@sim_group.group("clock", invoke_without_command=True)
@endpoint_option
@json_option
@click.pass_context
def clock_group(ctx: click.Context, endpoint: str | None, as_json: bool) -> None:
    """Show the simulated time (`aipctl sim clock advance 2d` moves it)."""
    ctx.ensure_object(dict)
    if ctx.invoked_subcommand is None:
        opts = ctx.find_object(GlobalOptions)
        assert opts is not None
        with control(opts, endpoint) as sim:
            now = sim.clock()
        console.print_json(now) if as_json else console.out.print(now["now"])


@clock_group.command("advance")
@click.argument("duration")
@endpoint_option
@json_option
@pass_options
def advance_cmd(opts: GlobalOptions, duration: str, endpoint: str | None, as_json: bool) -> None:
    """Move the simulated clock forward by DURATION (e.g. 2d, 12h, 1d6h)."""
    seconds = parse_duration(duration)
    with control(opts, endpoint) as sim:
        now = sim.advance(seconds)
    console.print_json(now) if as_json else console.out.print(now["now"])


@sim_group.group("faults")
def faults_group() -> None:
    """Inject throttling, server errors and latency into the emulator."""


@faults_group.command("set")
@click.option("--service", default="*", show_default=True, help="e.g. bedrock, ce, sts, or * for all.")
@click.option("--operation", default="*", show_default=True, help="e.g. CreateInferenceProfile, or * for all.")
@click.option(
    "--throttle-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of requests answered 429 ThrottlingException."
)
@click.option(
    "--error-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of requests answered 500 InternalServerException."
)
@click.option("--latency-ms", default=0.0, type=click.FloatRange(0, 60000), help="Added latency per request.")
@click.option(
    "--rate-per-s",
    default=0.0,
    type=click.FloatRange(0, 1e6),
    help="A shared quota: matching requests beyond this rate (all callers together) are throttled.",
)
@click.option("--replace", is_flag=True, help="Replace all existing rules instead of adding one.")
@click.option("--seed", default=None, type=int, help="Make which requests fail reproducible.")
@endpoint_option
@pass_options
def faults_set(
    opts: GlobalOptions,
    service: str,
    operation: str,
    throttle_rate: float,
    error_rate: float,
    latency_ms: float,
    rate_per_s: float,
    replace: bool,
    seed: int | None,
    endpoint: str | None,
) -> None:
    """Add a fault rule (rules for the same service and operation are replaced)."""
    rule = {
        "service": service,
        "operation": operation,
        "throttle_rate": throttle_rate,
        "error_rate": error_rate,
        "latency_ms": latency_ms,
        "rate_per_s": rate_per_s,
    }
    with control(opts, endpoint) as sim:
        rules = [] if replace else [r for r in sim.faults() if (r["service"], r["operation"]) != (service, operation)]
        console.print_json(sim.set_faults([*rules, rule], seed=seed))


@faults_group.command("show")
@endpoint_option
@pass_options
def faults_show(opts: GlobalOptions, endpoint: str | None) -> None:
    """Print the fault rules as JSON."""
    with control(opts, endpoint) as sim:
        console.print_json(sim.faults())


@faults_group.command("clear")
@endpoint_option
@pass_options
def faults_clear(opts: GlobalOptions, endpoint: str | None) -> None:
    """Remove every fault rule."""
    with control(opts, endpoint) as sim:
        sim.set_faults([])
    console.note("fault rules cleared")


@sim_group.command("traffic")
@click.option("-f", "--file", "inventory_file", default="aipctl.yaml", show_default=True, type=click.Path(dir_okay=False))
@click.option("--days", default=3.0, show_default=True, type=click.FloatRange(0.01, 90), help="How much history, up to now.")
@click.option("--seed", default=7, show_default=True, type=int, help="Same seed, same traffic.")
@click.option(
    "--calls-per-day", default=40, show_default=True, type=click.IntRange(1, 100_000), help="Per caller (x5 for the first)."
)
@click.option(
    "--bypass",
    "bypass",
    multiple=True,
    help="A caller that still calls its model directly (repeatable; default: the last caller with a text model).",
)
@click.option("--no-bypass", is_flag=True, help="Every caller uses its AIPs.")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256), help="Calls in flight at once.")
@endpoint_option
@json_option
@pass_options
def traffic_cmd(
    opts: GlobalOptions,
    inventory_file: str,
    days: float,
    seed: int,
    calls_per_day: int,
    bypass: tuple[str, ...],
    no_bypass: bool,
    concurrency: int,
    endpoint: str | None,
    as_json: bool,
) -> None:
    """Write the last DAYS of realistic traffic through the callers' AIPs, dated in the past up to now."""
    from dataclasses import replace

    from aipctl.inventory import load_inventory

    if bypass and no_bypass:
        raise UsageError("--bypass and --no-bypass exclude each other")
    loaded = load_inventory(inventory_file)
    if opts.target != "sim":
        raise UsageError("traffic is generated against the emulator only (drop --target aws)")
    scoped = replace(opts, endpoint_url=endpoint or opts.endpoint_url)
    chosen = () if no_bypass else (bypass or None)
    with open_project(scoped, loaded) as project, console.progress_bar("simulating traffic", total=round(days * 24)) as bar:
        report = project.traffic(
            days, seed=seed, calls_per_day=calls_per_day, bypass=chosen, concurrency=concurrency, progress=bar
        )
    if as_json:
        console.print_json(report.to_dict())
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("caller", "calls", "errors", "input tokens", "output tokens"):
        table.add_column(column, justify="right" if column != "caller" else "left")
    for caller in sorted(report.calls | report.errors):
        marker = " (bypasses its AIP)" if caller in report.bypass_callers else ""
        table.add_row(
            caller + marker,
            str(report.calls[caller]),
            str(report.errors[caller]),
            f"{report.input_tokens[caller]:,}",
            f"{report.output_tokens[caller]:,}",
        )
    console.out.print(table)
    console.note(f"{report.hours} simulated hours, {report.start} -> {report.end}")


@sim_group.command("quota")
@click.argument("name", type=click.Choice(["application-inference-profiles"]))
@click.argument("value", type=click.IntRange(0, 1_000_000))
@endpoint_option
@pass_options
def quota_cmd(opts: GlobalOptions, name: str, value: int, endpoint: str | None) -> None:
    """Set an emulated service quota (default: 1,000 AIPs per Region)."""
    with control(opts, endpoint) as sim:
        console.print_json(sim.set_quotas({name: value}))


@sim_group.command("settings")
@click.option(
    "--billing-lag-hours", type=click.FloatRange(0, 24 * 30), help="Hours before usage shows in Cost Explorer (default 24)."
)
@click.option(
    "--cloudtrail-lookup-rps", type=click.FloatRange(0, 1000), help="LookupEvents requests per second (default 2; 0 = no limit)."
)
@click.option("--ce-page-groups", type=click.IntRange(1, 100_000), help="Groups per GetCostAndUsage page (default 1000).")
@click.option(
    "--log-delivery-delay",
    "log_delivery_delay_s",
    type=click.FloatRange(0, 86400),
    help="Seconds before an invocation-log record is in S3 (default 0; AWS documents no figure).",
)
@click.option(
    "--discount",
    "billing_discount_pct",
    type=click.FloatRange(0, 100),
    help="The account's private-pricing discount in percent: Net* costs in Cost Explorer and CUR (default 0).",
)
@click.option(
    "--credits",
    "billing_credits_usd",
    type=click.FloatRange(0, 1e9),
    help="Promotional credits per month in USD (Cost Explorer RECORD_TYPE Credit; default 0).",
)
@click.option(
    "--batch-job-seconds",
    "batch_job_seconds",
    type=click.FloatRange(0, 7 * 86400),
    help="Simulated seconds a batch inference job stays InProgress (default 0).",
)
@endpoint_option
@pass_options
def settings_cmd(opts: GlobalOptions, /, endpoint: str | None, **given: float | None) -> None:
    """Show or change emulator behaviour: billing lag, CloudTrail rate limit, Cost Explorer page size, log delay,
    the account's discount and credits, how long batch jobs run."""
    values = {k: v for k, v in given.items() if v is not None}  # the options' names are the settings' names
    with control(opts, endpoint) as sim:
        console.print_json(sim.set_settings(**values))


@sim_group.command("organization")
@click.argument("aliases", nargs=-1, required=True)
@json_option
@pass_options
def organization_cmd(opts: GlobalOptions, aliases: tuple[str, ...], as_json: bool) -> None:
    """Make the emulated account the management account of an organization with member accounts ALIASES (kept
    if they exist), and print the `accounts:` block of an inventory that uses them (docs/organizations.md)."""
    from aipctl.aws.organizations import ACCESS_ROLE, Organizations
    from aipctl.inventory import rules

    if opts.target != "sim":
        raise UsageError("`aipctl sim organization` makes accounts in the emulator only; it never acts on AWS")
    for alias in aliases:
        problem = rules.check_identifier(alias, "account alias")  # the inventory's own rule for `accounts:` keys
        if problem or alias == "payer":
            raise UsageError(problem or "account alias 'payer' names the management account in the printed block")
    with opts.open() as target:
        console.announce(target)
        orgs = Organizations(target)
        management = orgs.ensure_organization()
        members = orgs.ensure_accounts(list(aliases))
    if as_json:
        console.print_json({"management": management, "accounts": members, "role": ACCESS_ROLE})
        return
    console.out.print("accounts:", highlight=False)
    console.out.print(f'  payer: {{id: "{management}", billing: true}}', highlight=False)
    for alias, account_id in members.items():
        console.out.print(f'  {alias}: {{id: "{account_id}", role: {ACCESS_ROLE}}}', highlight=False)
    console.note(f"organization of {management}: {len(members)} member account(s); paste the block into an inventory")


@sim_group.command("reset")
@click.option("--yes", is_flag=True, help="Confirm: forget every emulated resource.")
@endpoint_option
@pass_options
def reset_cmd(opts: GlobalOptions, yes: bool, endpoint: str | None) -> None:
    """Forget all emulated state (AIPs, tags, IAM, S3 ... and the clock)."""
    if not yes:
        raise UsageError("reset forgets all emulated state; pass --yes to confirm")
    with control(opts, endpoint) as sim:
        sim.reset()
    console.note("emulator state reset")
