"""aipctl bench: performance figures measured against baselines in the same run.

The benchmarks are not part of the product package: they live in ``benchmarks/`` beside ``src/``
in an aipctl checkout. This command imports them from there (or from wherever they are installed).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from aipctl._exceptions import UsageError
from aipctl.cli import console
from aipctl.cli.options import json_option


def benchmark(name: str) -> ModuleType:
    """``benchmarks.<name>``, from the checkout this aipctl runs from when it is not importable as it is."""
    try:
        return importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as exc:
        if exc.name not in ("benchmarks", f"benchmarks.{name}"):
            raise
    import aipctl

    # An editable install runs from <checkout>/src/aipctl; the benchmarks sit in <checkout>/benchmarks.
    checkout = Path(aipctl.__file__).resolve().parents[2]
    if not ((checkout / "benchmarks" / "__init__.py").is_file() and (checkout / "src" / "aipctl").is_dir()):
        raise UsageError(
            "the benchmarks are not installed: they live in benchmarks/ of an aipctl checkout",
            hint="git clone the aipctl repository, `pip install -e '.[dev]'` there, and run `aipctl bench` from it",
        )
    sys.path.insert(0, str(checkout))
    return importlib.import_module(f"benchmarks.{name}")


def _say(task: str, done: int = 0, total: int | None = None) -> None:
    console.note(f"bench: {task} ...")


def _emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        console.print_json(result)
    else:
        console.out.print(json.dumps(result, indent=2), highlight=False)


@click.group("bench")
def bench_group() -> None:
    """Benchmarks (figures and ratios against a baseline measured in the same run)."""


@bench_group.command("foundation")
@click.option("--callers", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--throttle", default=0.2, show_default=True, type=click.FloatRange(0, 0.9))
@click.option(
    "--kill-at",
    default=0.4,
    show_default=True,
    type=click.FloatRange(0.01, 0.99),
    help="SIGKILL apply once this share of the AIPs exists.",
)
@click.option("--only", "parts", multiple=True, type=click.Choice(["startup", "per_call", "plan", "apply", "crash", "durable"]))
@json_option
def foundation_cmd(callers: int, throttle: float, kill_at: float, parts: tuple[str, ...], as_json: bool) -> None:
    """plan/apply at N callers, apply under throttling, SIGKILL + re-run, --help start-up."""
    _emit(benchmark("foundation").run(callers, throttle, kill_at, parts, progress=_say), as_json)


@bench_group.command("traffic")
@click.option("--callers", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--days", default=3.0, show_default=True, type=click.FloatRange(0.01, 90))
@click.option("--calls-per-day", default=40, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(1, 256))
@json_option
def traffic_cmd(callers: int, days: float, calls_per_day: int, concurrency: int, as_json: bool) -> None:
    """`sim traffic` with N callers x D days against `sim serve`: time, peak RSS, connections held."""
    _emit(benchmark("traffic").run(callers, days, calls_per_day, concurrency, progress=_say), as_json)


@bench_group.command("runtime")
@click.option("--records", default=1_000_000, show_default=True, type=click.IntRange(1000, 50_000_000))
@click.option("--seconds", default=8.0, show_default=True, type=click.FloatRange(1, 600), help="Load duration per server.")
@click.option("--only", "parts", multiple=True, type=click.Choice(["throughput", "memory"]))
@json_option
def runtime_cmd(records: int, seconds: float, parts: tuple[str, ...], as_json: bool) -> None:
    """Emulated runtime calls/s through boto3 (vs stock moto) and memory for N recorded calls (vs dicts)."""
    _emit(benchmark("runtime").run(parts, records, seconds), as_json)


@bench_group.command("report")
@click.option("--callers", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 365))
@click.option("--per-day", default=10, show_default=True, type=click.IntRange(1, 10_000), help="Calls per AIP per day.")
@json_option
def report_cmd(callers: int, days: int, per_day: int, as_json: bool) -> None:
    """aipctl report over N callers x D days of recorded calls (vs aipctl plan on the same state)."""
    _emit(benchmark("report").run(callers, days, per_day), as_json)


@bench_group.command("sessions")
@click.option("--tenants", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--calls", default=5, show_default=True, type=click.IntRange(1, 10_000), help="Converse calls per tenant.")
@click.option("--iterations", default=200_000, show_default=True, type=click.IntRange(1000, 100_000_000))
@json_option
def sessions_cmd(tenants: int, calls: int, iterations: int, as_json: bool) -> None:
    """Per-tenant role sessions: cached cost per call, AssumeRole calls per tenant."""
    _emit(benchmark("sessions").run(tenants, calls, iterations), as_json)


@bench_group.command("cur")
@click.option("--lines", default=2_000_000, show_default=True, type=click.IntRange(1000, 1_000_000_000))
@click.option("--periods", default=4, show_default=True, type=click.IntRange(1, 120), help="Billing periods (files).")
@click.option("--callers", default=200, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--tenants", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def cur_cmd(lines: int, periods: int, callers: int, tenants: int, as_json: bool) -> None:
    """CUR 2.0 Parquet ingest (attributed, per revision) against DuckDB's bare scan of the same files."""
    _emit(benchmark("cur").run(lines, periods, callers, tenants), as_json)


@bench_group.command("wiring")
@click.option("--iterations", default=200_000, show_default=True, type=click.IntRange(1000, 10_000_000))
@json_option
def wiring_cmd(iterations: int, as_json: bool) -> None:
    """Per-call overhead of aipctl.attach (botocore handler) against a client without it."""
    _emit(benchmark("wiring").run(iterations), as_json)


@bench_group.command("prices")
@click.option("--iterations", default=200_000, show_default=True, type=click.IntRange(1000, 10_000_000))
@json_option
def prices_cmd(iterations: int, as_json: bool) -> None:
    """cost_of per call (whole Converse responses, 1-hour cache writes) vs a bare rate lookup."""
    _emit(benchmark("prices").run(iterations, progress=_say), as_json)


@bench_group.command("meter")
@click.option("--records", default=10_000_000, show_default=True, type=click.IntRange(1000, 1_000_000_000))
@click.option("--callers", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--data",
    default=None,
    type=click.Path(file_okay=False),
    help="Keep the generated logs in this folder (and reuse them when it already holds some).",
)
@json_option
def meter_cmd(records: int, callers: int, data: str | None, as_json: bool) -> None:
    """Ledger ingest (records/s, peak RSS, daily query) vs a plain Python loop and a bare DuckDB scan."""
    _emit(benchmark("meter").run(records, callers=callers, folder=data, progress=_say), as_json)


@bench_group.command("guard")
@click.option("--iterations", default=100_000, show_default=True, type=click.IntRange(1000, 10_000_000))
@click.option("--redis-url", default=None, help="Measure against this Redis (default: start a local redis-server if installed).")
@click.option("--fairness-seconds", default=8.0, show_default=True, type=click.FloatRange(1, 600))
@click.option(
    "--only",
    "parts",
    multiple=True,
    type=click.Choice(["overhead", "inpath", "watch", "fairness", "usdcap", "ledger"]),
    help="Run only these parts (ledger: detect -> enforce from the ledger, 2 x 20 crossings; not in the default set).",
)
@json_option
def guard_cmd(iterations: int, redis_url: str | None, fairness_seconds: float, parts: tuple[str, ...], as_json: bool) -> None:
    """Guards: per-call cost of limits (in-process, Redis), brake speed in and out of path, fairness per tier."""
    result = benchmark("guard").run(
        iterations, redis_url=redis_url, parts=parts, fairness_seconds=fairness_seconds, progress=_say
    )
    _emit(result, as_json)


@bench_group.command("org")
@click.option("--callers", default=10_000, show_default=True, type=click.IntRange(10, 100_000))
@click.option("--accounts", default=10, show_default=True, type=click.IntRange(1, 50))
@json_option
def org_cmd(callers: int, accounts: int, as_json: bool) -> None:
    """plan for N callers over A accounts × 2 Regions (scaling 1 → A accounts) vs one account and Region."""
    _emit(benchmark("org").run(callers, accounts, progress=_say), as_json)


@bench_group.command("discover")
@click.option("--records", default=1_000_000, show_default=True, type=click.IntRange(1000, 100_000_000))
@click.option("--events", default=100_000, show_default=True, type=click.IntRange(100, 10_000_000))
@json_option
def discover_cmd(records: int, events: int, as_json: bool) -> None:
    """discover over N invocation-log records (ledger) and M CloudTrail events vs a bare DuckDB aggregate / LookupEvents loop."""
    _emit(benchmark("discover").run(records, events, progress=_say), as_json)
