"""``aipctl bench guard``: what the guards cost per call and how fast and fair they act.

- ``inprocess_us_per_call`` / ``redis_us_per_call``: routing + limits (rpm, tpm, daily USD, tier)
  per runtime call, measured as botocore's before- and after-call event emissions on a real
  bedrock-runtime client with ``aipctl.attach(..., limits=...)`` minus the same emissions on a
  plain client (no network: only aipctl's work, plus one Redis round trip each way for Redis);
- ``inpath_overspend_calls``: a tenant with a daily USD cap, driven through the emulator until
  refused: spend beyond the cap, in calls (target ≤ 1);
- ``watch_seconds_to_access_denied``: out of path, ``guard watch`` passes (CloudWatch source)
  while a tenant spends: seconds from the call that crossed ``brake_at`` to the first
  AccessDenied;
- ``fairness``: three tenants (gold 4, silver 2, bronze 1) hammer a shared quota (the emulator's
  ``rate_per_s`` fault); share of successful calls per tier with tiers vs without (baseline).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aipctl.progress import NO_PROGRESS, Progress
from aipctl.project import Project

MESSAGES = [{"role": "user", "content": [{"text": "Summarise the quarterly numbers for the board, please."}]}]
INVENTORY = """\
name: bench
region: eu-central-1
models:
  haiku: eu.anthropic.claude-haiku-4-5-20251001-v1:0
callers:
  gold-co: {owner: a, environment: prod, models: [haiku], identities: ["arn:aws:iam::*:role/gold-co"], tier: gold}
  silver-co: {owner: a, environment: prod, models: [haiku], identities: ["arn:aws:iam::*:role/silver-co"], tier: silver}
  bronze-co: {owner: a, environment: prod, models: [haiku], identities: ["arn:aws:iam::*:role/bronze-co"], tier: bronze}
  capped:
    owner: a
    environment: prod
    models: [haiku]
    identities: ["arn:aws:iam::*:role/capped"]
    budget: {monthly_usd: 0.02, alert_at: [100], brake_at: 100}
"""
TIERS = {"gold-co": ("gold", 4.0), "silver-co": ("silver", 2.0), "bronze-co": ("bronze", 1.0)}


def _per_call_us(client: Any, iterations: int) -> float:
    emit = client.meta.events.emit
    model = client.meta.service_model.operation_model("Converse")
    before, after = "provide-client-params.bedrock-runtime.Converse", "after-call.bedrock-runtime.Converse"
    parsed = {"usage": {"inputTokens": 20, "outputTokens": 40, "totalTokens": 60}}
    started = time.perf_counter()
    for _ in range(iterations):
        context: dict[str, Any] = {}
        emit(before, params={"modelId": "sonnet", "messages": MESSAGES}, model=model, context=context)
        emit(after, http_response=None, parsed=parsed, model=model, context=context)
    return (time.perf_counter() - started) / iterations * 1e6


def overhead(iterations: int, redis_url: str | None) -> dict[str, Any]:
    import boto3

    from aipctl.guard.limits import MemoryStore, RedisStore
    from aipctl.wiring import attach
    from benchmarks.wiring import StaticResolver

    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-central-1")
    limits = {"rpm": 1e9, "tpm": 1e12, "daily_usd": 1e9, "tier": "gold"}
    plain = session.client("bedrock-runtime")
    resolver: Any = StaticResolver()
    routed = attach(session.client("bedrock-runtime"), "bench", resolver=resolver)
    limited = attach(session.client("bedrock-runtime"), "bench", resolver=resolver, limits=limits, store=MemoryStore())
    baseline = min(_per_call_us(plain, iterations) for _ in range(3))
    route_only = min(_per_call_us(routed, iterations) for _ in range(3))
    inprocess = min(_per_call_us(limited, iterations) for _ in range(3))
    out: dict[str, Any] = {
        "baseline_us_per_call": round(baseline, 3),
        "routing_us_per_call": round(route_only - baseline, 3),
        "inprocess_us_per_call": round(inprocess - baseline, 3),
        "redis_us_per_call": None,
    }
    if redis_url:
        store = RedisStore(redis_url)
        store.client.flushdb()
        shared = attach(session.client("bedrock-runtime"), "bench", resolver=resolver, limits=limits, store=store)
        redis_calls = max(1000, iterations // 50)
        out["redis_us_per_call"] = round(min(_per_call_us(shared, redis_calls) for _ in range(3)) - baseline, 1)
        started = time.perf_counter()
        for _ in range(redis_calls):
            store.client.ping()
        out["redis_ping_us"] = round((time.perf_counter() - started) / redis_calls * 1e6, 1)
    return out


@contextmanager
def local_redis() -> Iterator[str | None]:
    """A throwaway redis-server on a free loopback port, when the binary is installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def given_or_local_redis(url: str | None) -> Iterator[str | None]:
    """``url`` when given, else a throwaway :func:`local_redis` (None when redis-server is not installed)."""
    if url:
        yield url
        return
    with local_redis() as local:
        yield local


def assumed_runtime(session: Any, url: str, role: str, attempts: int = 1, account: str = "123456789012") -> Any:
    """A bedrock-runtime client acting as ``role`` (STS AssumeRole), ``attempts`` tries per call."""
    import boto3
    from botocore.config import Config

    creds = session.client("sts", endpoint_url=url).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName=role
    )["Credentials"]
    assumed = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=session.region_name or "eu-central-1",
    )
    config = Config(retries={"total_max_attempts": attempts}, max_pool_connections=32)
    return assumed.client("bedrock-runtime", endpoint_url=url, config=config)


class _World:
    """An embedded emulator with the bench inventory applied and a role per caller."""

    def __init__(self, folder: Path, endpoint_url: str | None = None) -> None:
        """Starts an emulator in this process, or uses ``endpoint_url`` (one emulator per process:
        its backends are process-global)."""
        import boto3

        from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY

        self.folder = folder
        self.server: Any = None
        if endpoint_url is None:
            from aipctl_sim import EmulatorServer

            self.server = EmulatorServer(state_dir=None).start()
            endpoint_url = self.server.endpoint_url
        self.url = endpoint_url
        self.session = boto3.Session(
            aws_access_key_id=SIM_ACCESS_KEY, aws_secret_access_key=SIM_SECRET_KEY, region_name="eu-central-1"
        )
        (folder / "aipctl.yaml").write_text(INVENTORY)
        iam = self.session.client("iam", endpoint_url=self.url)
        for caller in (*TIERS, "capped"):
            iam.create_role(RoleName=caller, AssumeRolePolicyDocument="{}")
        with self.project() as project:
            failed = project.apply(activate_cost_tags=False).failed_names()
            if not failed:  # once, by a human with IAM rights: from then on the brake is a tag write
                project.attach_anti_bypass(project.anti_bypass_policies(["capped"]))
        if failed:
            raise RuntimeError(f"bench setup: apply failed for {failed}")

    @contextmanager
    def project(self) -> Iterator[Project]:
        with Project.open(self.folder / "aipctl.yaml", target="sim", endpoint_url=self.url) as project:
            yield project

    def runtime(self, role: str, attempts: int = 1) -> Any:
        return assumed_runtime(self.session, self.url, role, attempts)

    def resolver(self) -> Any:
        from aipctl.wiring import Resolver

        return Resolver(self.session, region="eu-central-1", endpoint_url=self.url, environ={})

    def set_faults(self, rules: list[dict[str, Any]]) -> None:
        from aipctl.aws.simctl import SimControl

        SimControl(self.url).set_faults(rules)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def inpath_brake(world: _World) -> dict[str, Any]:
    from aipctl._exceptions import LimitExceeded
    from aipctl.guard.limits import MemoryStore
    from aipctl.wiring import attach, cost_of

    resolver = world.resolver()
    store = MemoryStore()
    probe = attach(world.runtime("capped"), "capped", resolver=resolver)
    one = float(
        cost_of(
            resolver.resolve("capped", "haiku"), probe.converse(modelId="haiku", messages=MESSAGES)["usage"], resolver=resolver
        )
    )
    cap = one * 10.5
    client = attach(world.runtime("capped"), "capped", resolver=resolver, limits={"daily_usd": cap}, store=store)
    served = 0
    try:
        while served < 1000:
            client.converse(modelId="haiku", messages=MESSAGES)
            served += 1
    except LimitExceeded:
        pass
    spent = store.spent("capped", time.strftime("%Y-%m-%d", time.gmtime()))
    return {
        "inpath_cap_usd": round(cap, 8),
        "inpath_served_calls": served,
        "inpath_spent_usd": round(spent, 8),
        "inpath_overspend_calls": round(max(0.0, spent - cap) / one, 3),
    }


def _error_code(exc: Exception) -> str | None:
    """The AWS error code of a raw boto3 client's exception (botocore's ClientError), else None."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code")) if isinstance(response, dict) else None


class _Spender:
    """A thread calling the capped caller's AIP until IAM refuses: when the call that crossed the budget came
    back (``crossed_at``) and when the first AccessDenied did (``denied_at``), both ``perf_counter`` times."""

    def __init__(self, world: _World, budget_usd: float) -> None:
        from aipctl.wiring import cost_of

        self.client, resolver = world.runtime("capped"), world.resolver()
        self.arn = resolver.resolve("capped", "haiku")
        self.crossed_at: float | None = None
        self.denied_at: float | None = None
        self.calls, self.usd = 0, 0.0
        self.stop = threading.Event()

        def spend() -> None:
            while not self.stop.is_set():
                try:
                    text = [{"role": "user", "content": [{"text": "y" * 2000}]}]
                    answer = self.client.converse(modelId=self.arn, messages=text)
                    self.calls += 1
                    self.usd += float(cost_of(self.arn, answer["usage"], resolver=resolver))
                    if self.usd >= budget_usd and self.crossed_at is None:
                        self.crossed_at = time.perf_counter()  # this call crossed brake_at (100 % of the budget)
                except Exception as exc:
                    if _error_code(exc) == "AccessDeniedException":
                        self.denied_at = time.perf_counter()
                        return
                    if _error_code(exc) is None:
                        raise
                time.sleep(0.02)

        self.thread = threading.Thread(target=spend, daemon=True)
        self.thread.start()

    def join(self) -> float | None:
        """Seconds from crossing to refusal (None if either did not happen)."""
        self.stop.set()
        self.thread.join(timeout=10)
        return (self.denied_at - self.crossed_at) if self.denied_at and self.crossed_at else None


def outpath_brake(world: _World, interval: float = 0.5, budget_usd: float = 0.02) -> dict[str, Any]:
    spender = _Spender(world, budget_usd)
    passes = 0
    deadline = time.perf_counter() + 120
    with world.project() as project:
        watch = project.watch(source="cloudwatch", state_file=str(world.folder / "guard-state.json"))
        while spender.denied_at is None and time.perf_counter() < deadline:
            watch.run_once()
            passes += 1
            time.sleep(interval)
    seconds = spender.join()
    return {
        "watch_interval_s": interval,
        "watch_passes": passes,
        "watch_seconds_to_access_denied": None if seconds is None else round(seconds, 3),
        "watch_calls_before_denied": spender.calls,
        "watch_overspend_usd": round(spender.usd - budget_usd, 6),
    }


def ledger_latency(
    world: _World, crossings: int = 20, delay_s: float = 5.0, interval: float = 0.5, budget_usd: float = 0.02
) -> dict[str, Any]:
    """Detect -> enforce with the ledger source: `guard watch --ingest s3://… --source ledger` passes every
    ``interval`` while the capped caller spends, with invocation logs reaching S3 ``delay_s`` after each call
    (the emulator's delivery delay). One crossing per simulated month (month-to-date spend starts at 0 and the
    guard releases its own brake), ``crossings`` of them; the same with no delay is the baseline."""
    import statistics

    from aipctl.aws.s3logs import InvocationLogs
    from aipctl.aws.simctl import SimControl

    sim = SimControl(world.url)
    with world.project() as project:
        uri = InvocationLogs(project.target).enable("bench-guard-logs", "raw")
    out: dict[str, Any] = {"ledger_watch_interval_s": interval, "ledger_crossings": crossings}
    for label, delay in (("baseline_no_delay", 0.0), (f"delay_{delay_s:g}s", delay_s)):
        sim.set_settings(log_delivery_delay_s=delay)
        seconds: list[float] = []
        for _ in range(crossings):
            now = time.gmtime(time.time() + sim.clock()["offset_s"])
            sim.advance((32 - now.tm_mday) * 86400)  # into the next month: a fresh month-to-date
            with world.project() as project:
                watch = project.watch(
                    source="ledger",
                    ledger=str(world.folder / "bench-ledger.duckdb"),
                    ingest_from=uri,
                    state_file=str(world.folder / "ledger-guard-state.json"),
                )
                watch.run_once()  # the new month: the guard releases its brake of the last one
                spender = _Spender(world, budget_usd)
                deadline = time.perf_counter() + 120
                while spender.denied_at is None and time.perf_counter() < deadline:
                    watch.run_once()
                    time.sleep(interval)
            took = spender.join()
            if took is not None:
                seconds.append(took)
        ordered = sorted(seconds)
        out[label] = {
            "measured": len(seconds),
            "p50_s": round(statistics.median(ordered), 3) if ordered else None,
            "p95_s": round(ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)], 3) if ordered else None,
            "max_s": round(ordered[-1], 3) if ordered else None,
        }
    sim.set_settings(log_delivery_delay_s=0.0)
    return out


def fairness(world: _World, seconds: float = 8.0, rate: float = 60.0, threads_per_tenant: int = 4) -> dict[str, Any]:
    from aipctl._exceptions import LimitExceeded
    from aipctl.guard.limits import MemoryStore
    from aipctl.wiring import attach

    resolver = world.resolver()

    def run(with_tiers: bool) -> dict[str, int]:
        world.set_faults([{"service": "bedrock-runtime", "operation": "Converse", "rate_per_s": rate}])
        store = MemoryStore()
        ok = {caller: 0 for caller in TIERS}
        lock = threading.Lock()
        begin = time.perf_counter()
        counted_from = begin + seconds / 3  # the first third is warm-up (AIMD converging)
        end = begin + seconds

        def worker(caller: str) -> None:
            tier, weight = TIERS[caller]
            limits = {"tier": tier, "tier_weight": weight} if with_tiers else None
            client = attach(world.runtime(caller), caller, resolver=resolver, limits=limits, store=store)
            while time.perf_counter() < end:
                try:
                    client.converse(modelId="haiku", messages=MESSAGES)
                    if time.perf_counter() >= counted_from:
                        with lock:
                            ok[caller] += 1
                except LimitExceeded as exc:
                    time.sleep(min(exc.retry_after, 0.5))
                except Exception as exc:
                    if _error_code(exc) is None:
                        raise
                    time.sleep(0.01)  # throttled by the shared quota

        pool = [threading.Thread(target=worker, args=(c,)) for c in TIERS for _ in range(threads_per_tenant)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        world.set_faults([])
        return ok

    def shares(counts: dict[str, int]) -> dict[str, float]:
        total = sum(counts.values()) or 1
        return {TIERS[c][0]: round(n / total, 3) for c, n in counts.items()}

    baseline = run(False)
    tiered = run(True)
    weights = {tier: weight for tier, weight in TIERS.values()}
    total_weight = sum(weights.values())
    return {
        "quota_per_s": rate,
        "seconds": seconds,
        "baseline_share": shares(baseline),
        "tiered_share": shares(tiered),
        "weight_share": {t: round(w / total_weight, 3) for t, w in weights.items()},
        "measured_after_warmup_s": round(seconds / 3, 1),
        "tiered_successes_per_s": round(sum(tiered.values()) / (seconds * 2 / 3), 1),
        "baseline_successes_per_s": round(sum(baseline.values()) / (seconds * 2 / 3), 1),
        "gold_to_bronze": {
            "baseline": round(baseline["gold-co"] / max(1, baseline["bronze-co"]), 2),
            "tiered": round(tiered["gold-co"] / max(1, tiered["bronze-co"]), 2),
            "weights": TIERS["gold-co"][1] / TIERS["bronze-co"][1],
        },
    }


USDCAP_WORKER = """
import sys
from benchmarks.guard import usdcap_worker
usdcap_worker(*sys.argv[1:])
"""


def usdcap_worker(url: str, redis_url: str, cap: str, reserve: str, threads: str, out: str) -> None:
    """One of the processes of :func:`usd_cap`: ``threads`` threads call through one Limiter on the shared
    Redis store until the daily cap refuses them; writes its served calls to ``out``."""
    import boto3

    from aipctl._exceptions import LimitExceeded
    from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
    from aipctl.guard.hook import Prices
    from aipctl.guard.limits import Limiter, LimitSpec, RedisStore
    from aipctl.wiring import Resolver

    session = boto3.Session(aws_access_key_id=SIM_ACCESS_KEY, aws_secret_access_key=SIM_SECRET_KEY, region_name="eu-central-1")
    resolver = Resolver(session, region="eu-central-1", endpoint_url=url, environ={})
    arn = resolver.resolve("capped", "haiku")
    prices = Prices({info.arn: info.source for info in resolver.profiles_of("capped").values()}).of(arn)
    limiter = Limiter("capped", LimitSpec(daily_usd=float(cap)), store=RedisStore(redis_url), reserve=reserve == "1")
    served = [0]
    lock = threading.Lock()
    params = {"modelId": arn, "messages": MESSAGES, "inferenceConfig": {"maxTokens": 200}}

    def worker() -> None:
        client = assumed_runtime(session, url, "capped")
        while True:
            try:
                reservation = limiter.admit(params, prices)
            except LimitExceeded:
                return
            usage = client.converse(**params)["usage"]
            limiter.settle(
                reservation,
                usage["inputTokens"] + usage["outputTokens"],
                usage["inputTokens"] * prices[0] + usage["outputTokens"] * prices[1],
            )
            with lock:
                served[0] += 1

    pool = [threading.Thread(target=worker) for _ in range(int(threads))]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    limiter.store.flush()  # type: ignore[attr-defined]
    Path(out).write_text(str(served[0]))


def usd_cap(world: _World, redis_url: str, processes: int = 8, threads: int = 4, latency_ms: float = 150.0) -> dict[str, Any]:
    """Overshoot of a daily USD cap by ``processes`` × ``threads`` concurrent callers sharing one Redis
    store: reserve-then-settle against the baseline of admitting on settled spend alone (no reservations),
    measured in the same run. Each emulated call takes ``latency_ms``, so calls overlap as in production."""
    import os
    import subprocess
    import sys

    import redis

    from aipctl.wiring import attach, cost_of

    resolver = world.resolver()
    arn = resolver.resolve("capped", "haiku")
    probe = attach(world.runtime("capped"), "capped", resolver=resolver)
    params = {"modelId": "haiku", "messages": MESSAGES, "inferenceConfig": {"maxTokens": 200}}
    one = float(cost_of(arn, probe.converse(**params)["usage"], resolver=resolver))
    cap = one * 20
    world.set_faults([{"service": "bedrock-runtime", "operation": "Converse", "latency_ms": latency_ms}])
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])
    )
    day = time.strftime("%Y-%m-%d", time.gmtime())
    out: dict[str, Any] = {"usdcap_processes": processes, "usdcap_threads_per_process": threads, "usdcap_cap_usd": round(cap, 8)}
    try:
        for mode, reserve in (("baseline", "0"), ("reserved", "1")):
            redis.Redis.from_url(redis_url).flushdb()
            with tempfile.TemporaryDirectory() as tmp:
                files = [Path(tmp) / f"served-{i}" for i in range(processes)]
                started = time.perf_counter()
                procs = [
                    subprocess.Popen(
                        [sys.executable, "-c", USDCAP_WORKER, world.url, redis_url, str(cap), reserve, str(threads), str(f)],
                        env=env,
                    )
                    for f in files
                ]
                for proc in procs:
                    proc.wait(timeout=300)
                elapsed = time.perf_counter() - started
                served = sum(int(f.read_text()) for f in files if f.exists())
            from aipctl.guard.limits import RedisStore

            spent = RedisStore(redis_url).spent("capped", day)
            out[f"usdcap_{mode}"] = {
                "served_calls": served,
                "spent_usd": round(spent, 8),
                "overshoot_usd": round(max(0.0, spent - cap), 8),
                "overshoot_calls": round(max(0.0, spent - cap) / one, 2),
                "seconds": round(elapsed, 2),
            }
    finally:
        world.set_faults([])
    from aipctl.guard.hook import Prices
    from aipctl.guard.limits import estimate_tokens

    price = Prices({info.arn: info.source for info in resolver.profiles_of("capped").values()}).of(arn)
    reservation = estimate_tokens(params) * price[0] + 200 * price[1]
    out["usdcap_one_reservation_usd"] = round(reservation, 8)
    for mode in ("baseline", "reserved"):
        out[f"usdcap_{mode}"]["overshoot_reservations"] = round(out[f"usdcap_{mode}"]["overshoot_usd"] / reservation, 2)
    return out


def run(
    iterations: int = 100_000,
    *,
    redis_url: str | None = None,
    parts: tuple[str, ...] = (),
    fairness_seconds: float = 8.0,
    progress: Progress = NO_PROGRESS,
) -> dict[str, Any]:
    wanted = set(parts) or {"overhead", "inpath", "watch", "fairness", "usdcap"}  # "ledger": on request (minutes)
    result: dict[str, Any] = {}
    if "overhead" in wanted:
        progress("overhead per call")
        with given_or_local_redis(redis_url) as url:
            result |= overhead(iterations, url)
    if wanted & {"inpath", "watch", "fairness", "usdcap", "ledger"}:
        with tempfile.TemporaryDirectory(prefix="aipctl-bench-guard-") as tmp:
            world = _World(Path(tmp))
            try:
                if "inpath" in wanted:
                    progress("in-path brake")
                    result |= inpath_brake(world)
                if "watch" in wanted:
                    progress("guard watch brake")
                    result |= outpath_brake(world)
                if "ledger" in wanted:
                    progress("detect -> enforce from the ledger under a log delivery delay")
                    result["ledger_latency"] = ledger_latency(world)
                if "fairness" in wanted:
                    progress("fairness under a throttled shared quota")
                    result["fairness"] = fairness(world, seconds=fairness_seconds)
                if "usdcap" in wanted:
                    progress("USD cap overshoot: 8 processes on one Redis")
                    with given_or_local_redis(redis_url) as url:
                        result |= usd_cap(world, url) if url else {"usdcap": "redis-server not installed"}
            finally:
                world.stop()
    result["targets"] = {
        "inprocess_us_per_call": 20,
        "redis_us_per_call": 300,
        "inpath_overspend_calls": 1,
        "usdcap_reserved.overshoot_calls": "≤ one call's reservation in total",
    }
    return result
