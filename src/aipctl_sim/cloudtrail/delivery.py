"""Trails: CloudTrail log files in S3 for the data events a trail's advanced event selectors ask for.

``LookupEvents`` (Event history) never shows data events. bedrock-mantle's inference calls are
data events on ``AWS::BedrockMantle::Project``: a trail gets them only when it is logging and one
of its advanced event selectors matches (``eventCategory`` Data plus ``resources.type``,
``eventName``, ``eventSource``, ``readOnly``, ``resources.ARN`` with Equals / NotEquals /
StartsWith / NotStartsWith / EndsWith / NotEndsWith). They are delivered as CloudTrail delivers
log files: gzip JSON ``{"Records": [...]}`` under
``<S3KeyPrefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMM>Z_<id>.json.gz``,
one object per Region and hour per delivery. Delivery runs where invocation logs are flushed
(before any S3 request is served, and at save), waits ``SimSettings.log_delivery_delay_s`` like
them, and covers only calls made while the trail was logging (a multi-Region trail: every Region).
What each trail got is a row in the telemetry database (the last call's rowid), so nothing is
delivered twice and every object is journaled like the other deliveries.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from aipctl_sim import journal, settings, telemetry, trail

BATCH = 1000
_Test = Callable[[str, list[str]], bool]
_OPERATORS: dict[str, _Test] = {
    "Equals": lambda value, options: value in options,
    "NotEquals": lambda value, options: value not in options,
    "StartsWith": lambda value, options: any(value.startswith(o) for o in options),
    "NotStartsWith": lambda value, options: not any(value.startswith(o) for o in options),
    "EndsWith": lambda value, options: any(value.endswith(o) for o in options),
    "NotEndsWith": lambda value, options: not any(value.endswith(o) for o in options),
}


def _field(event: Mapping[str, Any], name: str) -> str | None:
    resources = event.get("resources") or [{}]
    value = {
        "eventCategory": event.get("eventCategory"),
        "eventSource": event.get("eventSource"),
        "eventName": event.get("eventName"),
        "eventType": event.get("eventType"),
        "readOnly": "true" if event.get("readOnly") else "false",
        "resources.type": resources[0].get("type"),
        "resources.ARN": resources[0].get("ARN"),
        "userIdentity.arn": (event.get("userIdentity") or {}).get("arn"),
    }.get(name)
    return None if value is None else str(value)


def selects(selectors: list[dict[str, Any]], event: Mapping[str, Any]) -> bool:
    """Whether any advanced event selector takes ``event`` (all of a selector's fields must match)."""
    for selector in selectors:
        matched = True
        for field in selector.get("FieldSelectors") or []:
            value = _field(event, str(field.get("Field", "")))
            if value is None or not all(
                test(value, [str(o) for o in field[op]]) for op, test in _OPERATORS.items() if field.get(op)
            ):
                matched = False
                break
        if matched and selector.get("FieldSelectors"):
            return True
    return False


def _epoch(moment: dt.datetime | None) -> float | None:
    return None if moment is None else moment.replace(tzinfo=dt.timezone.utc).timestamp()


def deliver() -> None:
    """Every logging trail's due data events out to its bucket."""
    if journal.replaying():
        return  # replayed objects carry what was delivered
    from moto.cloudtrail.models import cloudtrail_backends

    for account, regions in list(cloudtrail_backends.items()):
        for backend in list(regions.values()):
            for found in list(backend.trails.values()):
                _deliver(account, found)


def _deliver(account: str, found: Any) -> None:
    started = _epoch(found.status.started)
    selectors = list(found.advanced_event_selectors or [])
    if started is None or not selectors:
        return
    stopped = None if found.status.is_logging else _epoch(found.status.stopped)
    store = telemetry.store()
    watermark = store.trail_watermark(account, found.arn) or 0
    delay = settings.settings().log_delivery_delay_s
    due_before = settings.now().timestamp() - delay if delay > 0 else float("inf")
    where = "rowid > ? AND account = ? AND operation LIKE ? AND ts >= ?"
    args: list[Any] = [watermark, account, f"{trail.MANTLE_PREFIX}%", started]
    if not found.is_multi_region:
        where += " AND region = ?"
        args.append(found.region_name)
    if stopped is not None:
        where += " AND ts <= ?"
        args.append(stopped)
    with store.reading() as db:
        cursor = db.execute(f"SELECT rowid, * FROM calls WHERE {where} ORDER BY rowid", args)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    batches: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    through = watermark
    for row in rows:
        if row["ts"] > due_before:
            break  # CloudTrail delivers after a while: this one and later ones wait
        through = row["rowid"]
        event = trail.runtime_event(row)
        if selects(selectors, event):
            hour = dt.datetime.fromtimestamp(row["ts"], dt.timezone.utc).strftime("%Y%m%dT%H")
            batches[(row["region"], hour)].append(event)
    for (region, _hour), events in sorted(batches.items()):
        for start in range(0, len(events), BATCH):
            _write(account, found, region, events[start : start + BATCH])
    if through != watermark:
        store.set_trail_watermark(account, found.arn, through)


def _write(account: str, found: Any, region: str, events: list[dict[str, Any]]) -> None:
    from moto.moto_api._internal import mock_random

    from aipctl_sim.runtime.logs import deliver_object

    first = dt.datetime.strptime(events[0]["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
    path = "/".join(
        p
        for p in ((found.s3_key_prefix or "").strip("/"), f"AWSLogs/{account}/CloudTrail/{region}", first.strftime("%Y/%m/%d"))
        if p
    )
    name = f"{path}/{account}_CloudTrail_{region}_{first.strftime('%Y%m%dT%H%M')}Z_{mock_random.get_random_hex(16)}.json.gz"
    body = gzip.compress(json.dumps({"Records": events}, separators=(",", ":")).encode())
    deliver_object(account, found.bucket_name, name, body, f"CloudTrail trail {found.trail_name}")
