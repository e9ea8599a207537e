"""Model invocation logs in S3 (``.../AWSLogs/<acct>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/*.json.gz``)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections.abc import Iterator
from typing import Any

from aipctl._exceptions import UsageError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target

_HOUR = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+\.json(\.gz)?$")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise UsageError(f"{uri!r} is not an s3://bucket/prefix URI")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix


def list_objects(client: Any, uri: str) -> Iterator[dict[str, Any]]:
    """Every object under ``s3://bucket/prefix`` (ListObjectsV2, all pages); the caller declares s3:ListBucket."""
    bucket, prefix = parse_s3_uri(uri)
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        with aws_call("s3", "ListObjectsV2", uri):
            page = client.list_objects_v2(**kwargs)
        yield from page.get("Contents", [])
        if not page.get("IsTruncated"):
            return
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


class InvocationLogs:
    def __init__(self, target: Target) -> None:
        self.client = target.client("s3")
        self.target = target

    @requires(
        "s3:CreateBucket",
        "s3:ListBucket",
        "s3:GetBucketTagging",
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "bedrock:PutModelInvocationLoggingConfiguration",
    )
    def enable(self, bucket: str, prefix: str, *, text: bool = False) -> str:
        """Create ``bucket`` (if needed), let Bedrock write logs under ``prefix`` and point model invocation
        logging at it; returns the log URI. For the demo and tests: an inventory's ``logging:`` block is the
        way for accounts (plan/apply, which leaves buckets aipctl did not create alone).

        ``text=False`` logs metadata only (no prompts or answers), which is all metering needs.
        """
        from aipctl.aws.buckets import create_bucket
        from aipctl.aws.invocation_logging import InvocationLoggingControl, bucket_statement, partition_of
        from aipctl.aws.statements import with_statement

        region = self.target.region
        create_bucket(self.client, bucket, region, exist_ok=True)
        control = InvocationLoggingControl(self.target)
        statement = bucket_statement(bucket, prefix, self.target.account, region, partition_of(region))
        control.put_bucket_policy(bucket, with_statement(control.bucket(bucket).policy, statement))
        control.put_configuration({"s3Config": {"bucketName": bucket, "keyPrefix": prefix}, "textDataDeliveryEnabled": text})
        return f"s3://{bucket}/{prefix}"

    @requires("s3:ListBucket")
    def keys(self, uri: str, start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[str]:
        """Log object keys under ``uri`` whose hour folder overlaps [start, end)."""
        keys: list[str] = []
        for item in list_objects(self.client, uri):
            match = _HOUR.search(item["Key"])
            if not match:
                continue
            year, month, day, hh = (int(g) for g in match.groups()[:4])
            hour = dt.datetime(year, month, day, hh, tzinfo=dt.timezone.utc)
            if (start is None or hour + dt.timedelta(hours=1) > start) and (end is None or hour < end):
                keys.append(item["Key"])
        return keys

    @requires("s3:ListBucket")
    def versions(self, uri: str) -> list[tuple[str, str]]:
        """(key, ETag) of every log object under ``uri``: a new ETag is an overwritten object."""
        return [(str(o["Key"]), str(o.get("ETag", ""))) for o in list_objects(self.client, uri) if _HOUR.search(o["Key"])]

    @requires("s3:GetObject")
    def object_bytes(self, uri: str, key: str) -> bytes:
        bucket, _ = parse_s3_uri(uri)
        with aws_call("s3", "GetObject", f"s3://{bucket}/{key}"):
            return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())

    def records(self, uri: str, key: str) -> Iterator[dict[str, Any]]:
        body = self.object_bytes(uri, key)
        text = gzip.decompress(body) if key.endswith(".gz") else body
        for line in text.splitlines():
            if line.strip():
                yield json.loads(line)
