"""aipctl wire: give each caller its AIP ARNs (env, SSM, LiteLLM model_list, JSON), from live state."""

from __future__ import annotations

from typing import Any

import click

from aipctl._exceptions import UsageError
from aipctl.cli import console
from aipctl.cli.commands.core import file_option, pass_options
from aipctl.cli.main import GlobalOptions
from aipctl.inventory import load_inventory, rules
from aipctl.pricing import ModelRef
from aipctl.wiring import env_name, ssm_name


@click.command("wire")
@file_option
@click.option("--format", "fmt", type=click.Choice(["env", "ssm", "litellm", "json"]), default="env", show_default=True)
@click.option("--caller", "callers", multiple=True, help="Only these callers (repeatable).")
@click.option("--dry-run", is_flag=True, help="With --format ssm: list the parameters instead of writing them.")
@click.option(
    "--spend-callback",
    is_flag=True,
    help="With --format litellm: log each call's caller and cost (aipctl must be installed where the proxy runs).",
)
@pass_options
def wire_cmd(
    opts: GlobalOptions, inventory_file: str, fmt: str, callers: tuple[str, ...], dry_run: bool, spend_callback: bool
) -> None:
    """Print or store each caller's AIP ARNs: env vars, SSM parameters, a LiteLLM model_list, JSON."""
    from aipctl.plan.reconcile import read_live_state

    loaded = load_inventory(inventory_file)
    unknown = sorted(set(callers) - set(loaded.inventory.callers))
    if unknown:
        raise UsageError(f"unknown caller(s): {', '.join(unknown)}", hint=f"callers: {', '.join(loaded.inventory.callers)}")
    with opts.open(loaded.inventory.region) as target:
        console.announce(target)
        live = read_live_state(target, []).profiles
        rows = wiring_rows(loaded, live, callers)
        if fmt == "ssm":
            _write_ssm(target, rows, dry_run)
            return
    if fmt == "json":
        console.print_json(rows)
    elif fmt == "env":
        print(render_env(rows), end="")
    else:
        single = len({r["caller"] for r in rows}) == 1
        print(render_litellm(rows, loaded.inventory.region, single_caller=single, spend_callback=spend_callback), end="")


def wiring_rows(loaded: Any, live: Any, callers: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One row per caller × alias, from the AIPs this inventory manages (never guessed ARNs)."""
    wanted = set(callers) or set(loaded.inventory.callers)
    found = {
        (p.tags.get(rules.TAG_CALLER), p.tags.get(rules.TAG_ALIAS)): p
        for p in live
        if p.tags.get(rules.TAG_MANAGED) == loaded.inventory.name
    }
    rows, missing = [], []
    for desired in loaded.profiles:
        if desired.caller not in wanted:
            continue
        profile = found.get((desired.caller, desired.alias))
        if profile is None:
            missing.append(desired.name)
            continue
        ref = ModelRef.from_source(profile.tags.get(rules.TAG_SOURCE, desired.source.model_id))
        single = len(loaded.inventory.callers[desired.caller].models) == 1
        rows.append(
            {
                "caller": desired.caller,
                "alias": desired.alias,
                "arn": profile.arn,
                "profile_id": profile.profile_id,
                "model_source": profile.tags.get(rules.TAG_SOURCE),
                "base_model": ref.model_id,
                "geo": ref.geo,
                "env_var": env_name(desired.alias),
                "env_var_single": env_name(None) if single else None,
                "ssm_parameter": ssm_name(desired.caller, desired.alias),
            }
        )
    if missing:
        raise UsageError(
            f"no AIP yet for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}", hint="run `aipctl apply` first"
        )
    return rows


def render_env(rows: list[dict[str, Any]]) -> str:
    out: list[str] = []
    current = None
    for row in rows:
        if row["caller"] != current:
            current = row["caller"]
            out += ([""] if out else []) + [f"# {current}", f"AIPCTL_CALLER={current}"]
        if row["env_var_single"]:
            out.append(f"{row['env_var_single']}={row['arn']}")
        out.append(f"{row['env_var']}={row['arn']}")
    return "\n".join(out) + "\n"


def render_litellm(rows: list[dict[str, Any]], region: str, single_caller: bool, spend_callback: bool = False) -> str:
    """A LiteLLM proxy model_list: bedrock/converse/<arn> (bedrock/<arn> finds no provider), priced as the base model."""
    import yaml

    entries = []
    for row in rows:
        source = row["model_source"] or row["base_model"]
        entries.append(
            {
                "model_name": row["alias"] if single_caller else f"{row['caller']}/{row['alias']}",
                "litellm_params": {"model": f"bedrock/converse/{row['arn']}", "aws_region_name": region},
                # LiteLLM cannot price an opaque AIP ARN: tell it which model the AIP stands for.
                "model_info": {"base_model": f"bedrock/{source}", "aipctl_caller": row["caller"]},
            }
        )
    header = "# LiteLLM proxy config written by `aipctl wire --format litellm`: each model goes through its caller's AIP.\n"
    config: dict[str, Any] = {"model_list": entries}
    if spend_callback:
        config["litellm_settings"] = {"callbacks": ["aipctl.integrations.litellm_spend.spend_logger"]}
    return header + yaml.safe_dump(config, sort_keys=False)


def _write_ssm(target: Any, rows: list[dict[str, Any]], dry_run: bool) -> None:
    from aipctl.aws.ssm import Parameters

    store = Parameters(target)
    for row in rows:
        name, value = row["ssm_parameter"], row["arn"]
        if dry_run:
            console.out.print(f"{name} = {value}", highlight=False)
            continue
        changed = store.put_if_changed(name, value, f"aipctl: AIP of caller {row['caller']} for model {row['alias']}")
        console.out.print(f"{'wrote' if changed else 'unchanged'} {name}", highlight=False)
