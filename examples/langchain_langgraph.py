"""LangChain and LangGraph on a caller's AIP (``pip install 'aipctl[langchain]'``).

    python examples/langchain_langgraph.py open-webui      # against `aipctl sim serve` or AWS, see boto3_converse.py

The chat model gets the AIP ARN plus the base model and provider, so tool use and streaming work;
the cost callback prices every call behind the opaque ARN.
"""

from __future__ import annotations

import json
import sys

from langchain_core.tools import tool

from aipctl.integrations.langchain import CostCallback, chat_model, tenant_graph


@tool
def team_spend(team: str, days: int) -> str:
    """Bedrock spend of a team over the last days."""
    return f"{team} spent 42.17 USD in {days} days"


def main(caller: str) -> dict[str, object]:
    llm = chat_model(caller, "sonnet")
    cost = CostCallback(llm.model_id)
    config = {"callbacks": [cost]}
    answer = llm.invoke("In one sentence: why tag Bedrock usage per caller?", config=config)
    tool_call = llm.bind_tools([team_spend]).invoke("What did the platform team spend this week?", config=config).tool_calls[0]
    streamed = "".join(str(chunk.content) for chunk in llm.stream("Stream a short greeting.", config=config))
    graph = tenant_graph(caller, "sonnet")
    final = graph.invoke({"messages": [("user", "Draft a one-line status update.")]}, config=config)
    return {
        "caller": caller,
        "aip_arn": llm.model_id,
        "answer_tokens": answer.usage_metadata,
        "tool_call": tool_call["name"],
        "streamed_chars": len(streamed),
        "graph_messages": len(final["messages"]),
        "llm_calls": cost.calls,
        "cost_usd": str(cost.total_usd),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "open-webui"), indent=2, default=str))
