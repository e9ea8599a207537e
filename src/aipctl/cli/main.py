"""``aipctl``: the command line. Commands are imported lazily so that ``--help`` starts fast."""

from __future__ import annotations

import importlib
import os
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from aipctl import __version__

if TYPE_CHECKING:
    from aipctl.aws.target import Target, TargetKind

#: command name -> "module:attribute" (loaded only when the command runs or its help is shown)
COMMANDS = {
    "init": ("aipctl.cli.commands.core:init_cmd", "Write a commented example inventory."),
    "plan": ("aipctl.cli.commands.core:plan_cmd", "Show what apply would change (create/retag/replace/delete)."),
    "apply": ("aipctl.cli.commands.core:apply_cmd", "Create and update the application inference profiles."),
    "list": ("aipctl.cli.commands.core:list_cmd", "List the AIPs aipctl manages, with ARNs, models and tags."),
    "demo": ("aipctl.cli.commands.core:demo_cmd", "Run the whole flow on the embedded emulator."),
    "wire": ("aipctl.cli.commands.wire:wire_cmd", "Give callers their AIP ARNs: env vars, SSM, LiteLLM config, JSON."),
    "meter": ("aipctl.cli.commands.meter:meter_group", "Per-invocation ledger from model invocation logs (DuckDB)."),
    "tags": ("aipctl.cli.commands.tags:tags_group", "Activate and inspect cost-allocation tags."),
    "report": (
        "aipctl.cli.commands.report:report_cmd",
        "Cost per caller: Cost Explorer, CloudWatch, estimate; markdown and HTML.",
    ),
    "verify": ("aipctl.cli.commands.verify:verify_cmd", "Prove from CloudTrail that each caller calls its AIPs; name bypassers."),
    "advise": ("aipctl.cli.commands.advise:advise_cmd", "Where to save: idle AIPs, cheaper models for short calls (Phase 5)."),
    "discover": (
        "aipctl.cli.commands.discover:discover_cmd",
        "Find who calls Bedrock (CloudTrail) and draft an inventory (runbook Phase 1).",
    ),
    "cfn": ("aipctl.cli.commands.cfn:cfn_group", "Render CloudFormation templates (one stack per caller)."),
    "sim": ("aipctl.cli.commands.sim:sim_group", "Run and steer the AWS emulator (serve, clock, faults)."),
    "bench": ("aipctl.cli.commands.bench:bench_group", "Benchmarks against baselines measured in the same run."),
    "iam": ("aipctl.cli.commands.guard:iam_group", "Anti-bypass policies for callers; least-privilege policy for aipctl."),
    "brake": ("aipctl.cli.commands.guard:brake_cmd", "Emergency brake: explicit IAM Deny on a caller's AIPs."),
    "release": ("aipctl.cli.commands.guard:release_cmd", "Release a caller's emergency brake."),
    "guard": ("aipctl.cli.commands.guard:guard_group", "Budget guard: month-to-date spend, alerts, brake and release."),
    "prices": (
        "aipctl.cli.commands.prices:prices_group",
        "The price book: refresh it from the AWS Price List API, show its rates.",
    ),
    "cur": ("aipctl.cli.commands.cur:cur_group", "CUR 2.0 export (AWS Data Exports): the bill of record per principal."),
    "reconcile": (
        "aipctl.cli.commands.cur:reconcile_cmd",
        "Metered (ledger) vs billed (CUR, Cost Explorer) per caller/tenant/day.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, _, attribute = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help comes from the table above, so `aipctl --help` imports no command module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@dataclass
class GlobalOptions:
    target: TargetKind
    state_dir: str
    profile: str | None
    region: str | None
    endpoint_url: str | None

    def open(self, region: str | None = None) -> AbstractContextManager[Target]:
        """Open the chosen target for an inventory's Region (``--region`` must agree with it)."""
        from aipctl._exceptions import UsageError
        from aipctl.aws.target import open_target

        if region and self.region and region != self.region:
            raise UsageError(
                f"--region {self.region} differs from the inventory's region {region}",
                hint="an inventory describes one Region; change `region:` in the file to act elsewhere",
            )
        return open_target(
            self.target,
            region=region or self.region,
            profile=self.profile,
            state_dir=self.state_dir,
            endpoint_url=self.endpoint_url,
        )


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "--target",
    type=click.Choice(["sim", "aws"]),
    default=lambda: os.environ.get("AIPCTL_TARGET", "sim"),
    show_default="sim",
    help="sim: the embedded emulator (no AWS account needed). aws: real AWS via the standard boto3 "
    "credential chain (AWS_PROFILE, AWS_ENDPOINT_URL, ... are honoured).",
)
@click.option(
    "--state-dir",
    default=lambda: os.environ.get("AIPCTL_STATE_DIR", ".aipctl"),
    show_default=".aipctl",
    help="Where the embedded emulator keeps its state.",
)
@click.option("--profile", default=None, help="AWS profile (with --target aws).")
@click.option("--region", default=None, help="AWS Region (defaults to the inventory's region).")
@click.option("--endpoint-url", default=None, help="Send AWS calls here (e.g. a running `aipctl sim serve`).")
@click.version_option(__version__, prog_name="aipctl")
@click.pass_context
def cli(
    ctx: click.Context, target: str, state_dir: str, profile: str | None, region: str | None, endpoint_url: str | None
) -> None:
    """aipctl: a cost line, metrics, limits and a budget for every caller of Amazon Bedrock,
    using Application Inference Profiles (AIPs).

    \b
    Quick start (no AWS account needed, runs on the embedded emulator):
      aipctl init && aipctl plan && aipctl apply --yes && aipctl list
    """
    ctx.obj = GlobalOptions("aws" if target == "aws" else "sim", state_dir, profile, region, endpoint_url)


def run() -> None:
    from aipctl.cli.errors import run_guarded

    _tune_gc()
    _skip_teardown_at_exit()
    code = run_guarded(cli.main, prog_name="aipctl")
    _exit_code[0] = code
    sys.exit(code)


#: The status the process ends with when :func:`_skip_teardown_at_exit` ends it (1 until the command returns one).
_exit_code = [1]


def _skip_teardown_at_exit() -> None:
    """End the process after the exit handlers, without tearing the heap down object by object.

    Python's shutdown joins the threads and runs every ``atexit`` handler, then frees each object it still holds:
    with the embedded emulator's state loaded that took 0.4 s after ``plan`` and 0.85 s after a 1,000-caller
    report, with nothing left to do. A handler registered first runs last, so this one (registered only when no
    other is, e.g. not under coverage) ends the process once the others have run, after flushing stdout and
    stderr; files aipctl writes are closed by then, and the emulator has saved its state when its command ended."""
    import atexit
    import contextlib

    count = getattr(atexit, "_ncallbacks", None)
    if count is None or count() != 0 or os.environ.get("AIPCTL_FULL_EXIT"):
        return

    def end() -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe: what was written is all there will be
                stream.flush()
        os._exit(_exit_code[0])

    atexit.register(end)


def _tune_gc() -> None:
    """Fewer garbage collections for a process that builds large, long-lived answers.

    A 30-day report of 1,000 callers parses ~100,000 AWS answer objects and keeps most of them; at CPython's
    default threshold (700 allocations) the collector walks that growing heap thousands of times: 0.6-1.0 s of
    the report's 3.5 s of CPU (measured with the collector off, docs/benchmarks.md). The modules imported so
    far are frozen out of the collector's walk (``gc.freeze``) and it runs every 50,000 net allocations
    instead; memory held in reference cycles is freed later, not leaked."""
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
