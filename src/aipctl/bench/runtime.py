"""Benchmarks of the emulated data plane.

- ``throughput``: InvokeModel (Anthropic body) calls per second through boto3 against a served
  emulator (`aipctl sim serve`, its own process), from 2 client processes × 4 threads for a fixed
  time; baseline: stock moto's ThreadedMotoServer answering the same InvokeModel (moto returns a
  canned body and records nothing) under the same load.
- ``memory``: peak RSS of a process that records N calls through the emulator's recording path
  (telemetry rows, batched into SQLite) and then answers a CloudTrail page and a cost aggregate
  over them; baseline: the same N records kept as Python dicts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Any

from aipctl._exceptions import AipctlError

_LOAD = textwrap.dedent("""
    import json, sys, time, threading, boto3
    from botocore.config import Config
    url, model, seconds, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
                       "messages": [{"role": "user", "content": "How much did the chat team spend?"}]})
    counts = [0] * threads
    def worker(i):
        client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=url, aws_access_key_id="AKIABENCH",
                              aws_secret_access_key="x", config=Config(retries={"total_max_attempts": 1}, max_pool_connections=4))
        client.invoke_model(modelId=model, body=body)["body"].read()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            client.invoke_model(modelId=model, body=body)["body"].read()
            counts[i] += 1
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print(sum(counts))
""")

_MEMORY = textwrap.dedent("""
    import json, resource, sys, time, uuid, os
    mode, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    def rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base = rss_mb()
    started = time.perf_counter()
    fields = dict(account="123456789012", region="us-east-1", operation="Converse", model_id="arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdefabcdef",
                  metric_id="abcdefabcdef", aip_arn="arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdefabcdef",
                  base_model="anthropic.claude-sonnet-4-6", geo="us", identity_type="AssumedRole",
                  principal_arn="arn:aws:sts::123456789012:assumed-role/chat-task/chat", principal_id="AROAEXAMPLE:chat",
                  access_key="ASIAEXAMPLE", username="chat", role_arn="arn:aws:iam::123456789012:role/chat-task", status="ok",
                  cache_read=0, cache_write=0, cost_tags='{"Application": "chat"}')
    if mode == "dicts":
        rows = [dict(fields, ts=1.7e9 + i, request_id=str(uuid.uuid4()), input_tokens=100 + i % 50, output_tokens=200, latency_ms=900) for i in range(n)]
        print(json.dumps({"rss_mb": rss_mb() - base, "seconds": time.perf_counter() - started, "rows": len(rows)}))
        sys.exit(0)
    from aipctl_sim import settings, telemetry
    from aipctl_sim.telemetry import CallRecord
    store = telemetry.open_store(path)
    for i in range(n):
        store.record_call(CallRecord(ts=1.7e9 + i, request_id=str(uuid.uuid4()), input_tokens=100 + i % 50, output_tokens=200, latency_ms=900, **fields))
    store.flush()
    ingest = time.perf_counter() - started
    q = time.perf_counter()
    page = store.query("SELECT * FROM calls WHERE account = ? AND region = ? AND ts BETWEEN ? AND ? AND operation = ? ORDER BY ts DESC LIMIT 51",
                       ("123456789012", "us-east-1", 0, 3e9, "Converse"))
    lookup_s = time.perf_counter() - q
    settings.settings().clock_offset_s = 0
    settings.settings().billing_lag_hours = 0
    from aipctl_sim.ce.billing import line_items
    q = time.perf_counter()
    items = list(line_items("123456789012", 0, 3e9, "DAILY"))
    cost_s = time.perf_counter() - q
    print(json.dumps({"rss_mb": rss_mb() - base, "seconds": ingest, "rows": n, "file_mb": os.path.getsize(path) / 2**20,
                      "lookup_page_s": lookup_s, "cost_aggregate_s": cost_s, "line_items": len(items), "page_rows": len(page)}))
""")


def _throughput(url: str, model: str, seconds: float, processes: int = 2, threads: int = 4) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _LOAD, url, model, str(seconds), str(threads)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    total = 0
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 120)
        if proc.returncode != 0:
            raise AipctlError(f"load generator failed: {err[-2000:]}")
        total += int(out.strip())
    return total / seconds


def bench_throughput(seconds: float = 8.0) -> dict[str, Any]:
    import logging

    from moto.server import ThreadedMotoServer

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    served = subprocess.Popen(
        [sys.executable, "-m", "aipctl", "sim", "serve", "--port", "0", "--no-state"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert served.stdout is not None
        url = served.stdout.readline().strip()
        ours = _throughput(url, "us.anthropic.claude-sonnet-4-6", seconds)
    finally:
        served.send_signal(signal.SIGTERM)
        served.wait(timeout=60)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    stock = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    stock.start()
    host, port = stock.get_host_and_port()
    try:
        baseline = _throughput(f"http://{host}:{port}", "anthropic.claude-3-haiku-20240307-v1:0", seconds)
    finally:
        stock.stop()
    return {
        "aipctl_sim_calls_per_s": round(ours, 1),
        "baseline_stock_moto_calls_per_s": round(baseline, 1),
        "ratio": round(ours / baseline, 2),
        "clients": "2 processes x 4 threads",
        "seconds": seconds,
        "target_per_s": 500,
    }


def _memory(mode: str, records: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="aipctl-bench-mem-") as tmp:
        done = subprocess.run(
            [sys.executable, "-c", _MEMORY, mode, str(records), os.path.join(tmp, "t.sqlite")],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if done.returncode != 0:
            raise AipctlError(f"memory benchmark failed: {done.stderr[-2000:]}")
        return dict(json.loads(done.stdout))


def bench_memory(records: int = 1_000_000) -> dict[str, Any]:
    ours = _memory("store", records)
    dicts = _memory("dicts", records)
    return {
        "records": records,
        "store_peak_rss_mb": round(ours["rss_mb"], 1),
        "store_file_mb": round(ours["file_mb"], 1),
        "store_records_per_s": round(records / ours["seconds"]),
        "cloudtrail_page_s": round(ours["lookup_page_s"], 3),
        "cost_aggregate_s": round(ours["cost_aggregate_s"], 3),
        "baseline_python_dicts_rss_mb": round(dicts["rss_mb"], 1),
        "target_mb": 1024,
    }


def run(parts: tuple[str, ...] = (), records: int = 1_000_000, seconds: float = 8.0) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    if not parts or "throughput" in parts:
        out["throughput"] = bench_throughput(seconds)
    if not parts or "memory" in parts:
        started = time.perf_counter()
        out["memory"] = bench_memory(records)
        out["memory"]["bench_seconds"] = round(time.perf_counter() - started, 1)
    return out
