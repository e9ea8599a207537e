"""Client of the emulator's control API (``/_aipctl/...``): clock, faults, quotas, save, reset.

Plain HTTP + JSON, so the product still never imports the emulator.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any, TypedDict

from aipctl._exceptions import TargetError

#: The header that dates a request in the past (the emulator serves it "as of" that time).
SIM_TIME_HEADER = "X-Aipctl-Sim-Time"


class Clock(TypedDict):
    now: str
    offset_s: float


class SimControl:
    def __init__(self, endpoint_url: str, timeout_s: float = 10.0) -> None:
        self.base = endpoint_url.rstrip("/") + "/_aipctl/"
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(payload or {}).encode() if method != "GET" else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise TargetError(f"emulator refused {method} {path}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TargetError(f"cannot reach the emulator at {self.base}: {exc}", hint="is `aipctl sim serve` running?") from None

    def clock(self) -> Clock:
        """The emulator's time: ``now`` (ISO 8601, UTC) and how far it is ahead of the wall clock."""
        answer = self.call("GET", "clock")
        return Clock(now=str(answer["now"]), offset_s=float(answer["offset_s"]))

    def advance(self, seconds: float) -> Clock:
        """Move the simulated clock forward (``advance(86400)`` = one day)."""
        answer = self.call("POST", "clock/advance", {"seconds": seconds})
        return Clock(now=str(answer["now"]), offset_s=float(answer["offset_s"]))

    def backfill(self, since: dt.datetime) -> dict[str, Any]:
        """History is about to be written from ``since``: date the account's setup (AIPs, cost tags) no later."""
        return self.call("POST", "clock/backfill", {"since": since.isoformat()})

    def faults(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "faults")["faults"])

    def set_faults(self, faults: list[dict[str, Any]], seed: int | None = None) -> list[dict[str, Any]]:
        """Replace the fault rules; ``seed`` makes which requests fail reproducible."""
        payload: dict[str, Any] = {"faults": faults}
        if seed is not None:
            payload["seed"] = seed
        return list(self.call("PUT", "faults", payload)["faults"])

    def set_quotas(self, quotas: dict[str, int]) -> dict[str, int]:
        return dict(self.call("PUT", "quotas", quotas)["quotas"])

    def set_settings(self, **values: float) -> dict[str, Any]:
        """billing_lag_hours, ce_page_groups, cloudtrail_lookup_rps, log_delivery_delay_s."""
        return self.call("PUT", "settings", values)

    def reset(self) -> None:
        self.call("POST", "reset")

    def save(self) -> None:
        self.call("POST", "save")
