"""Memory probe of ``aipctl bench runtime``: ``python -m benchmarks.memory_probe store|dicts N PATH``.

Records N calls through the emulator's recording path (``store``) or keeps them as Python dicts
(``dicts``, the baseline) and prints peak RSS growth and timings as JSON.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import uuid
from typing import Any

AIP = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdefabcdef"
FIELDS: dict[str, Any] = {
    "account": "123456789012",
    "region": "us-east-1",
    "operation": "Converse",
    "model_id": AIP,
    "metric_id": "abcdefabcdef",
    "aip_arn": AIP,
    "base_model": "anthropic.claude-sonnet-4-6",
    "geo": "us",
    "identity_type": "AssumedRole",
    "principal_arn": "arn:aws:sts::123456789012:assumed-role/chat-task/chat",
    "principal_id": "AROAEXAMPLE:chat",
    "access_key": "ASIAEXAMPLE",
    "username": "chat",
    "role_arn": "arn:aws:iam::123456789012:role/chat-task",
    "status": "ok",
    "cache_read": 0,
    "cache_write": 0,
    "cost_tags": '{"Application": "chat"}',
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _row(i: int) -> dict[str, Any]:
    return {
        **FIELDS,
        "ts": 1.7e9 + i,
        "request_id": str(uuid.uuid4()),
        "input_tokens": 100 + i % 50,
        "output_tokens": 200,
        "latency_ms": 900,
    }


def main(mode: str, records: int, path: str) -> dict[str, Any]:
    base = _rss_mb()
    started = time.perf_counter()
    if mode == "dicts":
        rows = [_row(i) for i in range(records)]
        return {"rss_mb": _rss_mb() - base, "seconds": time.perf_counter() - started, "rows": len(rows)}
    from aipctl_sim import settings, telemetry
    from aipctl_sim.ce.billing import line_items

    store = telemetry.open_store(path)
    for i in range(records):
        store.record_call(telemetry.CallRecord(**_row(i)))
    store.flush()
    ingest = time.perf_counter() - started
    query_started = time.perf_counter()
    page = store.query(
        "SELECT * FROM calls WHERE account = ? AND region = ? AND ts BETWEEN ? AND ? AND operation = ? ORDER BY ts DESC LIMIT 51",
        ("123456789012", "us-east-1", 0, 3e9, "Converse"),
    )
    lookup = time.perf_counter() - query_started
    settings.settings().billing_lag_hours = 0
    query_started = time.perf_counter()
    items = list(line_items("123456789012", 0, 3e9, "DAILY"))
    return {
        "rss_mb": _rss_mb() - base,
        "seconds": ingest,
        "rows": records,
        "file_mb": os.path.getsize(path) / 2**20,
        "lookup_page_s": lookup,
        "cost_aggregate_s": time.perf_counter() - query_started,
        "line_items": len(items),
        "page_rows": len(page),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
