"""Load generator of ``aipctl bench runtime``: ``python -m benchmarks.load_probe URL MODEL SECONDS THREADS``.

Prints the number of InvokeModel calls completed (after one warm-up call per thread).
"""

from __future__ import annotations

import json
import sys
import threading
import time

BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "How much did the chat team spend?"}],
    }
)


def main(url: str, model: str, seconds: float, threads: int) -> int:
    import boto3
    from botocore.config import Config

    counts = [0] * threads

    def worker(index: int) -> None:
        client = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="AKIABENCH",
            aws_secret_access_key="x",
            config=Config(retries={"total_max_attempts": 1}, max_pool_connections=4),
        )
        client.invoke_model(modelId=model, body=BODY)["body"].read()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            client.invoke_model(modelId=model, body=BODY)["body"].read()
            counts[index] += 1

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sum(counts)


if __name__ == "__main__":
    print(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
