"""aipctl wire: give each caller its AIP ARNs (env, SSM, LiteLLM model_list, JSON), from live state."""

from __future__ import annotations

from collections.abc import Sequence

import click

from aipctl.aws.target import Target
from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import confirm, file_option, open_project, pass_options
from aipctl.inventory import load_inventory
from aipctl.wiring.rows import WiringRow, render_env, render_litellm


@click.command("wire")
@file_option
@click.option("--format", "fmt", type=click.Choice(["env", "ssm", "litellm", "json"]), default="env", show_default=True)
@click.option("--caller", "callers", multiple=True, help="Only these callers (repeatable).")
@click.option("--dry-run", is_flag=True, help="With --format ssm: list the parameters instead of writing them.")
@click.option("--yes", "-y", is_flag=True, help="With --format ssm: write without asking (required when not on a terminal).")
@click.option(
    "--spend-callback",
    is_flag=True,
    help="With --format litellm: log each call's caller and cost (aipctl must be installed where the proxy runs).",
)
@pass_options
def wire_cmd(
    opts: GlobalOptions,
    inventory_file: str,
    fmt: str,
    callers: tuple[str, ...],
    dry_run: bool,
    yes: bool,
    spend_callback: bool,
) -> None:
    """Print or store each caller's AIP ARNs: env vars, SSM parameters, a LiteLLM model_list, JSON."""
    loaded = load_inventory(inventory_file)
    with open_project(opts, loaded) as project:
        rows = project.wiring(callers)
        account = project.target.account
        if fmt == "ssm":
            _write_ssm(project.target, rows, dry_run, yes)
            return
    if fmt == "json":
        console.print_json([r.to_dict() for r in rows])
    elif fmt == "env":
        print(render_env(rows), end="")
    else:
        print(
            render_litellm(rows, loaded.inventory.region, spend_callback=spend_callback, loaded=loaded, account=account), end=""
        )


def _write_ssm(target: Target, rows: Sequence[WiringRow], dry_run: bool, yes: bool) -> None:
    """Parameters that change are listed (old -> new) and written only after --yes or a yes on the terminal:
    running callers read them, so a write re-points them."""
    from aipctl.aws.ssm import Parameters

    store = Parameters(target)
    if dry_run:
        for row in rows:
            console.out.print(f"{row.ssm_parameter} = {row.arn}", highlight=False)
        return
    current = {row.ssm_parameter: store.value(row.ssm_parameter) for row in rows}
    changing = [row for row in rows if current[row.ssm_parameter] != row.arn]
    for row in rows:
        if row not in changing:
            console.out.print(f"unchanged {row.ssm_parameter}", highlight=False)
    if not changing:
        return
    for row in changing:
        old = current[row.ssm_parameter]
        console.err.print(f"  ~ {row.ssm_parameter}: {old or '(new)'} -> {row.arn}", highlight=False)
    confirm(yes, dict(target.describe()), action="wire")
    for row in changing:
        changed = store.put_if_changed(row.ssm_parameter, row.arn, f"aipctl: AIP of caller {row.caller} for model {row.alias}")
        console.out.print(f"{'wrote' if changed else 'unchanged'} {row.ssm_parameter}", highlight=False)
