"""A Strands agent with one tool on a caller's AIP (``pip install 'aipctl[strands]'``).

python examples/strands_agent.py receptionist     # against `aipctl sim serve` or AWS, see boto3_converse.py
"""

from __future__ import annotations

import json
import sys

from strands import Agent, tool

from aipctl.integrations.strands import agent_cost, bedrock_model


@tool
def open_slots(day: str) -> str:
    """Free appointment slots on a day."""
    return f"{day}: 09:30, 11:00, 15:45"


def main(caller: str) -> dict[str, object]:
    model = bedrock_model(caller)
    result = Agent(model=model, tools=[open_slots], callback_handler=None)("Which slots are free on Monday?")
    return {
        "caller": caller,
        "aip_arn": model.config["model_id"],
        "answer": str(result)[:120],
        "usage": result.metrics.accumulated_usage,
        "cost_usd": str(agent_cost(model, result)),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "receptionist"), indent=2, default=str))
