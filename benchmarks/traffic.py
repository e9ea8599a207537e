"""Benchmark of `aipctl sim traffic` at scale (issue 12.11): N callers x D days against `sim serve`.

`sim serve` runs in its own process with a state directory (durable journal, the default);
the inventory is applied through it, then `aipctl sim traffic --endpoint` writes the history. Reported:
wall time and calls per second, the server's peak RSS and the most client connections it held at once
(sampled from /proc every 0.2 s), and whether every call was answered. Baseline in the same run: the
same command and the same number of calls from ``baseline_callers`` (10) callers (each calling 100x
as often), so the ratio shows what 100x the callers — their roles, sessions, clients and
connections — cost.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aipctl._exceptions import AipctlError
from aipctl.progress import NO_PROGRESS, Progress
from benchmarks.foundation import _aipctl, _Served, expected_profiles, inventory_text


class _Sampler:
    """Peak RSS and peak ESTABLISHED connections on the server's port, polled from /proc."""

    def __init__(self, pid: int, port: int) -> None:
        self.pid, self.port = pid, port
        self.peak_rss_mb = 0.0
        self.peak_connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
                held = self._connections()
            except OSError:
                return
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            if match:
                self.peak_rss_mb = max(self.peak_rss_mb, int(match.group(1)) / 1024)
            self.peak_connections = max(self.peak_connections, held)

    def _connections(self) -> int:
        port = f"{self.port:04X}"
        count = 0
        for table in ("tcp", "tcp6"):
            try:
                lines = Path(f"/proc/{self.pid}/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                if fields[1].rsplit(":", 1)[1] == port and fields[3] == "01":  # local port, ESTABLISHED
                    count += 1
        return count


def _traffic(callers: int, days: float, calls_per_day: int, concurrency: int, work: Path) -> dict[str, Any]:
    served = _Served(work / "state", "--durability", "journal")
    try:
        (work / "aipctl.yaml").write_text(inventory_text(callers))
        served.control().set_quotas({"application-inference-profiles": max(1000, expected_profiles(callers) * 2)})
        _, applied = _aipctl("--endpoint-url", served.url, "apply", "--yes", cwd=work)
        if applied.returncode != 0:
            raise AipctlError(f"apply failed: {applied.stderr[-2000:]}")
        port = int(served.url.rsplit(":", 1)[1])
        args = ["sim", "traffic", "--endpoint", served.url, "--days", str(days), "--calls-per-day", str(calls_per_day)]
        args += ["--concurrency", str(concurrency), "--json"]
        with _Sampler(served.proc.pid, port) as sampler:
            seconds, done = _aipctl(*args, cwd=work)
        if done.returncode != 0:
            raise AipctlError(f"sim traffic failed: {done.stderr[-2000:]}")
        report = json.loads(done.stdout)
        calls = int(report["total_calls"])
        errors = sum(int(c["errors"]) for c in report["callers"].values())
        return {
            "callers": callers,
            "days": days,
            "calls_per_day_per_caller": calls_per_day,
            "calls": calls,
            "errors": errors,
            "traffic_s": round(seconds, 2),
            "calls_per_s": round(calls / seconds, 1),
            "server_peak_rss_mb": round(sampler.peak_rss_mb, 1),
            "server_peak_connections": sampler.peak_connections,
        }
    finally:
        served.stop()


def run(
    callers: int = 1000,
    days: float = 3.0,
    calls_per_day: int = 40,
    concurrency: int = 32,
    baseline_callers: int = 10,
    progress: Progress = NO_PROGRESS,
) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    baseline_rate = max(1, round(calls_per_day * callers / baseline_callers))
    for label, n, rate in (("baseline", baseline_callers, baseline_rate), ("traffic", callers, calls_per_day)):
        progress(f"{label}: {n} callers x {days} days x {rate} calls a day")
        with tempfile.TemporaryDirectory(prefix=f"aipctl-bench-traffic-{label}-") as tmp:
            started = time.perf_counter()
            out[label] = _traffic(n, days, rate, concurrency, Path(tmp))
            out[label]["total_s"] = round(time.perf_counter() - started, 2)
    out["calls_per_s_vs_baseline"] = round(out["traffic"]["calls_per_s"] / out["baseline"]["calls_per_s"], 2)
    out["total_s_vs_baseline"] = round(out["traffic"]["total_s"] / out["baseline"]["total_s"], 2)
    out["all_answered"] = out["traffic"]["errors"] == 0 and out["baseline"]["errors"] == 0
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
