"""aipctl cfn render, and the CloudFormation flavour of apply."""

from __future__ import annotations

from pathlib import Path

import click

from aipctl._exceptions import ApplyFailed
from aipctl.cli import console
from aipctl.cli.commands.core import _confirm, file_option
from aipctl.cli.main import GlobalOptions
from aipctl.inventory import LoadedInventory, load_inventory


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


def apply_stacks(
    opts: GlobalOptions, loaded: LoadedInventory, *, as_json: bool, yes: bool, prune: bool, skip_cost_tags: bool
) -> int:
    from aipctl.aws.ce import CostAllocationTags
    from aipctl.cfn import deploy

    with opts.open(loaded.inventory.region) as target:
        info = console.announce(target)
        changes = deploy.plan_stacks(loaded, target, prune=prune)
        todo = [c for c in changes if c.action != "no-op"]
        for change in todo:
            console.err.print(f"  {change.action:<7} stack {change.stack}", highlight=False)
        if not todo:
            console.note(f"No changes. {len(changes)} stack(s) up to date.")
            if as_json:
                console.print_json(deploy.StackReport(changes).to_dict())
            return 0
        _confirm(yes, info)
        report = deploy.apply_stacks(loaded, target, todo)
        activation = None
        if not skip_cost_tags and not report.failed:
            activation = CostAllocationTags(target).activate(loaded.inventory.cost_tags)
    if as_json:
        out = report.to_dict()
        out["cost_tags"] = (
            {"activated": list(activation.activated), "pending": [list(p) for p in activation.pending]} if activation else None
        )
        console.print_json(out)
    else:
        for change, outputs in report.applied:
            console.out.print(
                f"{change.action}d stack {change.stack}" + "".join(f"\n    {k}: {v}" for k, v in sorted(outputs.items())),
                highlight=False,
            )
        for change, error in report.failed:
            console.err.print(f"[red]failed[/] {change.action} {change.stack}: {error}", highlight=False)
    if report.failed:
        raise ApplyFailed(f"{len(report.failed)} stack(s) failed", failures=[(c.stack, e) for c, e in report.failed])
    return 0
