"""aipctl tags activate|status: cost-allocation tags in Billing."""

from __future__ import annotations

import click

from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import json_option, open_project, optional_file_option, pass_options
from aipctl.inventory import DEFAULT_INVENTORY, LoadedInventory, load_inventory

NOT_RETROACTIVE = (
    "activation is not retroactive: only usage after activation carries the tag, and Cost Explorer shows it within about 24 hours"
)


def _keys_and_inventory(inventory_file: str | None, keys: tuple[str, ...]) -> tuple[list[str], LoadedInventory | None]:
    """--key values (the inventory, if given, only picks the Region), else the inventory's cost_tags."""
    if keys:
        return list(keys), load_inventory(inventory_file) if inventory_file else None
    loaded = load_inventory(inventory_file or DEFAULT_INVENTORY)
    return loaded.cost_tag_keys(), loaded


keys_option = click.option(
    "--key", "keys", multiple=True, help="Tag key to use instead of the inventory's cost_tags (repeatable)."
)


@click.group("tags")
def tags_group() -> None:
    """Cost-allocation tags (Billing): activate the inventory's cost_tags, show their status."""


@tags_group.command("activate")
@optional_file_option("Inventory whose cost_tags to activate.")
@keys_option
@json_option
@pass_options
def activate_cmd(opts: GlobalOptions, inventory_file: str | None, keys: tuple[str, ...], as_json: bool) -> int:
    """Activate tag keys for cost allocation (UpdateCostAllocationTagsStatus, 20 per call)."""
    from aipctl.aws.ce import CostAllocationTags

    wanted, loaded = _keys_and_inventory(inventory_file, keys)
    with open_project(opts, loaded) as project:
        result = CostAllocationTags(project.target).activate(wanted)
    if as_json:
        console.print_json({"activated": list(result.activated), "pending": [{"key": k, "reason": r} for k, r in result.pending]})
    else:
        if result.activated:
            console.out.print(f"activated: {', '.join(result.activated)}")
        for key, reason in result.pending:
            console.warn(f"{key} not activated yet: {reason}")
        console.warn(NOT_RETROACTIVE)
    return 1 if result.pending else 0


@tags_group.command("status")
@optional_file_option("Inventory whose cost_tags to show.")
@keys_option
@json_option
@pass_options
def status_cmd(opts: GlobalOptions, inventory_file: str | None, keys: tuple[str, ...], as_json: bool) -> None:
    """Show whether each cost-allocation tag is Active, Inactive or not yet known to Billing."""
    from rich.table import Table

    from aipctl.aws.ce import CostAllocationTags

    wanted, loaded = _keys_and_inventory(inventory_file, keys)
    with open_project(opts, loaded) as project:
        statuses = CostAllocationTags(project.target).status(wanted)
    if as_json:
        console.print_json([{"key": s.key, "status": s.status, "last_updated": s.last_updated} for s in statuses])
        return
    table = Table(header_style="bold")
    table.add_column("tag key")
    table.add_column("status")
    table.add_column("last updated")
    for s in statuses:
        style = {"Active": "green", "Inactive": "yellow"}.get(s.status, "red")
        table.add_row(s.key, f"[{style}]{s.status}[/]", s.last_updated or "")
    console.out.print(table)
    if any(s.status != "Active" for s in statuses):
        console.warn("run `aipctl tags activate`; " + NOT_RETROACTIVE)
