"""LiteLLM SDK through a caller's AIP, with LiteLLM's own cost (``pip install 'aipctl[litellm]'``).

python examples/litellm_sdk.py open-webui     # against `aipctl sim serve` or AWS, see boto3_converse.py
"""

from __future__ import annotations

import json
import os
import sys

from aipctl.integrations.litellm import completion_args


def main(caller: str) -> dict[str, object]:
    import litellm

    from aipctl.wiring import Resolver

    resolver = Resolver(endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    args = completion_args(caller, "sonnet", resolver=resolver)
    response = litellm.completion(messages=[{"role": "user", "content": "One line on per-caller Bedrock costs."}], **args)
    return {
        "caller": caller,
        "model": args["model"],
        "usage": response.usage.model_dump(),
        "litellm_cost_usd": response._hidden_params.get("response_cost"),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "open-webui"), indent=2, default=str))
