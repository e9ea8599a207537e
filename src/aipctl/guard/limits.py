"""In-path limits: per-tenant requests/min, tokens/min and USD/day, and priority tiers.

A :class:`Limiter` is consulted by the botocore hook of :func:`aipctl.attach` before each runtime
call (``admit``) and told the real usage after it (``settle``):

- **rpm**: a token bucket of ``rpm`` requests refilled continuously (``rpm / 60`` per second);
- **tpm**: a bucket of ``tpm`` tokens. ``admit`` *reserves* what Bedrock reserves at request start:
  the input (text length / 4) plus the request's maximum output (``maxTokens``, ``max_tokens`` …;
  :data:`DEFAULT_MAX_OUTPUT_TOKENS` when it names none); ``settle`` gives back the difference to the
  real input + output tokens;
- **daily_usd**: spend per UTC day, reserve then settle: ``admit`` reserves the call's worst case
  (the reserved tokens at the model's input and output prices) while the day's spend plus the
  reservations in flight is below the cap; ``settle`` replaces the reservation with the real cost.
  Concurrent calls — threads, processes, hosts on one Redis — therefore overshoot the cap by at most
  one reservation in total. A reservation whose call never settles (a killed process) lapses after
  :data:`RESERVATION_TTL_S`;
- **tier**: under Bedrock throttling, each tier's admission rate follows AIMD: +``α·w`` requests/s
  per second while admitted, × ``(1 - β/w)`` on each throttle, so lower tiers back off harder and
  the shares of a contended quota converge to the tiers' weights ``w`` (at equilibrium
  ``α·w = p·(β/w)·rate²``, so ``rate ∝ w``). Without throttling, tiers cost nothing and limit nothing.

State lives in-process (:class:`MemoryStore`, one lock) or in Redis (:class:`RedisStore`, one Lua
script per call, shared by every process and host that uses the same Redis).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aipctl._exceptions import LimitExceeded, UsageError

DEFAULT_TIERS: dict[str, float] = {"platinum": 8.0, "gold": 4.0, "silver": 2.0, "bronze": 1.0}
#: After this long without a throttle, a tier's admission cap is lifted.
TIER_CALM_S = 10.0
#: Multiplicative decrease on a throttle (divided by the tier's weight) and additive increase
#: (requests/s gained per second, times the weight).
TIER_BETA = 0.5
TIER_ALPHA = 2.0
#: A tier's admission rate right after its first throttle.
TIER_START_RATE = 50.0
#: Output tokens reserved for a request that does not name its maximum (Converse ``maxTokens``, ...).
DEFAULT_MAX_OUTPUT_TOKENS = 4096
#: A reservation whose call never settled (its process died) stops counting after this long.
RESERVATION_TTL_S = 900.0
#: How long a call waits to retry when in-flight reservations, not spend, hold the rest of the daily cap.
RESERVED_RETRY_S = 0.25


@dataclass(frozen=True)
class Reservation:
    """What :meth:`Limiter.admit` took for one call: tokens, USD and the day, under ``ticket``."""

    tokens: float
    day: str
    usd: float = 0.0
    ticket: str = ""


def _decrease(weight: float) -> float:
    return max(0.1, 1 - TIER_BETA / max(weight, TIER_BETA + 0.01))


@dataclass(frozen=True)
class LimitSpec:
    """The limits of one caller (from the inventory's ``limits`` and ``tier``)."""

    rpm: float = 0.0  # 0: no limit
    tpm: float = 0.0
    daily_usd: float = 0.0
    tier: str | None = None
    tier_weight: float = 0.0

    @classmethod
    def of(cls, limits: Any, tiers: Mapping[str, float] | None = None) -> LimitSpec:
        """From a mapping (``rpm``, ``tpm``, ``daily_usd``, ``tier``, ``tier_weight``), the inventory's
        caller entry (its ``limits`` and ``tier``) or its ``limits`` entry alone."""
        if isinstance(limits, LimitSpec):
            return limits
        if isinstance(limits, Mapping):
            known = {"rpm", "tpm", "daily_usd", "tier", "tier_weight"}
            unknown = set(limits) - known
            if unknown:
                raise UsageError(f"unknown limit(s) {', '.join(sorted(unknown))}: use {', '.join(sorted(known))}")
            values, tier, weight = dict(limits), limits.get("tier"), limits.get("tier_weight")
        else:  # the inventory's Caller (limits + tier) or Limits
            entry = getattr(limits, "limits", limits)
            values = {k: getattr(entry, k, None) for k in ("rpm", "tpm", "daily_usd")}
            tier, weight = getattr(limits, "tier", None), None
        if tier and not weight:
            weights = dict(tiers or DEFAULT_TIERS)
            if tier not in weights:
                raise UsageError(f"tier {tier!r} has no weight (known: {', '.join(sorted(weights))}); pass tier_weight")
            weight = weights[tier]
        return cls(
            rpm=float(values.get("rpm") or 0),
            tpm=float(values.get("tpm") or 0),
            daily_usd=float(values.get("daily_usd") or 0),
            tier=str(tier) if tier else None,
            tier_weight=float(weight or 0),
        )

    @property
    def empty(self) -> bool:
        return not (self.rpm or self.tpm or self.daily_usd or self.tier)


class Store(Protocol):
    def admit(
        self, caller: str, spec: LimitSpec, tokens: float, day: str, usd: float = 0.0, ticket: str = ""
    ) -> tuple[str | None, float]:
        """(None, 0) to admit, else (limit name, seconds to wait); takes 1 request and ``tokens`` and
        reserves ``usd`` of the day's cap under ``ticket``."""

    def settle(self, caller: str, spec: LimitSpec, token_delta: float, usd: float, day: str, ticket: str = "") -> None:
        """Correct the token bucket by ``token_delta``, release ``ticket``'s reservation and add ``usd``."""

    def throttled(self, tier: str, weight: float) -> None:
        """Bedrock throttled a call of ``tier``."""

    def spent(self, caller: str, day: str) -> float: ...


@dataclass
class _Bucket:
    level: float
    at: float

    def refill(self, rate: float, capacity: float, now: float) -> None:
        self.level = min(capacity, self.level + (now - self.at) * rate)
        self.at = now


@dataclass
class _Tier:
    rate: float = math.inf  # admitted requests/s; inf while calm
    bucket: _Bucket = field(default_factory=lambda: _Bucket(0.0, 0.0))
    last_throttle: float = -math.inf
    admitted_since: int = 0


class MemoryStore:
    """Limits for the threads of one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._rpm: dict[str, _Bucket] = {}
        self._tpm: dict[str, _Bucket] = {}
        self._usd: dict[tuple[str, str], float] = {}
        self._reserved: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
        self._tiers: dict[str, _Tier] = {}

    def _in_flight(self, caller: str, day: str, now: float) -> dict[str, tuple[float, float]]:
        held = self._reserved.setdefault((caller, day), {})
        for ticket in [t for t, (_, until) in held.items() if until <= now]:
            del held[ticket]  # its call never settled
        return held

    def admit(
        self, caller: str, spec: LimitSpec, tokens: float, day: str, usd: float = 0.0, ticket: str = ""
    ) -> tuple[str | None, float]:
        with self._lock:
            now = self.clock()
            held: dict[str, tuple[float, float]] | None = None
            if spec.daily_usd:
                spent = self._usd.get((caller, day), 0.0)
                if spent >= spec.daily_usd:
                    return "daily_usd", 0.0
                held = self._in_flight(caller, day, now)
                if spent + sum(v for v, _ in held.values()) >= spec.daily_usd:
                    return "daily_usd", RESERVED_RETRY_S
            rpm = tpm = None
            if spec.rpm:
                rpm = self._rpm.get(caller) or self._rpm.setdefault(caller, _Bucket(spec.rpm, now))
                rpm.refill(spec.rpm / 60, spec.rpm, now)
                if rpm.level < 1:
                    return "rpm", (1 - rpm.level) / (spec.rpm / 60)
            if spec.tpm:
                tpm = self._tpm.get(caller) or self._tpm.setdefault(caller, _Bucket(spec.tpm, now))
                tpm.refill(spec.tpm / 60, spec.tpm, now)
                need = min(tokens, spec.tpm)
                if tpm.level < need:
                    return "tpm", (need - tpm.level) / (spec.tpm / 60)
            if spec.tier:
                tier = self._tiers.get(spec.tier) or self._tiers.setdefault(spec.tier, _Tier())
                if now - tier.last_throttle > TIER_CALM_S:
                    tier.rate = math.inf
                if tier.rate != math.inf:
                    tier.bucket.refill(tier.rate, max(1.0, tier.rate), now)
                    if tier.bucket.level < 1:
                        return "tier", (1 - tier.bucket.level) / tier.rate
                    tier.bucket.level -= 1
                    tier.rate += TIER_ALPHA * spec.tier_weight / max(tier.rate, 1.0)  # additive increase per second
            if rpm is not None:
                rpm.level -= 1
            if tpm is not None:
                tpm.level -= tokens
            if held is not None and usd and ticket:
                held[ticket] = (usd, now + RESERVATION_TTL_S)
            return None, 0.0

    def settle(self, caller: str, spec: LimitSpec, token_delta: float, usd: float, day: str, ticket: str = "") -> None:
        with self._lock:
            if spec.tpm and token_delta and caller in self._tpm:
                self._tpm[caller].level -= token_delta
            if ticket:
                self._reserved.get((caller, day), {}).pop(ticket, None)
            if usd:
                self._usd[(caller, day)] = self._usd.get((caller, day), 0.0) + usd

    def reserved(self, caller: str, day: str) -> float:
        """USD held by calls in flight."""
        with self._lock:
            return sum(v for v, _ in self._in_flight(caller, day, self.clock()).values())

    def throttled(self, tier: str, weight: float) -> None:
        with self._lock:
            now = self.clock()
            state = self._tiers.setdefault(tier, _Tier())
            observed = state.rate if state.rate != math.inf and now - state.last_throttle <= TIER_CALM_S else TIER_START_RATE
            state.rate = max(0.5, observed * _decrease(weight))
            state.bucket = _Bucket(0.0, now)
            state.last_throttle = now

    def spent(self, caller: str, day: str) -> float:
        return self._usd.get((caller, day), 0.0)


# One round trip per call. KEYS: rpm, tpm, usd(day), tier hash, reservations (zset: ticket -> expiry),
# reservation amounts (hash: ticket -> USD). ARGV: rpm, tpm, daily_usd, tokens, tier weight, calm
# seconds, alpha, reserved USD, ticket, reservation TTL, retry seconds. Time comes from the Redis
# server, so every host agrees.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rpm, tpm, cap, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local weight, calm, alpha = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local reserve, ticket, ttl = tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[10])
if cap > 0 then
  local spent = tonumber(redis.call('GET', KEYS[3]) or '0')
  if spent >= cap then return {'daily_usd', '0'} end
  local lapsed = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
  if #lapsed > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
    redis.call('HDEL', KEYS[6], unpack(lapsed))
  end
  local held = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[6])) do held = held + tonumber(v) end
  if spent + held >= cap then return {'daily_usd', ARGV[11]} end
end
local function bucket(key, rate, capacity)
  local v = redis.call('HMGET', key, 'l', 'a')
  local level, at = tonumber(v[1]), tonumber(v[2])
  if level == nil then level, at = capacity, now end
  level = math.min(capacity, level + (now - at) * rate)
  return level
end
local rl, tl
if rpm > 0 then
  rl = bucket(KEYS[1], rpm / 60, rpm)
  if rl < 1 then return {'rpm', tostring((1 - rl) / (rpm / 60))} end
end
if tpm > 0 then
  tl = bucket(KEYS[2], tpm / 60, tpm)
  local need = math.min(tokens, tpm)
  if tl < need then return {'tpm', tostring((need - tl) / (tpm / 60))} end
end
if weight > 0 then
  local v = redis.call('HMGET', KEYS[4], 'rate', 'l', 'a', 'throttle')
  local rate, level, at, throttle = tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])
  if rate ~= nil and throttle ~= nil and now - throttle <= calm then
    level = math.min(math.max(1, rate), level + (now - at) * rate)
    if level < 1 then
      redis.call('HSET', KEYS[4], 'l', level, 'a', now)
      return {'tier', tostring((1 - level) / rate)}
    end
    rate = rate + alpha * weight / math.max(rate, 1)
    redis.call('HSET', KEYS[4], 'rate', rate, 'l', level - 1, 'a', now)
  end
end
if rpm > 0 then redis.call('HSET', KEYS[1], 'l', rl - 1, 'a', now); redis.call('EXPIRE', KEYS[1], 120) end
if tpm > 0 then redis.call('HSET', KEYS[2], 'l', tl - tokens, 'a', now); redis.call('EXPIRE', KEYS[2], 120) end
if cap > 0 and reserve > 0 and ticket ~= '' then
  redis.call('ZADD', KEYS[5], now + ttl, ticket)
  redis.call('HSET', KEYS[6], ticket, reserve)
  redis.call('EXPIRE', KEYS[5], 172800)
  redis.call('EXPIRE', KEYS[6], 172800)
end
return {'', '0'}
"""
# KEYS: tpm, usd(day), reservations, reservation amounts. ARGV: token delta, usd, ticket.
_SETTLE = """
if tonumber(ARGV[1]) ~= 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBYFLOAT', KEYS[1], 'l', -tonumber(ARGV[1]))
end
if tonumber(ARGV[2]) ~= 0 then redis.call('INCRBYFLOAT', KEYS[2], ARGV[2]); redis.call('EXPIRE', KEYS[2], 172800) end
if ARGV[3] ~= '' then
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('HDEL', KEYS[4], ARGV[3])
end
return 1
"""
_THROTTLED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local v = redis.call('HMGET', KEYS[1], 'rate', 'throttle')
local rate, throttle = tonumber(v[1]), tonumber(v[2])
if rate == nil or throttle == nil or now - throttle > tonumber(ARGV[2]) then rate = tonumber(ARGV[3]) end
redis.call('HSET', KEYS[1], 'rate', math.max(0.5, rate * tonumber(ARGV[1])), 'l', 0, 'a', now, 'throttle', now)
redis.call('EXPIRE', KEYS[1], 3600)
return 1
"""


class RedisStore:
    """Limits shared by every process and host using the same Redis (``redis://`` URL).

    ``admit`` is one round trip (a Lua script). ``settle`` is queued to a background thread
    (``background_settle=True``, the default), so a call pays one round trip, not two; the usage
    reaches Redis within about a round trip after the call returns.

    When Redis cannot be reached, calls are admitted with a warning (``fail_open=True``, the
    default: a guard outage must not become a Bedrock outage) or refused with
    :class:`aipctl.TargetError` (``fail_open=False``).
    """

    def __init__(self, url: str, *, prefix: str = "aipctl", background_settle: bool = True, fail_open: bool = True) -> None:
        try:
            import redis
        except ImportError:
            raise UsageError("the Redis limit store needs the redis package: pip install 'aipctl[redis]'") from None
        self.client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self.url = url
        self.fail_open = fail_open
        self._errors = redis.RedisError
        self._warned_at = 0.0
        self.prefix = prefix
        self._admit = self.client.register_script(_ADMIT)
        self._settle = self.client.register_script(_SETTLE)
        self._throttled = self.client.register_script(_THROTTLED)
        self._keys: dict[tuple[str, str | None, str], list[str]] = {}
        self._queue: Any = None
        if background_settle:
            import queue

            self._queue = queue.SimpleQueue()
            threading.Thread(target=self._drain, name="aipctl-limits-settle", daemon=True).start()

    def _drain(self) -> None:
        while True:
            keys, args, done = self._queue.get()
            try:
                if keys is not None:
                    self._settle(keys=keys, args=args)
            except Exception:  # Redis unreachable: the limit stays conservative (the estimate is kept)
                pass
            finally:
                if done is not None:
                    done.set()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until queued settles reached Redis."""
        if self._queue is not None:
            done = threading.Event()
            self._queue.put((None, None, done))
            done.wait(timeout)

    def _tier_key(self, tier: str | None) -> str:
        return f"{self.prefix}:tier:{tier or '-'}"

    def _caller_keys(self, caller: str, tier: str | None, day: str) -> list[str]:
        cached = self._keys.get((caller, tier, day))
        if cached is None:
            base = f"{self.prefix}:{{{caller}}}"  # one hash slot per caller (Redis Cluster)
            cached = [
                f"{base}:rpm",
                f"{base}:tpm",
                f"{base}:usd:{day}",
                self._tier_key(tier),
                f"{base}:held:{day}",
                f"{base}:held-usd:{day}",
            ]
            self._keys[(caller, tier, day)] = cached
        return cached

    def admit(
        self, caller: str, spec: LimitSpec, tokens: float, day: str, usd: float = 0.0, ticket: str = ""
    ) -> tuple[str | None, float]:
        keys = self._caller_keys(caller, spec.tier, day)
        args: list[float | str] = [
            spec.rpm,
            spec.tpm,
            spec.daily_usd,
            tokens,
            spec.tier_weight,
            TIER_CALM_S,
            TIER_ALPHA,
            usd,
            ticket,
            RESERVATION_TTL_S,
            RESERVED_RETRY_S,
        ]
        try:
            limit, wait = self._admit(keys=keys, args=args)
        except self._errors as exc:
            return self._unreachable(exc)
        name = limit.decode() if isinstance(limit, bytes) else str(limit)
        return (name or None), float(wait)

    def settle(self, caller: str, spec: LimitSpec, token_delta: float, usd: float, day: str, ticket: str = "") -> None:
        held = ticket if spec.daily_usd else ""
        if token_delta or usd or held:
            keys = self._caller_keys(caller, spec.tier, day)
            settle_keys = [keys[1], keys[2], keys[4], keys[5]]
            args = [token_delta if spec.tpm else 0, usd, held]
            if self._queue is not None:
                self._queue.put((settle_keys, args, None))
            else:
                try:
                    self._settle(keys=settle_keys, args=args)
                except self._errors as exc:  # the call already happened: its usage is lost, not the call
                    self._warn(exc, "usage of a call not recorded")

    def _unreachable(self, exc: Exception) -> tuple[str | None, float]:
        from aipctl._exceptions import TargetError

        if not self.fail_open:
            raise TargetError(f"the limit store {self.url} is unreachable ({exc}); calls are refused (fail_open=False)") from None
        self._warn(exc, "admitting calls unlimited")
        return None, 0.0

    def _warn(self, exc: Exception, consequence: str) -> None:
        now = time.monotonic()
        if now - self._warned_at > 60:  # once a minute, not once a call
            import logging

            logging.getLogger("aipctl.limits").warning("limit store %s unreachable (%s): %s", self.url, exc, consequence)
            self._warned_at = now

    def throttled(self, tier: str, weight: float) -> None:
        with contextlib.suppress(self._errors):
            self._throttled(keys=[self._tier_key(tier)], args=[_decrease(weight), TIER_CALM_S, TIER_START_RATE])

    def spent(self, caller: str, day: str) -> float:
        self.flush()
        value = self.client.get(self._caller_keys(caller, None, day)[2])
        return float(value or 0)

    def reserved(self, caller: str, day: str) -> float:
        """USD held by calls in flight (lapsed reservations included until the next admit drops them)."""
        self.flush()
        return sum(float(v) for v in self.client.hvals(self._caller_keys(caller, None, day)[5]))


def store_from_env() -> Store:
    """``AIPCTL_LIMITS_REDIS_URL`` set: a shared :class:`RedisStore`; else this process's :class:`MemoryStore`."""
    import os

    url = os.environ.get("AIPCTL_LIMITS_REDIS_URL")
    return RedisStore(url) if url else _process_store()


_PROCESS_STORE: MemoryStore | None = None


def _process_store() -> MemoryStore:
    global _PROCESS_STORE
    if _PROCESS_STORE is None:
        _PROCESS_STORE = MemoryStore()
    return _PROCESS_STORE


#: Where an InvokeModel body names its maximum output, per model family.
_BODY_MAX_KEYS = ("max_tokens", "max_tokens_to_sample", "maxTokens", "max_gen_len", "max_new_tokens", "max_completion_tokens")


def max_output_tokens(params: Mapping[str, Any]) -> int:
    """The most output tokens a runtime request can produce (what Bedrock reserves at request start):
    Converse ``inferenceConfig.maxTokens``; an InvokeModel JSON body's ``max_tokens`` (Anthropic, OpenAI),
    ``textGenerationConfig.maxTokenCount`` (Titan), ``inferenceConfig.max_new_tokens`` (Nova), ``max_gen_len``
    (Llama) …; else :data:`DEFAULT_MAX_OUTPUT_TOKENS`."""
    config = params.get("inferenceConfig")
    if isinstance(config, Mapping) and isinstance(config.get("maxTokens"), int):
        return max(0, int(config["maxTokens"]))
    body = params.get("body")
    if isinstance(body, (bytes, str)) and len(body) <= 1_000_000:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping):
            for holder in (parsed, parsed.get("textGenerationConfig"), parsed.get("inferenceConfig")):
                if isinstance(holder, Mapping):
                    for key in (*_BODY_MAX_KEYS, "maxTokenCount"):
                        value = holder.get(key)
                        if isinstance(value, int) and not isinstance(value, bool):
                            return max(0, value)
    return DEFAULT_MAX_OUTPUT_TOKENS


def estimate_tokens(params: Mapping[str, Any]) -> int:
    """Input tokens of a runtime request, estimated before the call (about 4 characters per token)."""
    chars = 0
    for message in params.get("messages") or ():
        for block in message.get("content") or ():
            text = block.get("text") if isinstance(block, Mapping) else None
            if text:
                chars += len(text)
    for block in params.get("system") or ():
        text = block.get("text") if isinstance(block, Mapping) else None
        if text:
            chars += len(text)
    body = params.get("body")
    if body is not None:
        chars += len(body)
    return chars // 4 + 1


class Limiter:
    """Admits or refuses one caller's runtime calls; ``on_limit="wait"`` sleeps instead (up to ``max_wait``)."""

    def __init__(
        self,
        caller: str,
        spec: LimitSpec,
        *,
        store: Store | None = None,
        on_limit: str = "raise",
        max_wait: float = 60.0,
        day: Callable[[], str] | None = None,
        reserve: bool = True,
    ) -> None:
        """``reserve=False`` admits on the day's settled spend alone (no USD reservations: concurrent calls
        can all cross the cap together); kept for comparison (``aipctl bench guard --only usdcap``)."""
        if on_limit not in ("raise", "wait"):
            raise UsageError(f"on_limit={on_limit!r}: use 'raise' or 'wait'")
        self.caller = caller
        self.spec = spec
        self.store = store if store is not None else store_from_env()
        self.on_limit = on_limit
        self.max_wait = max_wait
        self.day = day or _utc_day
        self.reserve = reserve

    def admit(self, params: Mapping[str, Any], prices: tuple[float, ...] | None = None) -> Reservation:
        """Take one request and reserve its worst case: input estimate + maximum output tokens (tpm) and their
        cost at ``prices`` (USD per input and output token; daily_usd). :meth:`settle` gives back the rest."""
        needs_tokens = bool(self.spec.tpm or self.spec.daily_usd)
        estimate = estimate_tokens(params) if needs_tokens else 0
        most_out = max_output_tokens(params) if needs_tokens else 0
        tokens = estimate + most_out if self.spec.tpm else 0
        usd = estimate * prices[0] + most_out * prices[1] if prices and self.spec.daily_usd and self.reserve else 0.0
        ticket = uuid.uuid4().hex if usd else ""
        day = self.day()
        waited = 0.0
        while True:
            limit, wait = self.store.admit(self.caller, self.spec, tokens, day, usd, ticket)
            if limit is None:
                return Reservation(tokens, day, usd, ticket)
            held = limit == "daily_usd" and wait > 0  # in-flight calls hold the rest of the cap: they settle soon
            may_wait = held or (self.on_limit == "wait" and limit != "daily_usd")
            if may_wait and waited + wait <= self.max_wait:
                time.sleep(wait)
                waited += wait
                continue
            retry = wait if limit != "daily_usd" or held else _seconds_to_midnight()
            raise LimitExceeded(self.caller, limit, retry, _detail(limit, self.spec, held))

    def settle(self, reservation: Reservation, used_tokens: int, usd: float) -> None:
        """The call's real tokens and cost replace what :meth:`admit` reserved."""
        delta = used_tokens - reservation.tokens if self.spec.tpm else 0
        self.store.settle(self.caller, self.spec, delta, usd, reservation.day, reservation.ticket)

    def throttled(self) -> None:
        if self.spec.tier:
            self.store.throttled(self.spec.tier, self.spec.tier_weight)


def _detail(limit: str, spec: LimitSpec, held: bool = False) -> str:
    if held:
        return f"calls in flight hold the rest of its daily cap of ${spec.daily_usd:g} (reserved until they settle)"
    return {
        "rpm": f"over its limit of {spec.rpm:g} requests per minute",
        "tpm": f"over its limit of {spec.tpm:g} tokens per minute",
        "daily_usd": f"reached its daily cap of ${spec.daily_usd:g}",
        "tier": f"tier {spec.tier} is backing off while Bedrock throttles the shared quota",
    }[limit]


def _utc_day() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())


def _seconds_to_midnight() -> float:
    now = time.time()
    return 86400 - now % 86400
