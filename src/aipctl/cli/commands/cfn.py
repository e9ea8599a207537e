"""aipctl cfn render (``apply --via cloudformation`` deploys the same templates as stacks)."""

from __future__ import annotations

from pathlib import Path

import click

from aipctl.cli import console
from aipctl.cli.options import file_option
from aipctl.inventory import load_inventory


@click.group("cfn")
def cfn_group() -> None:
    """CloudFormation templates: one stack `bedrock-aip-<caller>` per caller."""


@cfn_group.command("render")
@file_option
@click.option(
    "-o",
    "--out",
    "out_dir",
    default="cfn",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory for the templates.",
)
@click.option("--caller", "callers", multiple=True, help="Only these callers (repeatable).")
def render_cmd(inventory_file: str, out_dir: str, callers: tuple[str, ...]) -> None:
    """Write bedrock-aip-<caller>.yaml for each caller (deployable with `aws cloudformation deploy`)."""
    from aipctl._exceptions import UsageError
    from aipctl.cfn.template import render_caller_template, stack_name, to_yaml

    loaded = load_inventory(inventory_file)
    unknown = sorted(set(callers) - set(loaded.inventory.callers))
    if unknown:
        raise UsageError(f"unknown caller(s): {', '.join(unknown)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for caller in callers or sorted(loaded.inventory.callers):
        path = out / f"{stack_name(caller)}.yaml"
        path.write_text(to_yaml(render_caller_template(loaded, caller)), encoding="utf-8")
        console.note(f"wrote {path}")
