"""LiteLLM on a caller's AIP (``pip install 'aipctl[litellm]'``).

LiteLLM finds no provider for ``bedrock/<aip-arn>`` and prices a bare AIP ARN at $0; the working
form is ``bedrock/converse/<aip-arn>`` with ``base_model`` naming the model the AIP stands for::

    import litellm
    from aipctl.integrations.litellm import completion_args
    response = litellm.completion(messages=[...], **completion_args("open-webui", "sonnet"))
    response._hidden_params["response_cost"]     # non-zero, at the AIP's model and route

Embeddings: ``litellm.embedding(input=[...], **embedding_args("daily-briefing", "embed"))`` (the
base model names the provider, ``model_id`` the AIP). The proxy form of both is ``aipctl wire --format litellm``.
"""

from __future__ import annotations

import os
from typing import Any

from aipctl.wiring import Resolver, default_resolver
from aipctl.wiring.rows import litellm_pricing

# LiteLLM fetches its price map from GitHub at import unless told to use the copy it ships.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _through(caller: str, alias: str | None, resolver: Resolver | None) -> tuple[str, str, dict[str, Any]]:
    """(AIP ARN, the model it stands for as LiteLLM names it, the connection arguments) for ``caller``."""
    resolver = resolver or default_resolver()
    arn = resolver.resolve(caller, alias)
    info = resolver.describe(arn)
    source = f"{info.source.geo}.{info.base_model}" if info.source.geo else info.base_model
    connection: dict[str, Any] = {"aws_region_name": resolver.region or arn.split(":")[3]}
    if resolver.endpoint_url:
        connection["aws_bedrock_runtime_endpoint"] = resolver.endpoint_url
    return arn, source, connection


def completion_args(caller: str, alias: str | None = None, *, resolver: Resolver | None = None) -> dict[str, Any]:
    """Keyword arguments for ``litellm.completion`` that route through ``caller``'s AIP and price it right."""
    arn, source, connection = _through(caller, alias, resolver)
    prices = litellm_pricing(source, arn.split(":")[3])
    return {"model": f"bedrock/converse/{arn}", "base_model": f"bedrock/{source}", **connection, **prices}


def embedding_args(caller: str, alias: str | None = None, *, resolver: Resolver | None = None) -> dict[str, Any]:
    """Keyword arguments for ``litellm.embedding`` through ``caller``'s AIP.

    Embeddings are InvokeModel calls whose body depends on the provider, which LiteLLM reads from
    ``model``; an AIP ARN names none. So ``model`` names the base model (``bedrock/amazon.titan-embed-…``)
    and ``model_id`` the AIP, which is what LiteLLM invokes (Bedrock takes an AIP ARN as the modelId)::

        litellm.embedding(input=["…"], **embedding_args("daily-briefing", "embed"))
    """
    arn, source, connection = _through(caller, alias, resolver)
    return {"model": f"bedrock/{source}", "model_id": arn, **connection}
