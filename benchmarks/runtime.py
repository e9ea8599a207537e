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
import time
from typing import Any

from aipctl._exceptions import AipctlError
from benchmarks import child


def _throughput(url: str, model: str, seconds: float, processes: int = 2, threads: int = 4) -> float:
    argv, env = child("load_probe", url, model, str(seconds), str(threads))
    env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    procs = [
        subprocess.Popen(
            argv,
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
        argv, env = child("memory_probe", mode, str(records), os.path.join(tmp, "t.sqlite"))
        done = subprocess.run(
            argv,
            env=env,
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
