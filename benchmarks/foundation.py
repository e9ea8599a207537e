"""Benchmarks of the foundation: plan/apply at 1,000 callers, crash safety, start-up time.

Every figure comes with a baseline measured in the same run on the same machine:

- ``plan``: ``aipctl plan`` (its own process, embedded emulator) for N callers that already exist,
  reading tags from the tagging API index, against the same command reading them one AIP at a time
  (``AIPCTL_TAG_READS=per-resource``).
- ``per_call``: the emulator's latency for one boto3 call against stock moto's ``ThreadedMotoServer``.
- ``apply``: N callers from scratch with 20 % injected throttling, correct when every AIP exists
  exactly once and a following plan is clean; baseline: the same apply without faults.
- ``crash``: SIGKILL during apply, re-run, count duplicates and check convergence.
- ``durable``: apply of N callers against ``sim serve`` keeping state with every write journaled
  before it is answered (``--durability journal``, the default), against the same apply with state
  snapshotted every 2 s (``--durability snapshot``, the emulator before issue 12.10); then the
  journaled server is killed with SIGKILL right after apply returns and restarted: every AIP must
  be there.
- ``startup``: ``aipctl --help`` against ``python -c pass``.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aipctl._exceptions import AipctlError
from aipctl.progress import NO_PROGRESS, Progress

MODELS = {"sonnet": "eu.anthropic.claude-sonnet-4-6", "haiku": "eu.anthropic.claude-haiku-4-5-20251001-v1:0"}


def inventory_text(callers: int) -> str:
    """N callers; every second one uses two models (1.5 AIPs per caller on average)."""
    lines = ["name: bench", "region: eu-central-1", "models:"]
    lines += [f"  {alias}: {source}" for alias, source in MODELS.items()]
    lines.append("callers:")
    for i in range(callers):
        models = "[sonnet, haiku]" if i % 2 == 0 else "[haiku]"
        lines += [f"  caller-{i:05d}:", "    owner: team-a", "    environment: production", f"    models: {models}"]
    return "\n".join(lines) + "\n"


def expected_profiles(callers: int) -> int:
    return callers + (callers + 1) // 2


def _aipctl(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 1800
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "aipctl", *args], cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=timeout
    )
    return time.perf_counter() - started, done


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(extra)
    return env


class _Served:
    """`aipctl sim serve` in its own process, like a remote endpoint."""

    def __init__(self, state_dir: Path, *options: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aipctl",
                "--state-dir",
                str(state_dir),
                "sim",
                "serve",
                "--port",
                "0",
                *(options or ("--no-state",)),
            ],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def control(self) -> Any:
        from aipctl.aws.simctl import SimControl

        return SimControl(self.url)

    def count_profiles(self) -> tuple[int, int]:
        """(AIPs, distinct names) in the served emulator."""
        import boto3

        from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY

        client = boto3.client(
            "bedrock",
            region_name="eu-central-1",
            endpoint_url=self.url,
            aws_access_key_id=SIM_ACCESS_KEY,
            aws_secret_access_key=SIM_SECRET_KEY,
        )
        names: list[str] = []
        kwargs: dict[str, Any] = {"typeEquals": "APPLICATION", "maxResults": 1000}
        while True:
            page = client.list_inference_profiles(**kwargs)
            names += [p["inferenceProfileName"] for p in page["inferenceProfileSummaries"]]
            if not page.get("nextToken"):
                return len(names), len(set(names))
            kwargs["nextToken"] = page["nextToken"]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def _raise_quota(callers: int, *args: str, cwd: Path) -> None:
    """1,000 AIPs per Region is AWS's default quota; large inventories need an increase."""
    quota = str(max(1000, expected_profiles(callers) * 2))
    _, done = _aipctl(*args, "sim", "quota", "application-inference-profiles", quota, cwd=cwd)
    if done.returncode != 0:
        raise AipctlError(f"cannot raise the emulator quota: {done.stderr[-2000:]}")


def bench_plan(callers: int, work: Path) -> dict[str, Any]:
    (work / "aipctl.yaml").write_text(inventory_text(callers))
    _raise_quota(callers, cwd=work)
    _seconds, done = _aipctl("apply", "--yes", cwd=work)
    if done.returncode != 0:
        raise AipctlError(f"setup apply failed: {done.stderr[-2000:]}")
    indexed = _median_plan_s(work, _env())
    per_resource = _median_plan_s(work, _env(AIPCTL_TAG_READS="per-resource"))
    return {
        "callers": callers,
        "aips": expected_profiles(callers),
        "plan_cli_s": round(indexed, 3),
        "baseline_per_resource_tags_cli_s": round(per_resource, 3),
        "speedup_vs_per_resource": round(per_resource / indexed, 2),
        "target_s": 3.0,
    }


def _median_plan_s(work: Path, env: dict[str, str], repeats: int = 3) -> float:
    """Median wall time of `aipctl plan` (own process, embedded emulator) on converged state."""
    runs = []
    for _ in range(repeats):
        seconds, done = _aipctl("plan", "--detailed-exitcode", cwd=work, env=env)
        if done.returncode != 0:
            raise AipctlError(f"plan was not clean: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        runs.append(seconds)
    return statistics.median(runs)


def bench_per_call(calls: int = 500) -> dict[str, Any]:
    """The same boto3 call against stock moto's server and against aipctl's emulator front."""
    import boto3
    from moto.server import ThreadedMotoServer

    from aipctl_sim import EmulatorServer

    def measure(url: str) -> float:
        client = boto3.client(
            "bedrock", region_name="eu-central-1", endpoint_url=url, aws_access_key_id="AKIAX", aws_secret_access_key="x"
        )
        for _ in range(20):
            client.list_custom_models()
        started = time.perf_counter()
        for _ in range(calls):
            client.list_custom_models()
        return (time.perf_counter() - started) / calls * 1000

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    stock = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    stock.start()
    host, port = stock.get_host_and_port()
    stock_ms = measure(f"http://{host}:{port}")
    stock.stop()
    ours = EmulatorServer().start()
    ours_ms = measure(ours.endpoint_url)
    aip_ms = _measure_aip_tags(ours.endpoint_url, calls)
    ours.stop()
    return {
        "operation": "bedrock ListCustomModels (served by moto in both)",
        "stock_moto_ms_per_call": round(stock_ms, 2),
        "aipctl_sim_ms_per_call": round(ours_ms, 2),
        "speedup": round(stock_ms / ours_ms, 2),
        "aip_list_tags_ms_per_call": round(aip_ms, 2),
    }


def _measure_aip_tags(url: str, calls: int) -> float:
    """ListTagsForResource on an AIP: an operation the emulator serves itself (stock moto has none)."""
    import boto3

    client = boto3.client(
        "bedrock", region_name="eu-central-1", endpoint_url=url, aws_access_key_id="AKIAX", aws_secret_access_key="x"
    )
    arn = client.create_inference_profile(
        inferenceProfileName="bench",
        tags=[{"key": "Application", "value": "bench"}],
        modelSource={"copyFrom": "arn:aws:bedrock:eu-central-1:123456789012:inference-profile/" + MODELS["haiku"]},
    )["inferenceProfileArn"]
    for _ in range(20):
        client.list_tags_for_resource(resourceARN=arn)
    started = time.perf_counter()
    for _ in range(calls):
        client.list_tags_for_resource(resourceARN=arn)
    return (time.perf_counter() - started) / calls * 1000


def bench_apply(callers: int, work: Path, throttle: float) -> dict[str, Any]:
    results: dict[str, Any] = {"callers": callers, "aips": expected_profiles(callers), "throttle_rate": throttle}
    for label, rate in (("baseline_no_faults", 0.0), ("with_throttling", throttle)):
        served = _Served(work / label)
        try:
            (work / "aipctl.yaml").write_text(inventory_text(callers))
            served.control().set_quotas({"application-inference-profiles": expected_profiles(callers) * 2})
            served.control().set_faults([{"service": "bedrock", "throttle_rate": rate}] if rate else [])
            seconds, done = _aipctl("--endpoint-url", served.url, "apply", "--yes", cwd=work)
            served.control().set_faults([])
            count, distinct = served.count_profiles()
            _, again = _aipctl("--endpoint-url", served.url, "plan", "--detailed-exitcode", cwd=work)
            results[label] = {
                "apply_s": round(seconds, 2),
                "exit_code": done.returncode,
                "aips": count,
                "duplicates": count - distinct,
                "plan_after_clean": again.returncode == 0,
                "correct": done.returncode == 0
                and count == expected_profiles(callers)
                and count == distinct
                and again.returncode == 0,
            }
        finally:
            served.stop()
    results["slowdown_vs_baseline"] = round(results["with_throttling"]["apply_s"] / results["baseline_no_faults"]["apply_s"], 2)
    return results


def bench_crash(callers: int, work: Path, kill_at_fraction: float) -> dict[str, Any]:
    """SIGKILL apply once ``kill_at_fraction`` of the AIPs exist, re-run, check for duplicates."""
    served = _Served(work / "crash")
    expected = expected_profiles(callers)
    try:
        (work / "aipctl.yaml").write_text(inventory_text(callers))
        served.control().set_quotas({"application-inference-profiles": expected * 2})
        proc = subprocess.Popen(
            [sys.executable, "-m", "aipctl", "--endpoint-url", served.url, "apply", "--yes"],
            cwd=work,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        threshold = max(1, int(expected * kill_at_fraction))
        deadline = time.monotonic() + 600
        while served.count_profiles()[0] < threshold and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        at_kill, _ = served.count_profiles()
        seconds, done = _aipctl("--endpoint-url", served.url, "apply", "--yes", cwd=work)
        count, distinct = served.count_profiles()
        _, again = _aipctl("--endpoint-url", served.url, "plan", "--detailed-exitcode", cwd=work)
        return {
            "callers": callers,
            "expected_aips": expected,
            "aips_when_killed": at_kill,
            "killed_midway": 0 < at_kill < expected,
            "rerun_s": round(seconds, 2),
            "rerun_exit_code": done.returncode,
            "aips_after_rerun": count,
            "duplicates": count - distinct,
            "converged": again.returncode == 0 and count == expected,
        }
    finally:
        served.stop()


def bench_durable(callers: int, work: Path) -> dict[str, Any]:
    expected = expected_profiles(callers)
    results: dict[str, Any] = {"callers": callers, "aips": expected}
    (work / "aipctl.yaml").write_text(inventory_text(callers))
    for mode in ("snapshot", "journal"):
        state = work / mode
        served = _Served(state, "--durability", mode)
        try:
            served.control().set_quotas({"application-inference-profiles": expected * 2})
            seconds, done = _aipctl("--endpoint-url", served.url, "apply", "--yes", cwd=work)
            results[mode] = {"apply_s": round(seconds, 2), "exit_code": done.returncode, "aips": served.count_profiles()[0]}
            if mode == "journal":
                journal = state / "sim" / "journal.jsonl"
                results[mode]["journal_mb_at_kill"] = round(journal.stat().st_size / 1e6, 2) if journal.exists() else 0.0
                served.proc.send_signal(signal.SIGKILL)
                served.proc.wait()
                started = time.perf_counter()
                served = _Served(state, "--durability", mode)
                results[mode]["restart_s"] = round(time.perf_counter() - started, 2)
                results[mode]["aips_after_sigkill"] = served.count_profiles()[0]
        finally:
            served.stop()
    results["journal_cost_vs_snapshot"] = round(results["journal"]["apply_s"] / results["snapshot"]["apply_s"] - 1, 3)
    results["target_cost"] = 0.2
    results["correct"] = results["journal"]["aips_after_sigkill"] == expected == results["snapshot"]["aips"]
    return results


def bench_startup(repeats: int = 15) -> dict[str, Any]:
    def median_s(command: list[str]) -> float:
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(command, env=_env(), capture_output=True, check=True)
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    help_s = median_s([sys.executable, "-m", "aipctl", "--help"])
    python_s = median_s([sys.executable, "-c", "pass"])
    boto3_s = median_s([sys.executable, "-c", "import boto3"])
    return {
        "aipctl_help_ms": round(help_s * 1000, 1),
        "baseline_python_ms": round(python_s * 1000, 1),
        "import_boto3_ms": round(boto3_s * 1000, 1),
        "overhead_over_python_ms": round((help_s - python_s) * 1000, 1),
        "target_ms": 250,
    }


def run(
    callers: int = 1000,
    throttle: float = 0.2,
    kill_at_fraction: float = 0.4,
    parts: tuple[str, ...] = (),
    progress: Progress = NO_PROGRESS,
) -> dict[str, Any]:
    steps: dict[str, Callable[[Path], dict[str, Any]]] = {
        "startup": lambda _w: bench_startup(),
        "per_call": lambda _w: bench_per_call(),
        "plan": lambda w: bench_plan(callers, w),
        "apply": lambda w: bench_apply(callers, w, throttle),
        "crash": lambda w: bench_crash(callers, w, kill_at_fraction),
        "durable": lambda w: bench_durable(callers, w),
    }
    out: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    for name, step in steps.items():
        if parts and name not in parts:
            continue
        progress(name)
        with tempfile.TemporaryDirectory(prefix=f"aipctl-bench-{name}-") as tmp:
            out[name] = step(Path(tmp))
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
