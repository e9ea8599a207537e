"""Model invocation logging: schema 1.0 records to S3 and/or CloudWatch Logs.

Switched on per account and Region with ``PutModelInvocationLoggingConfiguration`` (moto stores
it). S3 delivery writes gzip JSON lines under
``<keyPrefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/<time>_<id>.json.gz``,
batched per hour (up to ``BATCH`` records an object). Records waiting for their object are rows
of the telemetry database, committed with the call they describe, so an acknowledged call's record
survives a kill; they are written before any S3 or Logs request is served, at save and at stop, so
readers always see them. Every object and log event the emulator writes is journaled
(``journal.py``). Bodies are included only when the configuration asks for them
(``textDataDeliveryEnabled`` / ``embeddingDataDeliveryEnabled``). The 100 KB large-body prefix is
not emulated.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import logging
import threading
from collections import defaultdict
from typing import Any

from aipctl_sim import journal, settings, telemetry

BATCH = 1000
_log = logging.getLogger("aipctl_sim")
#: Records added per S3 destination since the last flush (a flush is due when one reaches BATCH).
_added: dict[tuple[str, str, str, str, str], int] = defaultdict(int)
_lock = threading.RLock()


def _config(account: str, region: str) -> dict[str, Any]:
    from moto.bedrock.models import bedrock_backends

    return bedrock_backends[account][region].get_model_invocation_logging_configuration() or {}


def deliver(account: str, region: str, record: dict[str, Any], embedding: bool) -> None:
    """Send one invocation record where the account's logging configuration says."""
    config = _config(account, region)
    if not config:
        return
    if not config.get("embeddingDataDeliveryEnabled" if embedding else "textDataDeliveryEnabled", False):
        record["input"].pop("inputBodyJson", None)
        record["output"].pop("outputBodyJson", None)
    if config.get("s3Config", {}).get("bucketName"):
        s3 = config["s3Config"]
        key = (account, region, s3["bucketName"], s3.get("keyPrefix", "").strip("/"), record["timestamp"][:13])
        telemetry.store().record_log(key, json.dumps(record, separators=(",", ":")))
        with _lock:
            _added[key] += 1
            due = _added[key] >= BATCH
        if due:
            flush()
    if config.get("cloudWatchConfig", {}).get("logGroupName"):
        _write_logs(account, region, config["cloudWatchConfig"]["logGroupName"], record)


def flush() -> None:
    """Write every waiting record older than the delivery delay to its S3 object (each object journaled
    before its rows are dropped); younger ones wait for a later flush (``SimSettings.log_delivery_delay_s``)."""
    with _lock:
        _added.clear()
        store = telemetry.store()
        delay = settings.settings().log_delivery_delay_s
        due_before = (settings.now() - dt.timedelta(seconds=delay)).strftime("%Y-%m-%dT%H:%M:%S.%f") if delay > 0 else None
        batches: dict[tuple[str, str, str, str, str], list[tuple[int, str]]] = defaultdict(list)
        held = False
        for row_id, account, region, bucket, prefix, hour, record in store.pending_logs():
            if due_before is not None and _timestamp(record) > due_before:
                held = True  # not delivered yet: AWS delivers invocation logs after a while
                continue
            batches[(account, region, bucket, prefix, hour)].append((row_id, record))
        for key, rows in batches.items():
            for start in range(0, len(rows), BATCH):
                chunk = rows[start : start + BATCH]
                _write_s3(key, [record for _id, record in chunk], through=chunk[-1][0])
        if batches and not held:
            store.delete_logs(max(rows[-1][0] for rows in batches.values()))
        elif batches:
            store.delete_log_ids([row_id for rows in batches.values() for row_id, _ in rows])


def _timestamp(record: str) -> str:
    """The record's ``timestamp`` (ISO, UTC), comparable as text with a ``%Y-%m-%dT%H:%M:%S.%f`` bound."""
    value = str(json.loads(record).get("timestamp", ""))
    return value.replace("Z", "").replace("+00:00", "")


def _write_s3(key: tuple[str, str, str, str, str], records: list[str], through: int) -> None:
    from moto.moto_api._internal import mock_random

    account, region, bucket, prefix, _hour = key
    first = dt.datetime.fromisoformat(json.loads(records[0])["timestamp"].replace("Z", "+00:00"))
    path = "/".join(
        p for p in (prefix, f"AWSLogs/{account}/BedrockModelInvocationLogs/{region}", first.strftime("%Y/%m/%d/%H")) if p
    )
    name = f"{path}/{first.strftime('%Y%m%dT%H%M%S')}Z_{mock_random.get_random_hex(16)}.json.gz"
    body = gzip.compress(("\n".join(records) + "\n").encode())
    deliver_object(account, bucket, name, body, "invocation logs", through=through)


def deliver_object(account: str, bucket: str, name: str, body: bytes, what: str, through: int = 0) -> bool:
    """Write an object the emulator delivers itself (logs, exports, trail files) and journal it;
    ``through``: the last ``log_pending`` id it carries (0: none)."""
    write = journal.new_write(settings.now())
    if not put_s3(account, bucket, name, body, write, what):
        return False
    if (log := journal.current()) is not None:
        encoded = base64.b64encode(body).decode()
        log.append("s3-put", write, account=account, bucket=bucket, name=name, body=encoded, through=through)
    return True


def put_s3(account: str, bucket: str, name: str, body: bytes, write: journal.Write, what: str = "invocation logs") -> bool:
    from moto.s3.models import s3_backends

    backend = s3_backends[account]["aws"]
    try:
        backend.get_bucket(bucket)
    except Exception:
        _log.warning("%s for %s dropped: bucket %s does not exist", what, account, bucket)
        return False
    with journal.deterministic(write):
        backend.put_object(bucket, name, body)
    return True


def _write_logs(account: str, region: str, group: str, record: dict[str, Any]) -> None:
    millis = int(dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp() * 1000)
    message = json.dumps(record, separators=(",", ":"))
    if put_log_event(account, region, group, millis, message) and (log := journal.current()) is not None:
        log.append("logs-put", account=account, region=region, group=group, millis=millis, message=message)


def put_log_event(account: str, region: str, group: str, millis: int, message: str) -> bool:
    from moto.logs.models import logs_backends

    backend = logs_backends[account][region]
    if group not in backend.groups:
        _log.warning("invocation log for %s dropped: log group %s does not exist", account, group)
        return False
    log_group = backend.groups[group]
    stream = "aws/bedrock/modelinvocations"
    if stream not in log_group.streams:
        log_group.create_log_stream(stream)
    # LogStream.put_log_events directly: the backend's own check rejects events more than 2 h
    # ahead of the wall clock, and the simulated clock may be days ahead.
    log_group.streams[stream].put_log_events([{"timestamp": millis, "message": message}])
    return True


def replay(entry: dict[str, Any]) -> None:
    """Apply a journaled ``s3-put`` or ``logs-put`` again."""
    if entry["kind"] == "s3-put":
        put_s3(entry["account"], entry["bucket"], entry["name"], journal.body_of(entry), journal.write_of(entry))
        telemetry.store().delete_logs(int(entry["through"]))
    else:
        put_log_event(entry["account"], entry["region"], entry["group"], int(entry["millis"]), entry["message"])


def record_for(
    *,
    account: str,
    region: str,
    request_id: str,
    operation: str,
    model_id: str,
    identity_arn: str,
    inference_region: str,
    usage: Any,
    input_body: Any,
    output_body: Any,
    error_code: str | None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": settings.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "accountId": account,
        "identity": {"arn": identity_arn},
        "region": region,
        "requestId": request_id,
        "operation": operation,
        "modelId": model_id,
        "inferenceRegion": inference_region,
        "input": {
            "inputContentType": "application/json",
            "inputBodyJson": input_body,
            "inputTokenCount": usage.input_tokens,
            "cacheReadInputTokenCount": usage.cache_read,
            "cacheWriteInputTokenCount": usage.cache_write,
        },
        "output": {
            "outputContentType": "application/json",
            "outputBodyJson": output_body,
            "outputTokenCount": usage.output_tokens,
        },
    }
    if error_code:
        record["errorCode"] = error_code
    return record
