"""LangChain / LangGraph on a caller's AIP.

langchain-aws cannot tell the provider or the model behind an opaque AIP ARN, so tool use and
prompt caching misbehave unless ``base_model_id`` and ``provider`` are given; aipctl fills them in
from the AIP itself::

    from aipctl.integrations.langchain import chat_model, CostCallback
    llm = chat_model("open-webui", "sonnet")
    cost = CostCallback(llm.model_id)          # the AIP ARN: priced at its model *and* route
    llm.invoke("hello", config={"callbacks": [cost]})
    cost.total_usd   # Decimal, priced at the AIP's model and route
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from aipctl.wiring import Resolver, cost_of, default_resolver

try:
    from langchain_aws import ChatBedrockConverse
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.outputs import LLMResult
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("aipctl.integrations.langchain needs: pip install 'aipctl[langchain]'") from exc


def chat_model(
    caller: str, alias: str | None = None, *, resolver: Resolver | None = None, client: Any = None, **kwargs: Any
) -> ChatBedrockConverse:
    """A ``ChatBedrockConverse`` that calls ``caller``'s AIP, with the right base model and provider."""
    resolver = resolver or default_resolver()
    arn = resolver.resolve(caller, alias)
    info = resolver.describe(arn)
    return ChatBedrockConverse(
        model=arn,
        base_model=info.base_model,
        provider=info.base_model.split(".", 1)[0],
        client=client or resolver.client("bedrock-runtime"),
        region_name=resolver.region or arn.split(":")[3],
        **kwargs,
    )


class CostCallback(BaseCallbackHandler):
    """Adds up the cost of every LLM call it sees, priced behind the AIP ARN (``aipctl.cost_of``)."""

    def __init__(self, model_id: str | None = None, resolver: Resolver | None = None) -> None:
        super().__init__()
        #: LangChain reports the base model, not the AIP: give the ARN to price the route (global vs geo).
        self.model_id = model_id
        self.resolver = resolver
        self.total_usd = Decimal(0)
        self.calls = 0
        self._lock = threading.Lock()

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                usage = getattr(message, "usage_metadata", None)
                metadata = getattr(message, "response_metadata", None) or {}
                model = self.model_id or metadata.get("model_id") or metadata.get("model_name") or self._model_of(response)
                if not usage or not model:
                    continue
                details = usage.get("input_token_details") or {}
                amount = cost_of(
                    str(model),
                    {
                        "inputTokens": usage.get("input_tokens", 0)
                        - details.get("cache_read", 0)
                        - details.get("cache_creation", 0),
                        "outputTokens": usage.get("output_tokens", 0),
                        "cacheReadInputTokens": details.get("cache_read", 0),
                        "cacheWriteInputTokens": details.get("cache_creation", 0),
                    },
                    resolver=self.resolver,
                )
                with self._lock:
                    self.total_usd += amount
                    self.calls += 1

    @staticmethod
    def _model_of(response: LLMResult) -> str | None:
        output = response.llm_output or {}
        return output.get("model_id") or output.get("model")


def tenant_graph(tenant: str, alias: str | None = None, *, resolver: Resolver | None = None, **kwargs: Any) -> Any:
    """A two-node LangGraph (draft, then review) whose both steps call ``tenant``'s AIP."""
    from langgraph.graph import END, START, MessagesState, StateGraph

    llm = chat_model(tenant, alias, resolver=resolver, **kwargs)

    def draft(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    def review(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke([*state["messages"], ("user", "Review the answer above and improve it.")])]}

    graph = StateGraph(MessagesState)
    graph.add_node("draft", draft)
    graph.add_node("review", review)
    graph.add_edge(START, "draft")
    graph.add_edge("draft", "review")
    graph.add_edge("review", END)
    return graph.compile()
