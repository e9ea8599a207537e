"""In-path limits in the attach hook: rpm, tpm, daily USD, waiting, and the Redis store across processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import aipctl
from aipctl.guard.limits import MemoryStore, RedisStore
from aipctl.wiring import Resolver
from aipctl_sim import telemetry
from tests.conftest import MINIMAL_INVENTORY, REGION, ROOT

MESSAGES = [{"role": "user", "content": [{"text": "Summarise the quarterly numbers for the board, please."}]}]


@pytest.fixture
def applied(cli, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0


@pytest.fixture
def resolver(session, emulator) -> Resolver:
    return Resolver(session, region=REGION, endpoint_url=emulator, environ={})


def _client(session, emulator, resolver, **kwargs):
    from botocore.config import Config

    raw = session.client("bedrock-runtime", endpoint_url=emulator, config=Config(retries={"total_max_attempts": 1}))
    return aipctl.attach(raw, "chat", resolver=resolver, **kwargs)


def _calls() -> int:
    return len(telemetry.store().query("SELECT 1 FROM calls"))


def test_rpm_refuses_before_calling_bedrock(applied, resolver, session, emulator) -> None:
    client = _client(session, emulator, resolver, limits={"rpm": 3}, store=MemoryStore())
    for _ in range(3):
        client.converse(modelId="sonnet", messages=MESSAGES)
    with pytest.raises(aipctl.LimitExceeded) as refused:
        client.converse(modelId="sonnet", messages=MESSAGES)
    assert refused.value.limit == "rpm" and 0 < refused.value.retry_after <= 20.0
    assert "3 requests per minute" in str(refused.value)
    assert _calls() == 3, "the refused call never reached Bedrock"


def test_daily_usd_overspends_by_at_most_one_call(applied, resolver, session, emulator) -> None:
    store = MemoryStore()
    probe = _client(session, emulator, resolver, limits={"rpm": 1000}, store=MemoryStore())
    one_call = aipctl.cost_of(
        resolver.resolve("chat", "sonnet"), probe.converse(modelId="sonnet", messages=MESSAGES)["usage"], resolver=resolver
    )
    cap = float(one_call) * 2.5
    client = _client(session, emulator, resolver, limits={"daily_usd": cap}, store=store)
    served = 0
    with pytest.raises(aipctl.LimitExceeded) as refused:
        for _ in range(10):
            client.converse(modelId="sonnet", messages=MESSAGES)
            served += 1
    assert refused.value.limit == "daily_usd" and served == 3
    day = time.strftime("%Y-%m-%d", time.gmtime())
    spent = store.spent("chat", day)
    assert cap <= spent <= cap + float(one_call) + 1e-12, "overspend is at most the one call that crossed the cap"


def test_tpm_reserves_input_and_max_output_then_settles_with_real_usage(applied, resolver, session, emulator) -> None:
    """Like Bedrock: a call reserves its input estimate plus its maximum output at the start; the stream's
    real usage settles it, so the bucket ends up holding what the calls really used."""
    from aipctl.guard.limits import estimate_tokens

    client = _client(session, emulator, resolver, limits={"tpm": 400}, store=MemoryStore())
    reservation = estimate_tokens({"messages": MESSAGES}) + 100
    per_call = []
    with pytest.raises(aipctl.LimitExceeded) as refused:
        for _ in range(40):
            response = client.converse_stream(modelId="haiku", messages=MESSAGES, inferenceConfig={"maxTokens": 100})
            for event in response["stream"]:
                if "metadata" in event:
                    per_call.append(event["metadata"]["usage"]["totalTokens"])
    assert refused.value.limit == "tpm"
    slack = 400 / 60 * 5  # the bucket refills 6.7 tokens/s; the loop takes well under 5 s
    assert sum(per_call[:-1]) <= 400 - reservation + slack, "each call was admitted with its whole reservation free"
    assert sum(per_call) > 400 - reservation - slack, "the next call's reservation no longer fitted"
    assert len(per_call) >= 2


def test_max_output_tokens_of_each_request_shape() -> None:
    from aipctl.guard.limits import DEFAULT_MAX_OUTPUT_TOKENS, max_output_tokens

    assert max_output_tokens({"inferenceConfig": {"maxTokens": 77}}) == 77
    assert max_output_tokens({"body": json.dumps({"max_tokens": 300, "messages": []})}) == 300
    assert max_output_tokens({"body": json.dumps({"textGenerationConfig": {"maxTokenCount": 512}}).encode()}) == 512
    assert max_output_tokens({"body": json.dumps({"inferenceConfig": {"max_new_tokens": 128}})}) == 128
    assert max_output_tokens({"body": b"not json"}) == DEFAULT_MAX_OUTPUT_TOKENS
    assert max_output_tokens({"messages": MESSAGES}) == DEFAULT_MAX_OUTPUT_TOKENS


def test_wait_instead_of_raise(applied, resolver, session, emulator) -> None:
    client = _client(session, emulator, resolver, limits={"rpm": 120}, store=MemoryStore(), on_limit="wait")
    started = time.monotonic()
    for _ in range(122):  # a fresh bucket holds 120; the last two wait ~0.5 s each for it to refill
        client.converse(modelId="haiku", messages=MESSAGES)
    assert time.monotonic() - started >= 0.9


def test_redis_store_is_shared_across_processes(applied, resolver, session, emulator, redis_url: str, workdir: Path) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    here = _client(session, emulator, resolver, limits={"rpm": 5, "daily_usd": 100}, store=RedisStore(redis_url))
    for _ in range(3):
        here.converse(modelId="sonnet", messages=MESSAGES)
    other = textwrap.dedent(f"""
        import boto3, aipctl
        from aipctl.guard.limits import RedisStore
        from aipctl.wiring import Resolver
        session = boto3.Session(aws_access_key_id="{session.get_credentials().access_key}",
                                aws_secret_access_key="{session.get_credentials().secret_key}", region_name="{REGION}")
        resolver = Resolver(session, region="{REGION}", endpoint_url="{emulator}", environ={{}})
        client = aipctl.attach(session.client("bedrock-runtime", endpoint_url="{emulator}"), "chat", resolver=resolver,
                               limits={{"rpm": 5, "daily_usd": 100}}, store=RedisStore("{redis_url}"))
        served = 0
        try:
            for _ in range(5):
                client.converse(modelId="sonnet", messages={MESSAGES!r})
                served += 1
        except aipctl.LimitExceeded as exc:
            print(served, exc.limit)
    """)
    result = subprocess.run(
        [sys.executable, "-c", other], capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(ROOT / "src")}
    )
    assert result.stdout.split() == ["2", "rpm"], result.stderr
    with pytest.raises(aipctl.LimitExceeded):
        here.converse(modelId="sonnet", messages=MESSAGES)
    spent = RedisStore(redis_url).spent("chat", time.strftime("%Y-%m-%d", time.gmtime()))
    assert spent > 0, "both processes' costs were added to the shared day"


def test_unreachable_redis_fails_open_by_default_or_closed_when_asked(applied, resolver, session, emulator, caplog) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    lenient = _client(session, emulator, resolver, limits={"rpm": 1}, store=RedisStore(dead, background_settle=False))
    for _ in range(2):  # rpm 1 would refuse the second call; with the store down, both pass
        lenient.converse(modelId="haiku", messages=MESSAGES)
    assert "unreachable" in caplog.text
    strict = _client(session, emulator, resolver, limits={"rpm": 1}, store=RedisStore(dead, fail_open=False))
    with pytest.raises(aipctl.TargetError, match="unreachable"):
        strict.converse(modelId="haiku", messages=MESSAGES)


def test_redis_tier_state_is_found_whatever_was_asked_first(redis_url: str) -> None:
    import redis

    from aipctl.guard.limits import LimitSpec

    redis.Redis.from_url(redis_url).flushdb()
    store = RedisStore(redis_url, background_settle=False)
    spec = LimitSpec(tier="gold", tier_weight=4.0)
    assert store.spent("t", "2026-11-22") == 0.0  # keys for the caller looked up without a tier first
    store.throttled("gold", 4.0)  # Bedrock throttled gold: its bucket starts empty
    limit, wait = store.admit("t", spec, 0, "2026-11-22")
    assert limit == "tier" and wait > 0


def test_limit_spec_from_a_mapping_or_the_inventory() -> None:
    from aipctl.guard.limits import LimitSpec
    from aipctl.inventory import example_inventory, parse_inventory

    callers = parse_inventory(example_inventory(), "aipctl.yaml").inventory.callers
    assert LimitSpec.of(callers["mcp-whatsapp"]) == LimitSpec(rpm=600, tpm=400000, daily_usd=40)
    assert LimitSpec.of(callers["mcp-whatsapp"].limits) == LimitSpec(rpm=600, tpm=400000, daily_usd=40)
    assert LimitSpec.of(callers["mcp-hosted"]) == LimitSpec(tier="gold", tier_weight=4.0)
    assert LimitSpec.of({"rpm": 5, "tier": "vip", "tier_weight": 9}) == LimitSpec(rpm=5, tier="vip", tier_weight=9.0)
    with pytest.raises(aipctl.UsageError, match="tier 'vip' has no weight"):
        LimitSpec.of({"tier": "vip"})
    with pytest.raises(aipctl.UsageError, match="unknown limit"):
        LimitSpec.of({"rpn": 5})
    assert LimitSpec.of(callers["daily-briefing"]).empty


def test_a_principal_caller_keeps_its_model_ids_and_its_usd_limit(cli, workdir: Path, resolver, session, emulator) -> None:
    """`attribution: principal` callers have no AIP: attach(by_principal=True) rewrites nothing, and
    prices the direct calls for the daily USD limit by their own model ids."""
    from botocore.config import Config

    principal_only = MINIMAL_INVENTORY.replace(
        "    owner: platform-team\n", "    owner: platform-team\n    attribution: principal\n"
    )
    (workdir / "aipctl.yaml").write_text(principal_only)
    assert cli("apply", "--yes").code == 0
    raw = session.client("bedrock-runtime", endpoint_url=emulator, config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(aipctl.UnknownCaller) as unknown:
        aipctl.attach(raw, "chat", resolver=resolver)
    assert "by_principal=True" in (unknown.value.hint or "")
    model = "eu.anthropic.claude-sonnet-4-6"
    one_call = aipctl.cost_of(model, raw.converse(modelId=model, messages=MESSAGES)["usage"], resolver=resolver)
    store = MemoryStore()
    client = aipctl.attach(
        raw, "chat", resolver=resolver, by_principal=True, limits={"daily_usd": float(one_call) * 1.5}, store=store
    )
    client.converse(modelId=model, messages=MESSAGES)
    with pytest.raises(aipctl.LimitExceeded) as refused:
        client.converse(modelId=model, messages=MESSAGES)
        client.converse(modelId=model, messages=MESSAGES)
    assert refused.value.limit == "daily_usd"
    assert store.spent("chat", time.strftime("%Y-%m-%d", time.gmtime())) == pytest.approx(float(one_call) * 2, rel=0.05)
    sent = {row[0] for row in telemetry.store().query("SELECT model_id FROM calls")}
    assert sent == {model}, "the model id went out as the caller wrote it"


def test_attach_takes_limits_and_tiers_from_the_inventory(cli, workdir: Path, resolver, session, emulator) -> None:
    """A caller's limits come from its tier's defaults and its tier weight from the inventory's own tiers
    (not the built-in platinum..bronze), with `attach(client, caller, inventory=...)` and nothing else."""
    from botocore.config import Config

    tiered = (
        "name: tiers\nregion: eu-central-1\nmodels:\n  sonnet: eu.anthropic.claude-sonnet-4-6\n"
        "tiers:\n  free: {weight: 1, limits: {rpm: 2}}\n  enterprise: 8\n"
        "callers:\n  hobbyist:\n    owner: x\n    environment: prod\n    models: [sonnet]\n    tier: free\n"
    )
    (workdir / "aipctl.yaml").write_text(tiered)
    assert cli("apply", "--yes").code == 0
    raw = session.client("bedrock-runtime", endpoint_url=emulator, config=Config(retries={"total_max_attempts": 1}))
    client = aipctl.attach(raw, "hobbyist", resolver=resolver, inventory=workdir / "aipctl.yaml", store=MemoryStore())
    client.converse(modelId="sonnet", messages=MESSAGES)
    client.converse(modelId="sonnet", messages=MESSAGES)
    with pytest.raises(aipctl.LimitExceeded) as refused:
        client.converse(modelId="sonnet", messages=MESSAGES)
    assert refused.value.limit == "rpm", "the tier's rpm, found by attach itself"
    with pytest.raises(aipctl.UnknownCaller):
        aipctl.attach(raw, "nobody", resolver=resolver, inventory=workdir / "aipctl.yaml")


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_concurrent_calls_overshoot_a_usd_cap_by_at_most_one_reservation(backend: str, request) -> None:
    """16 threads, each call reserving $0.01 and really costing $0.008-0.01 after 20 ms: the settled spend
    ends below cap + one reservation, in one process's memory and on a shared Redis alike."""
    import random
    import threading

    from aipctl.guard.limits import Limiter, LimitSpec

    if backend == "redis":
        import redis

        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        store: Any = RedisStore(url, background_settle=False)
    else:
        store = MemoryStore()
    cap, reserve = 0.1, 0.01
    limiter = Limiter("t", LimitSpec(daily_usd=cap), store=store, max_wait=30)
    params = {"messages": MESSAGES, "inferenceConfig": {"maxTokens": 100}}
    prices = (0.0, reserve / 100)  # 100 output tokens at most: the reservation is $0.01 (input priced at 0)
    served = []

    def caller() -> None:
        rng = random.Random()
        while True:
            try:
                ticket = limiter.admit(params, prices)
            except aipctl.LimitExceeded:
                return
            assert ticket.usd == pytest.approx(reserve)
            time.sleep(0.02)
            limiter.settle(ticket, 100, reserve * rng.uniform(0.8, 1.0))
            served.append(1)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    spent = store.spent("t", limiter.day())
    assert cap <= spent + reserve and spent <= cap + reserve, (spent, len(served))
    assert store.reserved("t", limiter.day()) == pytest.approx(0.0, abs=1e-12), "every reservation was settled"


def test_a_reservation_that_never_settles_lapses() -> None:
    from aipctl.guard.limits import RESERVATION_TTL_S, Limiter, LimitSpec

    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    limiter = Limiter("t", LimitSpec(daily_usd=0.01), store=store, max_wait=0)
    params = {"messages": MESSAGES, "inferenceConfig": {"maxTokens": 100}}
    limiter.admit(params, (0.0, 0.0001))  # holds the whole $0.01 cap; its process "dies": never settled
    with pytest.raises(aipctl.LimitExceeded, match="calls in flight hold the rest"):
        limiter.admit(params, (0.0, 0.0001))
    now[0] += RESERVATION_TTL_S + 1
    assert limiter.admit(params, (0.0, 0.0001)).usd == pytest.approx(0.01)
