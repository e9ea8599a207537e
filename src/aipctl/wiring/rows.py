"""Which AIP each caller's code should call, from live state (never guessed ARNs), and the files that say so.

``aipctl wire`` renders :func:`wiring_rows` as environment variables (:func:`render_env`), a LiteLLM
proxy ``model_list`` (:func:`render_litellm`), SSM parameters or JSON.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass

from aipctl._exceptions import UsageError
from aipctl.aws.live import ManagedProfiles
from aipctl.inventory import LoadedInventory, rules
from aipctl.pricing import ModelRef
from aipctl.wiring import env_name, ssm_name


@dataclass(frozen=True)
class WiringRow:
    """One caller × model alias and the AIP it calls."""

    caller: str
    alias: str
    arn: str
    profile_id: str
    model_source: str | None
    base_model: str
    geo: str | None
    env_var: str
    env_var_single: str | None  # BEDROCK_AIP_ARN, for a caller with one model
    ssm_parameter: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def wiring_rows(loaded: LoadedInventory, managed: ManagedProfiles, callers: Collection[str] = ()) -> list[WiringRow]:
    """One row per caller × alias of the inventory (only ``callers`` when given); every AIP must exist."""
    wanted = set(callers) or set(loaded.inventory.callers)
    rows, missing = [], []
    for desired in loaded.profiles:
        if desired.caller not in wanted:
            continue
        profile = managed.get(desired.caller, desired.alias)
        if profile is None:
            missing.append(desired.name)
            continue
        ref = ModelRef.from_source(profile.tags.get(rules.TAG_SOURCE, desired.source.model_id))
        single = len(loaded.inventory.callers[desired.caller].models) == 1
        rows.append(
            WiringRow(
                caller=desired.caller,
                alias=desired.alias,
                arn=profile.arn,
                profile_id=profile.profile_id,
                model_source=profile.tags.get(rules.TAG_SOURCE),
                base_model=ref.model_id,
                geo=ref.geo,
                env_var=env_name(desired.alias),
                env_var_single=env_name(None) if single else None,
                ssm_parameter=ssm_name(desired.caller, desired.alias),
            )
        )
    if missing:
        raise UsageError(
            f"no AIP yet for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}", hint="run `aipctl apply` first"
        )
    return rows


def _tenant_entries(
    row: WiringRow, region: str, source: str, loaded: LoadedInventory | None, account: str | None
) -> list[dict[str, object]]:
    if loaded is None or account is None or not loaded.inventory.callers[row.caller].tenants:
        return []
    from aipctl.sessions import role_arn, tenant_tags

    role = role_arn(loaded, row.caller, account)
    route: dict[str, object] = (
        {"model": f"bedrock/{source}", "model_id": row.arn} if is_embedding(row) else {"model": f"bedrock/converse/{row.arn}"}
    )
    return [
        {
            "model_name": f"{row.caller}/{tenant}/{row.alias}",
            "litellm_params": {
                **route,
                "aws_region_name": region,
                "aws_role_name": role,
                "aws_session_name": tenant,
                "aws_session_tags": [{"Key": k, "Value": v} for k, v in sorted(tenant_tags(loaded, row.caller, tenant).items())],
            },
            "model_info": {"base_model": f"bedrock/{source}", "aipctl_caller": row.caller, "aipctl_tenant": tenant},
        }
        for tenant in sorted(loaded.inventory.callers[row.caller].tenants)
    ]


def render_env(rows: Sequence[WiringRow]) -> str:
    out: list[str] = []
    current = None
    for row in rows:
        if row.caller != current:
            current = row.caller
            out += ([""] if out else []) + [f"# {current}", f"AIPCTL_CALLER={current}"]
        if row.env_var_single:
            out.append(f"{row.env_var_single}={row.arn}")
        out.append(f"{row.env_var}={row.arn}")
    return "\n".join(out) + "\n"


#: LiteLLM's custom-pricing parameters (``litellm.types.utils.CustomPricingLiteLLMParams``) per token kind.
_LITELLM_PRICES = (
    ("input_cost_per_token", "input"),
    ("output_cost_per_token", "output"),
    ("cache_read_input_token_cost", "cache_read"),
    ("cache_creation_input_token_cost", "cache_write"),
    ("cache_creation_input_token_cost_above_1hr", "cache_write_1h"),
)


def litellm_pricing(source: str, region: str) -> dict[str, float]:
    """LiteLLM's per-token custom prices from aipctl's price book, so LiteLLM's ``response_cost`` is aipctl's figure
    (its own map knows no AIP and may differ by Region); empty when the book has no price (LiteLLM falls back
    to ``base_model``)."""
    from aipctl.pricing import KINDS, Unpriced, price_book

    try:
        price, per_token = price_book().per_token(ModelRef.from_source(source, region))
    except Unpriced:
        return {}
    rates = dict(zip(KINDS, per_token, strict=True))
    return {name: float(rates[kind]) for name, kind in _LITELLM_PRICES if kind not in price.missing}


def is_embedding(row: WiringRow) -> bool:
    """An embedding model (Titan, Cohere, Nova, TwelveLabs embed …): Bedrock ids of embedding models say ``embed``."""
    return "embed" in (row.model_source or row.base_model).lower()


def render_litellm(
    rows: Sequence[WiringRow],
    region: str,
    *,
    spend_callback: bool = False,
    loaded: LoadedInventory | None = None,
    account: str | None = None,
) -> str:
    """A LiteLLM proxy model_list: bedrock/converse/<arn> (bedrock/<arn> finds no provider), priced as the base model.

    With one caller the model names are its aliases; with several, ``<caller>/<alias>``. With
    ``loaded`` and ``account``, a caller's tenants get one deployment each per alias
    (``<caller>/<tenant>/<alias>``) that assumes the caller's role as the tenant: LiteLLM's
    ``aws_role_name``, ``aws_session_name`` and ``aws_session_tags`` (LiteLLM since September 2026, BerriAI/litellm
    #40446; tested with 1.102), so the bill tells the tenants apart as ``aipctl.session_for`` does (LiteLLM sets no
    SourceIdentity and no transitive keys).
    """
    import yaml

    single_caller = len({r.caller for r in rows}) == 1
    entries: list[dict[str, object]] = []
    for row in rows:
        source = row.model_source or row.base_model
        if is_embedding(row):
            # Embeddings are InvokeModel, not Converse: LiteLLM picks the request shape from ``model`` (it must
            # name the provider: amazon, cohere …) and invokes ``model_id`` — the AIP (LiteLLM's bedrock embed
            # handler, `optional_params.pop("model_id")`; Bedrock accepts an AIP ARN as InvokeModel's modelId).
            params: dict[str, object] = {"model": f"bedrock/{source}", "model_id": row.arn, "aws_region_name": region}
            info: dict[str, object] = {"base_model": f"bedrock/{source}", "mode": "embedding", "aipctl_caller": row.caller}
        else:
            params = {"model": f"bedrock/converse/{row.arn}", "aws_region_name": region, **litellm_pricing(source, region)}
            # LiteLLM cannot price an opaque AIP ARN: tell it which model the AIP stands for.
            info = {"base_model": f"bedrock/{source}", "aipctl_caller": row.caller}
        entries.append(
            {
                "model_name": row.alias if single_caller else f"{row.caller}/{row.alias}",
                "litellm_params": params,
                "model_info": info,
            }
        )
        entries += _tenant_entries(row, region, source, loaded, account)
    header = "# LiteLLM proxy config written by `aipctl wire --format litellm`: each model goes through its caller's AIP.\n"
    config: dict[str, object] = {"model_list": entries}
    if spend_callback:
        config["litellm_settings"] = {"callbacks": ["aipctl.integrations.litellm_spend.spend_logger"]}
    return header + yaml.safe_dump(config, sort_keys=False)
