"""CloudTrail adapter: runtime events, read within LookupEvents' 2 requests/s."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aipctl._exceptions import UsageError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target
from aipctl.progress import NO_PROGRESS, Progress

RUNTIME_EVENTS = ("Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream")
PAGE = 50


@dataclass(frozen=True)
class RuntimeCall:
    """One runtime call as CloudTrail recorded it."""

    time: dt.datetime
    event_name: str
    model_id: str
    principal_arn: str
    role_arn: str | None
    error_code: str | None
    request_id: str

    @classmethod
    def from_event(cls, raw: str) -> RuntimeCall:
        event = json.loads(raw)
        identity = event.get("userIdentity") or {}
        issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
        return cls(
            time=dt.datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")),
            event_name=event["eventName"],
            model_id=str((event.get("requestParameters") or {}).get("modelId", "")),
            principal_arn=str(identity.get("arn", "")),
            role_arn=issuer.get("arn"),
            error_code=event.get("errorCode"),
            request_id=str(event.get("requestID", "")),
        )


class _RateLimiter:
    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


def lookup_rate() -> float:
    """LookupEvents requests per second aipctl allows itself (AWS's limit is 2; AIPCTL_CLOUDTRAIL_RPS overrides)."""
    raw = os.environ.get("AIPCTL_CLOUDTRAIL_RPS", "2")
    try:
        rate = float(raw)
    except ValueError:
        raise UsageError(f"AIPCTL_CLOUDTRAIL_RPS={raw!r} is not a number") from None
    return rate


class Trail:
    def __init__(self, target: Target, requests_per_second: float | None = None) -> None:
        self.client = target.client("cloudtrail")
        self.rate = lookup_rate() if requests_per_second is None else requests_per_second
        self.limiter = _RateLimiter(self.rate)
        self.requests = 0

    @requires("cloudtrail:LookupEvents")
    def runtime_calls(self, start: dt.datetime, end: dt.datetime, progress: Progress = NO_PROGRESS) -> Iterator[RuntimeCall]:
        """Every runtime call in [start, end), one LookupEvents series per event name (newest first).

        After each page, ``progress`` hears how many events were read and how long the rest will
        take at the allowed request rate.
        """
        pages = events_read = 0
        for name in RUNTIME_EVENTS:
            kwargs: dict[str, Any] = {
                "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}],
                "StartTime": start,
                "EndTime": end,
                "MaxResults": PAGE,
            }
            while True:
                self.limiter.wait()
                with aws_call("cloudtrail", "LookupEvents"):
                    page = self.client.lookup_events(**kwargs)
                self.requests += 1
                events = page.get("Events", [])
                for event in events:
                    yield RuntimeCall.from_event(event["CloudTrailEvent"])
                pages += 1
                events_read += len(events)
                if events:
                    left = reading_estimate(start, end, events[-1]["EventTime"], pages, self.rate or 1e9)
                    progress(f"CloudTrail {name}: {events_read:,} calls read, ~{left:.0f} s left at {self.rate:g} requests/s")
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token


def reading_estimate(
    start: dt.datetime, end: dt.datetime, oldest_seen: dt.datetime, pages_so_far: int, per_second: float
) -> float:
    """Seconds left to read [start, end) at ``per_second``, extrapolated from the time covered so far."""
    covered = (end - oldest_seen).total_seconds()
    if covered <= 0 or pages_so_far == 0:
        return 0.0
    remaining = max(0.0, (oldest_seen - start).total_seconds())
    return remaining / covered * pages_so_far / per_second
