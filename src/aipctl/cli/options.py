"""Options and steps every command shares: the inventory file, --json, and opening the project.

A command is three steps: parse (click), call the :class:`aipctl.Project` facade, render::

    @click.command("list")
    @optional_file_option("Inventory whose region to list.")
    @json_option
    @pass_options
    def list_cmd(opts, inventory_file, as_json):
        with opts.project(load_optional_inventory(inventory_file)) as project:   # announces the target
            rows = project.live().profiles
        ...render rows...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from aipctl.cli.main import GlobalOptions
from aipctl.inventory import DEFAULT_INVENTORY, LoadedInventory, load_inventory

if TYPE_CHECKING:
    from aipctl.project import Project

F = TypeVar("F", bound=Callable[..., Any])

file_option = click.option(
    "-f",
    "--file",
    "inventory_file",
    default=DEFAULT_INVENTORY,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Inventory file.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
pass_options = click.make_pass_decorator(GlobalOptions)


def optional_file_option(help_text: str) -> Callable[[F], F]:
    """-f FILE for commands that work without an inventory too (its region and keys are used)."""
    return click.option(
        "-f",
        "--file",
        "inventory_file",
        default=None,
        type=click.Path(dir_okay=False),
        help=f"{help_text} Default: {DEFAULT_INVENTORY} if present.",
    )


def load_optional_inventory(inventory_file: str | None) -> LoadedInventory | None:
    """The inventory given with -f, else ./aipctl.yaml when present, else None (see optional_file_option)."""
    if inventory_file or Path(DEFAULT_INVENTORY).exists():
        return load_inventory(inventory_file or DEFAULT_INVENTORY)
    return None


@contextmanager
def open_project(opts: GlobalOptions, loaded: LoadedInventory | None) -> Iterator[Project]:
    """Open the project on the chosen target and say where it acts (account, Region, endpoint) before anything else."""
    from aipctl.cli import console
    from aipctl.project import Project

    with Project.open(
        loaded,
        target=opts.target,
        region=opts.region,
        profile=opts.profile,
        state_dir=opts.state_dir,
        endpoint_url=opts.endpoint_url,
    ) as project:
        console.announce(project.target)
        yield project


def confirm(yes: bool, target_info: dict[str, str], action: str = "apply") -> None:
    """Go on only with --yes, or after the user agreed on a terminal."""
    import sys

    from aipctl._exceptions import UsageError

    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{action} changes the account; pass --yes to confirm when not running on a terminal")
    where = f"account {target_info.get('account')} in {target_info.get('region')} ({target_info.get('target')})"
    click.confirm(f"{action.capitalize()} these changes to {where}?", abort=True, err=True)
