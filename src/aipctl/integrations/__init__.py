"""Framework integrations (optional extras): each keeps the provider and a non-zero cost behind an AIP ARN.

``pip install 'aipctl[langchain]'`` for :mod:`aipctl.integrations.langchain` (LangChain and LangGraph),
``[strands]`` for :mod:`~aipctl.integrations.strands`, ``[litellm]`` for :mod:`~aipctl.integrations.litellm`.
:func:`for_tenant` is the one entry point for all of them (and plain boto3).
"""

from __future__ import annotations

from typing import Any

from aipctl._exceptions import UnknownCaller, UsageError
from aipctl.wiring import Resolver, attach, default_resolver


def for_tenant(
    tenant: str,
    *,
    framework: str = "boto3",
    alias: str | None = None,
    session: Any = None,
    resolver: Resolver | None = None,
    strict: bool = True,
    limits: Any = None,
    **client_kwargs: Any,
) -> Any:
    """A client or model bound to ``tenant``'s AIPs (the AIP workshop's tenant-aware pattern).

    ``framework="boto3"``: a bedrock-runtime client (``attach``-ed); ``"langchain"``: a
    ``ChatBedrockConverse``; ``"strands"``: a Strands ``BedrockModel``; ``"litellm"``: keyword
    arguments for ``litellm.completion`` — each on the tenant's AIP for ``alias``. An unknown tenant
    is a clear error.
    """
    import boto3

    resolver = resolver or default_resolver()
    if tenant not in resolver.callers():
        known = ", ".join(resolver.callers()) or "none"
        raise UnknownCaller(f"unknown tenant {tenant!r} (known: {known})", hint="add it to the inventory and run `aipctl apply`")
    if framework == "langchain":
        from aipctl.integrations.langchain import chat_model

        return chat_model(tenant, alias, resolver=resolver, **client_kwargs)
    if framework == "strands":
        from aipctl.integrations.strands import bedrock_model

        return bedrock_model(tenant, alias, resolver=resolver, session=session, **client_kwargs)
    if framework == "litellm":
        from aipctl.integrations.litellm import completion_args

        return completion_args(tenant, alias, resolver=resolver)
    if framework != "boto3":
        raise UsageError(f"framework {framework!r}: use boto3, langchain, strands or litellm")
    kwargs = {"region_name": resolver.region, **client_kwargs}
    if resolver.endpoint_url and "endpoint_url" not in kwargs:
        kwargs["endpoint_url"] = resolver.endpoint_url
    client = (session or resolver.session or boto3.Session()).client("bedrock-runtime", **kwargs)
    return attach(client, tenant, strict=strict, resolver=resolver, limits=limits)
