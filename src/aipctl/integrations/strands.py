"""Strands Agents on a caller's AIP (``pip install 'aipctl[strands]'``)::

from strands import Agent
from aipctl.integrations.strands import bedrock_model, agent_cost
model = bedrock_model("receptionist")             # BedrockModel(model_id=<the caller's AIP ARN>)
result = Agent(model=model, tools=[...])("...")
agent_cost(model, result)                         # Decimal USD, priced behind the ARN
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aipctl.wiring import Resolver, cost_of, default_resolver

try:
    from strands.models import BedrockModel
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("aipctl.integrations.strands needs: pip install 'aipctl[strands]'") from exc


def bedrock_model(
    caller: str, alias: str | None = None, *, resolver: Resolver | None = None, session: Any = None, **kwargs: Any
) -> BedrockModel:
    """A Strands ``BedrockModel`` that calls ``caller``'s AIP for ``alias``."""
    resolver = resolver or default_resolver()
    arn = resolver.resolve(caller, alias)
    options: dict[str, Any] = {"model_id": arn, **kwargs}
    boto_session = session or resolver.session
    if boto_session is not None:
        options["boto_session"] = boto_session  # Strands takes the Region from the session then
    else:
        options["region_name"] = resolver.region or arn.split(":")[3]
    if resolver.endpoint_url and "endpoint_url" not in options:
        options["endpoint_url"] = resolver.endpoint_url
    return BedrockModel(**options)


def agent_cost(model: BedrockModel, result: Any, *, resolver: Resolver | None = None) -> Decimal:
    """USD cost of an agent run (all its model calls) on ``model``'s AIP."""
    usage = dict(result.metrics.accumulated_usage)
    return cost_of(str(model.config["model_id"]), usage, resolver=resolver)
