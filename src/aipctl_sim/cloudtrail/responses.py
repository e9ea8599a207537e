"""CloudTrail LookupEvents with its real semantics, over runtime telemetry and management events.

One LookupAttribute at most; StartTime/EndTime; MaxResults 1-50 (default 50); NextToken; newest
first; only the last 90 days; and a throttle of 2 requests per second per account and Region
(``SimSettings.cloudtrail_lookup_rps``, 0 disables it).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from typing import Any

from aipctl_sim import settings, telemetry, trail
from aipctl_sim.protocol import Request, ThrottlingException, ValidationException

RETENTION_S = 90 * 86400
#: LookupAttribute key -> (column in calls, column in mgmt_events)
_ATTRIBUTES = {
    "EventId": ("request_id", "event_id"),
    "EventName": ("operation", "event_name"),
    "ReadOnly": ("'false'", "CASE read_only WHEN 1 THEN 'true' ELSE 'false' END"),
    "Username": ("username", "username"),
    "ResourceType": ("'AWS::Bedrock::Model'", "resource_type"),
    "ResourceName": ("model_id", "resource_name"),
    "EventSource": ("'bedrock.amazonaws.com'", "event_source"),
    "AccessKeyId": ("access_key", "access_key"),
}
_buckets: dict[tuple[str, str], list[float]] = {}
_bucket_lock = threading.Lock()


def _throttle(account: str, region: str) -> None:
    rate = getattr(settings.settings(), "cloudtrail_lookup_rps", 2.0)
    if not rate:
        return
    with _bucket_lock:
        now = time.monotonic()
        tokens, last = _buckets.get((account, region), [rate, now])
        tokens = min(rate, tokens + (now - last) * rate)
        if tokens < 1:
            _buckets[(account, region)] = [tokens, now]
            raise ThrottlingException("Rate exceeded")
        _buckets[(account, region)] = [tokens - 1, now]


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def lookup_events(req: Request) -> dict[str, Any]:
    p = req.params
    attributes = p.get("LookupAttributes") or []
    if len(attributes) > 1:
        raise ValidationException("You can specify only one lookup attribute.")
    max_results = p.get("MaxResults") or 50
    if not 1 <= max_results <= 50:
        raise ValidationException("MaxResults must be between 1 and 50.")
    _throttle(req.account_id, req.region)
    now = settings.now().timestamp()
    start = max(_epoch(p.get("StartTime")) or 0.0, now - RETENTION_S)
    end = min(_epoch(p.get("EndTime")) or now, now)
    if start > end:
        raise ValidationException("StartTime must be before EndTime.")
    offset = 0
    if p.get("NextToken"):
        try:
            token = json.loads(base64.b64decode(p["NextToken"]))
            offset, end = int(token["o"]), float(token["e"])
        except (ValueError, KeyError, TypeError):
            raise ValidationException("Invalid NextToken.") from None
    where_calls, where_events, args_calls, args_events = "", "", [], []
    if attributes:
        key, value = attributes[0]["AttributeKey"], attributes[0]["AttributeValue"]
        if key not in _ATTRIBUTES:
            raise ValidationException(f"Invalid lookup attribute key {key}.")
        calls_col, events_col = _ATTRIBUTES[key]
        where_calls, where_events = f" AND {calls_col} = ?", f" AND {events_col} = ?"
        args_calls, args_events = [value], [value]
    sql = (
        # bedrock-mantle's calls are data events: trails with data-event selectors get them, LookupEvents does not
        "SELECT ts, 'call' AS kind, rowid FROM calls WHERE account = ? AND region = ? AND ts BETWEEN ? AND ? "
        "AND operation NOT LIKE 'mantle:%'"
        + where_calls
        + " UNION ALL SELECT ts, 'event', rowid FROM mgmt_events WHERE account = ? AND region = ? AND ts BETWEEN ? AND ?"
        + where_events
        + " ORDER BY ts DESC, rowid DESC LIMIT ? OFFSET ?"
    )
    args = [
        req.account_id,
        req.region,
        start,
        end,
        *args_calls,
        req.account_id,
        req.region,
        start,
        end,
        *args_events,
        max_results + 1,
        offset,
    ]
    store = telemetry.store()
    with store.reading() as db:
        db.row_factory = None
        page = list(db.execute(sql, args))
        events = [_render(db, kind, rowid) for _, kind, rowid in page[:max_results]]
    out: dict[str, Any] = {"Events": events}
    if len(page) > max_results:
        out["NextToken"] = base64.b64encode(json.dumps({"o": offset + max_results, "e": end}).encode()).decode()
    return out


def _render(db: Any, kind: str, rowid: int) -> dict[str, Any]:
    if kind == "call":
        cursor = db.execute("SELECT * FROM calls WHERE rowid = ?", (rowid,))
        names = [d[0] for d in cursor.description]
        row = dict(zip(names, cursor.fetchone(), strict=True))
        event = trail.runtime_event(row)
        resources = [{"ResourceType": "AWS::Bedrock::Model", "ResourceName": row["model_id"]}]
        username, access_key = row["username"], row["access_key"]
    else:
        resource_name, resource_type, username, access_key, raw = db.execute(
            "SELECT resource_name, resource_type, username, access_key, event_json FROM mgmt_events WHERE rowid = ?", (rowid,)
        ).fetchone()
        event = json.loads(raw)
        resources = [{"ResourceType": resource_type, "ResourceName": resource_name}] if resource_name else []
    return {
        "EventId": event["eventID"],
        "EventName": event["eventName"],
        "ReadOnly": "true" if event["readOnly"] else "false",
        "AccessKeyId": access_key,
        "EventTime": dt.datetime.strptime(event["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc),
        "EventSource": event["eventSource"],
        "Username": username,
        "Resources": resources,
        "CloudTrailEvent": json.dumps(event, separators=(",", ":")),
    }
