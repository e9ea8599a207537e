"""Realistic Bedrock traffic for the emulator, made with real boto3 clients, written into the past.

``run_traffic(days=3)`` produces the last three days up to now: for each hour of them, every
caller makes a number of calls drawn from its daily volume and a diurnal curve (quiet at night,
peak early afternoon), through its own AIPs and under its own IAM identity (a role named after
the inventory's first identity pattern, assumed with the caller's name as session name, so
CloudTrail names it). Each call carries the moment it "happened" (``X-Aipctl-Sim-Time``), so
CloudTrail, CloudWatch, invocation logs and billing are dated in the past and any client reading
with wall-clock windows finds them. The account's setup (AIPs, activated cost tags) is dated to
the start of that history. The first caller is a heavy hitter (5x volume); ``bypass`` callers
still call the system-defined profile or model directly; aliases whose model is an embedding model
are called with InvokeModel. The same seed and inventory give the same calls.

Talks to the emulator only over HTTP (boto3 and its control API), like any other client.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aipctl._exceptions import AwsError, UsageError
from aipctl.aws.errors import aws_call
from aipctl.aws.live import ManagedProfiles, read_live_state
from aipctl.aws.simctl import SIM_TIME_HEADER, SimControl
from aipctl.aws.target import Target
from aipctl.inventory import LoadedInventory
from aipctl.progress import NO_PROGRESS, Progress

EMBEDDING_HINTS = ("embed",)
_TOPICS = (
    "invoice totals",
    "tenant usage",
    "a support ticket",
    "the weekly report",
    "a contract clause",
    "an outage summary",
    "customer churn",
    "the on-call handover",
    "a pricing question",
    "release notes",
)


@dataclass
class CallerPlan:
    caller: str
    role_name: str
    targets: dict[str, str]  # alias -> model id to call (an AIP ARN, or the source for a bypasser)
    embedding_aliases: set[str]
    weight: float
    bypass: bool = False


@dataclass
class TrafficReport:
    hours: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    input_tokens: Counter[str] = field(default_factory=Counter)
    output_tokens: Counter[str] = field(default_factory=Counter)
    bypass_callers: tuple[str, ...] = ()
    start: str = ""
    end: str = ""

    @property
    def bypass_caller(self) -> str | None:
        """The (first) caller left calling its model directly."""
        return self.bypass_callers[0] if self.bypass_callers else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "hours": self.hours,
            "start": self.start,
            "end": self.end,
            "bypass_caller": self.bypass_caller,
            "bypass_callers": list(self.bypass_callers),
            "callers": {
                c: {
                    "calls": self.calls[c],
                    "errors": self.errors[c],
                    "input_tokens": self.input_tokens[c],
                    "output_tokens": self.output_tokens[c],
                }
                for c in sorted(self.calls | self.errors)
            },
            "total_calls": sum(self.calls.values()),
        }


def diurnal(hour: int) -> float:
    """Relative load at an hour of the day (UTC): 0.15 at night, 1.0 around 13:00."""
    return 0.15 + 0.85 * max(0.0, math.sin(math.pi * (hour - 6) / 14)) if 6 <= hour <= 20 else 0.15


def plan_callers(
    loaded: LoadedInventory, managed: ManagedProfiles, bypass: Sequence[str] | None, account: str
) -> list[CallerPlan]:
    """Who calls what: ``bypass`` None picks the last caller with a text model; ``()`` leaves nobody bypassing."""
    inventory = loaded.inventory
    arns = {(d.caller, d.alias): p.arn for d in loaded.profiles if (p := managed.get(d.caller, d.alias))}
    everyone_direct = bypass is not None and set(bypass) >= set(inventory.callers)
    missing = sorted(f"{d.caller}/{d.alias}" for d in loaded.profiles if (d.caller, d.alias) not in arns)
    if missing and not everyone_direct:  # callers calling their models directly need no AIPs
        raise UsageError(
            f"AIPs missing for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
            hint="run `aipctl apply --yes` first",
        )
    text_callers = [
        name for name, c in inventory.callers.items() if any(not _is_embedding(loaded.sources[a].model_id) for a in c.models)
    ]
    if bypass is None:
        bypass = text_callers[-1:] if len(text_callers) > 1 else []
    strangers = sorted(set(bypass) - set(inventory.callers))
    if strangers:
        raise UsageError(f"--bypass {', '.join(strangers)}: not a caller of the inventory")
    plans = []
    for index, (name, caller) in enumerate(inventory.callers.items()):
        is_bypass = name in bypass
        targets = {
            alias: loaded.sources[alias].copy_from(inventory.region, account) if is_bypass else arns[(name, alias)]
            for alias in caller.models
        }
        role = workload_role(name, caller.identities)
        embedding = {a for a in caller.models if _is_embedding(loaded.sources[a].model_id)}
        plans.append(CallerPlan(name, role, targets, embedding, 5.0 if index == 0 else 1.0, is_bypass))
    return plans


def _is_embedding(model_id: str) -> bool:
    return any(hint in model_id for hint in EMBEDDING_HINTS)


def workload_role(caller: str, identities: Sequence[str]) -> str:
    """The IAM role a simulated caller runs as: the role its first identity pattern names."""
    role = identities[0].rsplit("/", 1)[-1] if identities else f"aipctl-traffic-{caller}"
    return "".join(ch for ch in role if ch.isalnum() or ch in "+=,.@_-") or f"aipctl-traffic-{caller}"


def _ensure_role(iam: Any, name: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    try:
        with aws_call("iam", "GetRole", name):
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except AwsError as exc:
        if exc.code != "NoSuchEntity":
            raise
        with aws_call("iam", "CreateRole", name):
            return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def ensure_workload_roles(loaded: LoadedInventory, target: Target) -> list[str]:
    """Create (if missing) the role each caller of the inventory runs as, as the account's workloads would have."""
    iam = target.client("iam")
    return [_ensure_role(iam, workload_role(name, c.identities)) for name, c in loaded.inventory.callers.items()]


def _credentials(target: Target, plan: CallerPlan) -> dict[str, str]:
    sts = target.client("sts")
    role_arn = _ensure_role(target.client("iam"), plan.role_name)
    with aws_call("sts", "AssumeRole", role_arn):
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=plan.caller[:64])["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def run_traffic(
    loaded: LoadedInventory,
    target: Target,
    *,
    days: float,
    seed: int,
    calls_per_day: int = 40,
    bypass: Sequence[str] | None = None,
    concurrency: int = 8,
    ago: float = 0.0,
    progress: Progress = NO_PROGRESS,
) -> TrafficReport:
    """Drive ``days`` of traffic ending ``ago`` days before now; returns what was sent (the emulator records what it
    received)."""
    if target.kind != "sim" or not target.endpoint_url:
        raise UsageError("traffic is generated against the emulator only (--target sim)")
    control = SimControl(target.endpoint_url)
    plans = plan_callers(loaded, read_live_state(target).managed(loaded), bypass, target.account)
    now = dt.datetime.fromisoformat(control.clock()["now"]) - dt.timedelta(days=ago)
    start = now - dt.timedelta(days=days)
    control.backfill(start)
    clients = _clients(target, plans, concurrency)
    rng = random.Random(seed)
    report = TrafficReport(bypass_callers=tuple(p.caller for p in plans if p.bypass), start=_iso(start), end=_iso(now))
    hours = max(1, math.ceil(days * 24))
    daily = sum(diurnal(h) for h in range(24))
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="aipctl-traffic") as pool:
        for index in range(hours):
            slot = start + dt.timedelta(hours=index)
            span = min(3600.0, (now - slot).total_seconds())
            jobs = []
            for plan in plans:
                expected = calls_per_day * plan.weight * diurnal(slot.hour) / daily * span / 3600
                for _ in range(_poisson(rng, expected)):
                    when = slot + dt.timedelta(seconds=rng.random() * span)
                    jobs.append((plan, rng.choice(sorted(plan.targets)), rng.random(), rng.randint(0, 10_000), when))
            jobs.sort(key=lambda job: job[4])
            for caller, outcome, tokens in pool.map(lambda job: _call(clients[job[0].caller], *job), jobs):
                if outcome == "ok":
                    report.calls[caller] += 1
                    report.input_tokens[caller] += tokens[0]
                    report.output_tokens[caller] += tokens[1]
                else:
                    report.errors[caller] += 1
            report.hours += 1
            progress("simulating traffic", index + 1, hours)
    return report


_when = threading.local()


def _stamp(request: Any, **_: Any) -> None:
    """botocore ``before-send``: tell the emulator when this call happened."""
    moment = getattr(_when, "value", None)
    if moment is not None:
        request.headers[SIM_TIME_HEADER] = moment


def _clients(target: Target, plans: Sequence[CallerPlan], concurrency: int) -> dict[str, Any]:
    """A bedrock-runtime client per caller, under its own role; their connections are shared out by ``concurrency``."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "total_max_attempts": 6}, max_pool_connections=max(2, concurrency))
    session = boto3.Session(region_name=target.region)  # one session: the service model is loaded once, not per caller
    clients = {}
    for plan in plans:
        client = session.client("bedrock-runtime", endpoint_url=target.endpoint_url, config=config, **_credentials(target, plan))
        client.meta.events.register("before-send.bedrock-runtime", _stamp)
        clients[plan.caller] = client
    return clients


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat()


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _call(
    client: Any, plan: CallerPlan, alias: str, size: float, salt: int, when: dt.datetime
) -> tuple[str, str, tuple[int, int]]:
    model_id = plan.targets[alias]
    topic = _TOPICS[salt % len(_TOPICS)]
    _when.value = _iso(when)
    try:
        with aws_call("bedrock-runtime", "InvokeModel/Converse", model_id):
            return _invoke(client, plan, alias, size, salt, model_id, topic)
    except AwsError as exc:
        return plan.caller, exc.code, (0, 0)
    finally:
        _when.value = None


def _invoke(
    client: Any, plan: CallerPlan, alias: str, size: float, salt: int, model_id: str, topic: str
) -> tuple[str, str, tuple[int, int]]:
    if alias in plan.embedding_aliases:
        text = f"{plan.caller} document {salt}: " + " ".join([topic] * (1 + int(size * 40)))
        answer = client.invoke_model(modelId=model_id, body=json.dumps({"inputText": text}))
        headers = answer["ResponseMetadata"]["HTTPHeaders"]
        answer["body"].read()
        return plan.caller, "ok", (int(headers.get("x-amzn-bedrock-input-token-count", 0)), 0)
    prompt = f"[{plan.caller} #{salt}] Please summarise {topic}. " + "Context line. " * int(1 + size * 120)
    answer = client.converse(
        modelId=model_id,
        messages=[{"role": "user", "content": [{"text": prompt}]}],
        inferenceConfig={"maxTokens": 64 + int(size * 448)},
    )
    usage = answer["usage"]
    return plan.caller, "ok", (usage["inputTokens"], usage["outputTokens"])
