"""Emulator-wide settings that persist with the state: the clock, quotas, faults.

The clock is the wall clock, moved forward by ``aipctl sim clock advance`` (``clock_offset_s``) for
tests that need the future. A request may carry ``X-Aipctl-Sim-Time`` (a time not after now): for
that request, "now" is that time — this is how ``aipctl sim traffic`` writes history into the
past, with CloudTrail, CloudWatch, invocation logs and billing timestamped accordingly.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

#: The time of the request being served, when it asked for one (X-Aipctl-Sim-Time).
_REQUEST_TIME: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar("aipctl_sim_request_time", default=None)


@dataclass
class FaultRule:
    """Inject failures into matching requests.

    ``service`` is botocore's service name (``bedrock``, ``ce``, ``sts``, ``cloudwatch``,
    ``resourcegroupstaggingapi`` ...) and ``operation`` the API operation; each matches exactly or
    ``*``. ``throttle_rate`` and ``error_rate`` are probabilities (0..1) of answering
    ThrottlingException (429) or InternalServerException (500) instead of serving the request;
    ``latency_ms`` is added before serving. ``rate_per_s`` > 0 models a shared quota: matching
    requests beyond that many per (wall-clock) second, across all callers, get ThrottlingException
    (a token bucket holding ``burst`` requests, default one second's worth).
    """

    service: str = "*"
    operation: str = "*"
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    latency_ms: float = 0.0
    rate_per_s: float = 0.0
    burst: float = 0.0

    def take(self, now: float) -> bool:
        """One request from the shared-quota bucket; False when it is empty (the request is throttled)."""
        capacity = self.burst or self.rate_per_s
        state = _BUCKETS.setdefault(id(self), [capacity, now])
        state[0] = min(capacity, state[0] + (now - state[1]) * self.rate_per_s)
        state[1] = now
        if state[0] < 1:
            return False
        state[0] -= 1
        return True

    def matches(self, service: str, operation: str) -> bool:
        return self.service in ("*", service) and self.operation in ("*", operation)


@dataclass
class SimSettings:
    clock_offset_s: float = 0.0
    quotas: dict[str, int] = field(default_factory=lambda: {"application-inference-profiles": 1000})
    faults: list[FaultRule] = field(default_factory=list)
    #: Seed of the fault-injection dice (None: unpredictable); set with the fault rules.
    seed: int | None = None
    #: CloudTrail LookupEvents allows 2 requests per second per account and Region; 0 disables.
    cloudtrail_lookup_rps: float = 2.0
    #: Cost Explorer shows usage this many (simulated) hours after it happened.
    billing_lag_hours: float = 24.0
    #: Cost Explorer pages results: at most this many groups per GetCostAndUsage answer.
    ce_page_groups: int = 1000
    #: Seconds (simulated) before an invocation-log record is in its S3 object. AWS documents no figure;
    #: 0 delivers at the next S3 request. CloudWatch Logs delivery stays immediate.
    log_delivery_delay_s: float = 0.0
    #: The account's private-pricing (EDP) discount in percent: Cost Explorer's Net* metrics and CUR's
    #: ``line_item_net_unblended_cost`` pay this much less than list price.
    billing_discount_pct: float = 0.0
    #: Simulated seconds a batch inference job reports InProgress before Completed (its records are billed
    #: when it is created).
    batch_job_seconds: float = 0.0
    #: Promotional credits per month in USD (Cost Explorer RECORD_TYPE Credit items, negative).
    billing_credits_usd: float = 0.0
    #: The Region of a request that names none (a long-term Bedrock API key on a local endpoint).
    default_region: str = "eu-central-1"

    def now(self) -> dt.datetime:
        """The request's own time when it gave one, else the wall clock plus ``aipctl sim clock advance``."""
        return _REQUEST_TIME.get() or self.live_now()

    def live_now(self) -> dt.datetime:
        """The emulator's present: the wall clock plus the offset set by ``aipctl sim clock advance``."""
        return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.clock_offset_s)

    def advance(self, seconds: float) -> dt.datetime:
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        self.clock_offset_s += seconds
        return self.now()


SETTINGS = SimSettings()
_BUCKETS: dict[int, list[float]] = {}  # shared-quota buckets of FaultRule.rate_per_s, not persisted
_rng = random.Random()


def settings() -> SimSettings:
    return SETTINGS


def replace_settings(new: SimSettings) -> None:
    global SETTINGS
    SETTINGS = new


def now() -> dt.datetime:
    return SETTINGS.now()


@contextmanager
def at(when: dt.datetime | None) -> Iterator[None]:
    """Serve what happens inside as of ``when`` (None: the present)."""
    token = _REQUEST_TIME.set(when)
    try:
        yield
    finally:
        _REQUEST_TIME.reset(token)


def reseed(seed: int | None) -> None:
    """Make injected faults reproducible: the same seed and request order give the same faults."""
    SETTINGS.seed = seed
    _rng.seed(seed)


def roll(probability: float) -> bool:
    return probability > 0 and _rng.random() < probability
