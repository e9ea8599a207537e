"""Overhead of ``aipctl.attach`` per runtime call.

Measures botocore's ``provide-client-params`` emission for Converse on a real bedrock-runtime
client with aipctl's handler registered (rewriting an alias to the AIP ARN) against the same
emission without it (baseline), over many iterations; no network is involved, so the difference
is aipctl's cost per call.
"""

from __future__ import annotations

import time
from typing import Any

ARN = "arn:aws:bedrock:eu-central-1:123456789012:application-inference-profile/abcdefabcdef"


class StaticResolver:
    """Stands in for the live account: attach() resolves once, at attach time."""

    def profiles_of(self, caller: str) -> dict[str, Any]:
        from aipctl.pricing import ModelRef
        from aipctl.wiring import AipInfo

        return {"sonnet": AipInfo(ARN, "abcdefabcdef", caller, "sonnet", ModelRef("anthropic.claude-sonnet-4-6", "eu"), "bench")}

    def brakes_of(self, caller: str, max_age_s: float) -> dict[str, str]:
        return {}  # never braked: the benchmark measures the unbraked path


def _per_call_us(client: Any, iterations: int) -> float:
    emit = client.meta.events.emit
    event = "provide-client-params.bedrock-runtime.Converse"
    started = time.perf_counter()
    for _ in range(iterations):
        params = {"modelId": "sonnet", "messages": []}
        emit(event, params=params, model=None, context={})
    return (time.perf_counter() - started) / iterations * 1e6


def run(iterations: int = 200_000) -> dict[str, Any]:
    import boto3

    from aipctl.wiring import attach

    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-central-1")
    plain = session.client("bedrock-runtime")
    wired = attach(session.client("bedrock-runtime"), "bench", resolver=StaticResolver())  # type: ignore[arg-type]
    params = {"modelId": "sonnet", "messages": []}
    wired.meta.events.emit("provide-client-params.bedrock-runtime.Converse", params=params, model=None, context={})
    assert params["modelId"] == ARN, "the handler rewrote the alias"
    baseline = min(_per_call_us(plain, iterations) for _ in range(3))
    with_hook = min(_per_call_us(wired, iterations) for _ in range(3))
    return {
        "iterations": iterations,
        "baseline_emit_us": round(baseline, 3),
        "attached_emit_us": round(with_hook, 3),
        "overhead_us_per_call": round(with_hook - baseline, 3),
        "target_us": 20,
    }
