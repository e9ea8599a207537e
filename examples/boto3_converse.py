"""Route a plain boto3 client through a caller's AIP, and price the call behind the opaque ARN.

    aipctl sim serve --port 4566 &            # or real AWS: skip this line and the exports
    export AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID=AKIAAIPCTLSIMULATOR1 \\
           AWS_SECRET_ACCESS_KEY=x AWS_REGION=eu-central-1
    aipctl --target aws apply --yes           # the example inventory's AIPs
    python examples/boto3_converse.py open-webui

The code keeps using model ids it always used ("sonnet", "eu.anthropic.claude-sonnet-4-6", ...);
one line (aipctl.attach) sends every call to the caller's AIP, so its cost lands on its tag.
"""

from __future__ import annotations

import json
import sys

import boto3

import aipctl


def main(caller: str) -> dict[str, object]:
    runtime = aipctl.attach(boto3.client("bedrock-runtime"), caller)  # the one line
    answer = runtime.converse(
        modelId="eu.anthropic.claude-sonnet-4-6",
        messages=[{"role": "user", "content": [{"text": "Summarise yesterday's Bedrock bill in one sentence."}]}],
        inferenceConfig={"maxTokens": 200},
    )
    streamed = runtime.converse_stream(modelId="sonnet", messages=[{"role": "user", "content": [{"text": "And today?"}]}])
    stream_usage = next(e["metadata"]["usage"] for e in streamed["stream"] if "metadata" in e)
    arn = aipctl.resolve(caller, "sonnet")
    embedding = aipctl.attach(boto3.client("bedrock-runtime"), "daily-briefing").invoke_model(
        modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "bill summary"})
    )
    embed_tokens = int(embedding["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"])
    return {
        "caller": caller,
        "aip_arn": arn,
        "converse_usage": answer["usage"],
        "converse_cost_usd": str(aipctl.cost_of(arn, answer["usage"])),
        "stream_cost_usd": str(aipctl.cost_of(arn, stream_usage)),
        "embedding_cost_usd": str(aipctl.cost_of(aipctl.resolve("daily-briefing", "embed"), {"inputTokens": embed_tokens})),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "open-webui"), indent=2))
