"""aipctl prices: the price book every cost figure is priced with (AWS Price List API)."""

from __future__ import annotations

from typing import Any

import click

from aipctl.cli import console
from aipctl.cli.main import GlobalOptions
from aipctl.cli.options import json_option, load_optional_inventory, open_project, optional_file_option, pass_options


@click.group("prices")
def prices_group() -> None:
    """The price book: AWS Price List prices per model, Region, route, service tier and token kind."""


@prices_group.command("refresh")
@optional_file_option("Inventory whose Region to price.")
@click.option("--region", "regions", multiple=True, help="Price these Regions (repeatable; default: the target's Region).")
@click.option("--all-regions", is_flag=True, help="Price every Region the Price List has (slower: ~80 requests).")
@json_option
@pass_options
def refresh_cmd(
    opts: GlobalOptions, inventory_file: str | None, regions: tuple[str, ...], all_regions: bool, as_json: bool
) -> None:
    """Read Bedrock's prices from the AWS Price List API (GetProducts) into the state directory's price book."""
    if all_regions and regions:
        raise click.UsageError("--region and --all-regions exclude each other")
    with open_project(opts, load_optional_inventory(inventory_file)) as project:
        wanted = None if all_regions else sorted({*regions} or {project.target.region})
        with console.progress_bar("reading the Price List") as bar:
            refreshed = project.refresh_prices(wanted, progress=bar)
        from aipctl.pricing import cache_path

        path = cache_path(project.state_dir, project.target.kind)
    summary: dict[str, Any] = {
        "path": str(path),
        "source": refreshed.book["source"],
        "generated": refreshed.book["generated"],
        "regions": refreshed.regions or "all",
        "models": len(refreshed.book["models"]),
        "products": refreshed.parsed.products,
        "rates": len(refreshed.parsed.rates),
        "skipped": refreshed.parsed.skipped,
        "unparsed": dict(refreshed.parsed.unparsed.most_common()),
        "unmapped": refreshed.unmapped,
    }
    if as_json:
        console.print_json(summary)
        return
    console.out.print(
        f"priced {summary['models']} models from {summary['products']:,} products "
        f"({summary['rates']:,} token rates, {summary['skipped']:,} capacity/other rates skipped) -> {path}",
        highlight=False,
    )
    if refreshed.parsed.unparsed:
        console.warn(
            f"{sum(refreshed.parsed.unparsed.values())} products had a usage type or unit aipctl cannot read "
            f"(e.g. {next(iter(refreshed.parsed.unparsed))}); they are not priced"
        )
    if refreshed.unmapped:
        console.note(f"{len(refreshed.unmapped)} priced models are not served here: {', '.join(refreshed.unmapped[:5])} …")


@prices_group.command("show")
@click.option("--model", "model_id", help="Only this model id (e.g. anthropic.claude-sonnet-4-6).")
@click.option("--region", help="Prices in this Region (default: the book's most common price).")
@json_option
@pass_options
def show_cmd(opts: GlobalOptions, model_id: str | None, region: str | None, as_json: bool) -> None:
    """Which price book is in use (source, date) and its rates in USD per million tokens."""
    from aipctl import pricing

    book = pricing.use_state_dir(opts.state_dir, opts.target)
    models = {model_id: book.models[model_id]} if model_id and model_id in book.models else book.models
    if model_id and model_id not in book.models:
        raise click.BadParameter(f"{model_id} is not in the price book ({book.describe()['path']})", param_hint="--model")
    rows = []
    for mid, entry in sorted(models.items()):
        ref = pricing.ModelRef(mid, region=region)
        for name in sorted(entry["rates"]):
            route, tier, kind = name.split("/")
            value = book.rate(pricing.ModelRef(mid, "global" if route == "global" else None, region), kind, tier)
            if value is not None:
                rows.append({"model": ref.model_id, "route": route, "tier": tier, "kind": kind, "usd_per_million": float(value)})
    if as_json:
        console.print_json({"book": book.describe(), "region": region, "rates": rows})
        return
    info = book.describe()
    console.out.print(f"price book: {info['source']}, {info['generated']} ({info['path']})", highlight=False)
    for row in rows:
        console.out.print(
            f"{row['model']:<44} {row['route']:<8} {row['tier']:<8} {row['kind']:<15} ${row['usd_per_million']:,.4f}",
            highlight=False,
        )
