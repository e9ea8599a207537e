"""Per-tenant sessions (``aipctl.session_for``): what a cached session costs per call, and how many
AssumeRole calls N tenants × M calls make.

- ``lookup_us``: ``TenantSessions.session(caller, tenant)`` once cached, against a plain dict lookup
  (baseline, same run).
- ``credentials_us``: what botocore's signer asks of the credentials per request
  (``get_frozen_credentials``) for a tenant's refreshable credentials, against static credentials.
- ``assume_role``: N tenants each making M Converse calls against an in-process emulator; the number
  of AssumeRole calls must be N (one per tenant per credential lifetime).
"""

from __future__ import annotations

import json
import time
from typing import Any

from aipctl.inventory import parse_inventory
from aipctl.sessions import TenantSessions


def _inventory(tenants: int) -> str:
    lines = [
        "name: bench",
        "region: eu-central-1",
        "models:",
        "  sonnet: eu.anthropic.claude-sonnet-4-6",
        "callers:",
        "  gateway:",
        "    owner: bench",
        "    environment: bench",
        "    models: [sonnet]",
        '    identities: ["arn:aws:iam::*:role/gateway"]',
        "    tenants:",
    ]
    lines += [f"      t{i:05d}:" for i in range(tenants)]
    return "\n".join(lines) + "\n"


def _per_op_us(op: Any, iterations: int) -> float:
    started = time.perf_counter()
    for _ in range(iterations):
        op()
    return (time.perf_counter() - started) / iterations * 1e6


def run(tenants: int = 200, calls: int = 5, iterations: int = 200_000) -> dict[str, Any]:
    import boto3
    from botocore.credentials import Credentials

    from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
    from aipctl_sim import EmulatorServer

    server = EmulatorServer().start()
    try:
        base = boto3.Session(aws_access_key_id=SIM_ACCESS_KEY, aws_secret_access_key=SIM_SECRET_KEY, region_name="eu-central-1")
        base.client("iam", endpoint_url=server.endpoint_url).create_role(
            RoleName="gateway", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
        )
        sessions = TenantSessions(
            parse_inventory(_inventory(tenants), "bench.yaml"), session=base, endpoint_url=server.endpoint_url
        )
        started = time.perf_counter()
        for i in range(tenants):
            runtime = sessions.session("gateway", f"t{i:05d}").client("bedrock-runtime", endpoint_url=server.endpoint_url)
            for _ in range(calls):
                runtime.converse(
                    modelId="eu.anthropic.claude-sonnet-4-6", messages=[{"role": "user", "content": [{"text": "hi"}]}]
                )
        traffic_s = time.perf_counter() - started
        cached = {("gateway", "t00000"): sessions.session("gateway", "t00000")}
        lookup = min(_per_op_us(lambda: sessions.session("gateway", "t00000"), iterations) for _ in range(3))
        baseline = min(_per_op_us(lambda: cached[("gateway", "t00000")], iterations) for _ in range(3))
        refreshable = sessions.session("gateway", "t00000").get_credentials()
        static = Credentials("AKIA", "secret", "token")
        frozen = min(_per_op_us(refreshable.get_frozen_credentials, iterations) for _ in range(3))
        frozen_static = min(_per_op_us(static.get_frozen_credentials, iterations) for _ in range(3))
        return {
            "tenants": tenants,
            "calls_per_tenant": calls,
            "assume_role_calls": sessions.assumed,
            "one_per_tenant": sessions.assumed == tenants,
            "traffic_s": round(traffic_s, 2),
            "lookup_us": round(lookup, 3),
            "baseline_dict_lookup_us": round(baseline, 3),
            "credentials_us": round(frozen, 3),
            "baseline_static_credentials_us": round(frozen_static, 3),
            "overhead_us_per_call": round((lookup - baseline) + (frozen - frozen_static), 3),
            "target_us": 5,
        }
    finally:
        server.stop()


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
