"""aipctl wire: give each caller its AIP ARNs (env, SSM, LiteLLM model_list, JSON), from live state."""

from __future__ import annotations

from collections.abc import Sequence

import click

from aipctl._exceptions import UsageError
from aipctl.aws.target import Target
from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import confirm, file_option, open_project, pass_options
from aipctl.inventory import LoadedInventory, load_inventory
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
@click.option("--account", "account_alias", default=None, help="Organization inventories: only this account (its alias).")
@click.option("--region", "only_region", default=None, help="Organization inventories: only this Region.")
@pass_options
def wire_cmd(
    opts: GlobalOptions,
    inventory_file: str,
    fmt: str,
    callers: tuple[str, ...],
    dry_run: bool,
    yes: bool,
    spend_callback: bool,
    account_alias: str | None,
    only_region: str | None,
) -> None:
    """Print or store each caller's AIP ARNs: env vars, SSM parameters, a LiteLLM model_list, JSON.

    With accounts: (or callers in several Regions): JSON rows carry account, account_id and region; SSM parameters
    are written in each account and Region; env and LiteLLM need one ARN per caller × model (--account/--region)."""
    loaded = load_inventory(inventory_file)
    if loaded.is_fleet:
        _wire_fleet(opts, loaded, fmt, callers, dry_run, yes, spend_callback, account_alias, only_region)
        return
    if account_alias or only_region:
        raise click.UsageError("--account and --region choose among the accounts and Regions of an organization inventory")
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


def _wire_fleet(
    opts: GlobalOptions,
    loaded: LoadedInventory,
    fmt: str,
    callers: Sequence[str],
    dry_run: bool,
    yes: bool,
    spend_callback: bool,
    account_alias: str | None,
    only_region: str | None,
) -> None:
    with open_project(opts, loaded) as project:
        project.check_callers(callers)
        groups = project.fleet().wiring(callers, account=account_alias, region=only_region)
        if fmt == "ssm":
            for placement, target, rows in groups:
                console.note(f"{placement.label}:")
                _write_ssm(target, rows, dry_run, yes)
            return
    if fmt == "json":
        where = [
            {"account": p.account or t.account, "account_id": p.account_id or t.account, "region": p.region} for p, t, _ in groups
        ]
        console.print_json([r.to_dict() | w for (_, _, rows), w in zip(groups, where, strict=True) for r in rows])
        return
    seen: dict[tuple[str, str], list[str]] = {}
    for placement, _, rows in groups:
        for row in rows:
            seen.setdefault((row.caller, row.alias), []).append(placement.label)
    clashing = {k: v for k, v in seen.items() if len(v) > 1}
    if clashing:
        (caller, alias), labels = next(iter(clashing.items()))
        raise UsageError(
            f"caller {caller} has an AIP for {alias} in {len(labels)} accounts × Regions ({'; '.join(labels)}): "
            f"--format {fmt} holds one ARN per caller and model",
            hint="pick one with --account ALIAS and/or --region REGION (or use --format json or ssm)",
        )
    rows = [row for _, _, found in groups for row in found]
    if fmt == "env":
        print(render_env(rows), end="")
        return
    placement, target, _ = groups[0]
    regions = {p.region for p, _, _ in groups}
    if len(regions) > 1:
        raise UsageError(
            "a LiteLLM model_list from several Regions needs --region", hint=f"Regions: {', '.join(sorted(regions))}"
        )
    text = render_litellm(
        rows, placement.region, spend_callback=spend_callback, loaded=loaded.project(placement), account=target.account
    )
    print(text, end="")


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
