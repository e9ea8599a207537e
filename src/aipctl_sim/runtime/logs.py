"""Model invocation logging: schema 1.0 records to S3 and/or CloudWatch Logs.

Switched on per account and Region with ``PutModelInvocationLoggingConfiguration`` (moto stores
it). S3 delivery writes gzip JSON lines under
``<keyPrefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/<time>_<id>.json.gz``,
batched per hour (up to ``BATCH`` records an object); pending records are written before any S3
or Logs request is served, at save and at stop, so readers always see them. Bodies are included
only when the configuration asks for them (``textDataDeliveryEnabled`` /
``embeddingDataDeliveryEnabled``). The 100 KB large-body prefix is not emulated.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import threading
import uuid
from collections import defaultdict
from typing import Any

from aipctl_sim import settings

BATCH = 1000
_log = logging.getLogger("aipctl_sim")
_pending: dict[tuple[str, str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
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
        hour = record["timestamp"][:13]
        key = (account, region, s3["bucketName"], s3.get("keyPrefix", "").strip("/"), hour)
        with _lock:
            _pending[key].append(record)
            if len(_pending[key]) >= BATCH:
                _write_s3(key, _pending.pop(key))
    if config.get("cloudWatchConfig", {}).get("logGroupName"):
        _write_logs(account, region, config["cloudWatchConfig"]["logGroupName"], record)


def flush() -> None:
    with _lock:
        batches = list(_pending.items())
        _pending.clear()
    for key, records in batches:
        _write_s3(key, records)


def discard() -> None:
    with _lock:
        _pending.clear()


def _write_s3(key: tuple[str, str, str, str, str], records: list[dict[str, Any]]) -> None:
    from moto.s3.models import s3_backends

    account, region, bucket, prefix, _hour = key
    first = dt.datetime.fromisoformat(records[0]["timestamp"].replace("Z", "+00:00"))
    path = "/".join(
        p for p in (prefix, f"AWSLogs/{account}/BedrockModelInvocationLogs/{region}", first.strftime("%Y/%m/%d/%H")) if p
    )
    name = f"{path}/{first.strftime('%Y%m%dT%H%M%S')}Z_{uuid.uuid4().hex[:16]}.json.gz"
    body = gzip.compress(("\n".join(json.dumps(r, separators=(",", ":")) for r in records) + "\n").encode())
    backend = s3_backends[account]["aws"]
    try:
        backend.get_bucket(bucket)
    except Exception:
        _log.warning("invocation logs for %s dropped: bucket %s does not exist", account, bucket)
        return
    backend.put_object(bucket, name, body)


def _write_logs(account: str, region: str, group: str, record: dict[str, Any]) -> None:
    from moto.logs.models import logs_backends

    backend = logs_backends[account][region]
    if group not in backend.groups:
        _log.warning("invocation log for %s dropped: log group %s does not exist", account, group)
        return
    log_group = backend.groups[group]
    stream = "aws/bedrock/modelinvocations"
    if stream not in log_group.streams:
        log_group.create_log_stream(stream)
    millis = int(dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp() * 1000)
    # LogStream.put_log_events directly: the backend's own check rejects events more than 2 h
    # ahead of the wall clock, and the simulated clock may be days ahead.
    log_group.streams[stream].put_log_events([{"timestamp": millis, "message": json.dumps(record, separators=(",", ":"))}])


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
