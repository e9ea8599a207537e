"""CloudTrail adapter: runtime events, read within LookupEvents' 2 requests/s, and the data events
(bedrock-mantle's inference) that only trails get, read from their log files in S3."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aipctl._exceptions import AwsError, UsageError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target
from aipctl.progress import NO_PROGRESS, Progress

RUNTIME_EVENTS = (
    "Converse",
    "ConverseStream",
    "InvokeModel",
    "InvokeModelWithResponseStream",
    # bedrock-runtime's OpenAI-compatible APIs (/openai/v1/...): a route past the AIP like any other
    "CreateChatCompletion",
    "CreateResponse",
)
PAGE = 50
RUNTIME_SOURCE = "bedrock.amazonaws.com"
#: bedrock-mantle: its inference calls are CloudTrail data events on its projects, never in LookupEvents.
MANTLE_SOURCE = "bedrock-mantle.amazonaws.com"
MANTLE_DATA_TYPE = "AWS::BedrockMantle::Project"


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
    #: The event source: ``bedrock.amazonaws.com`` (bedrock-runtime) or ``bedrock-mantle.amazonaws.com``.
    source: str = RUNTIME_SOURCE
    #: A Bedrock API key's type (``SHORT_TERM``, ``LONG_TERM``; ``BEARER`` when the event does not say) or None for SigV4.
    bearer: str | None = None
    #: The client's User-Agent as CloudTrail recorded it (botocore adds ``exec-env/<AWS_EXECUTION_ENV>``).
    user_agent: str = ""

    @property
    def on_mantle(self) -> bool:
        return self.source == MANTLE_SOURCE

    @classmethod
    def from_event(cls, raw: str | dict[str, Any]) -> RuntimeCall:
        event = json.loads(raw) if isinstance(raw, str) else raw
        identity = event.get("userIdentity") or {}
        issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
        parameters = event.get("requestParameters") or {}
        # bedrock-runtime says it in additionalEventData, bedrock-mantle in the request parameters
        flags = {**(event.get("additionalEventData") or {}), **parameters}
        bearer = None
        if flags.get("callWithBearerToken") in (True, "true"):
            bearer = str(flags.get("bearerTokenType") or "BEARER")
        return cls(
            time=dt.datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")),
            event_name=event["eventName"],
            model_id=str(parameters.get("modelId") or parameters.get("model") or ""),
            principal_arn=str(identity.get("arn", "")),
            role_arn=issuer.get("arn"),
            error_code=event.get("errorCode"),
            request_id=str(event.get("requestID", "")),
            source=str(event.get("eventSource") or RUNTIME_SOURCE),
            bearer=bearer,
            user_agent=str(event.get("userAgent") or ""),
        )


@dataclass(frozen=True)
class DataTrail:
    """A trail as verify sees it: where its log files are, and whether it records bedrock-mantle's calls."""

    name: str
    arn: str
    bucket: str
    prefix: str
    home_region: str
    multi_region: bool
    organization: bool
    logging: bool
    mantle: bool

    @property
    def reads_mantle(self) -> bool:
        return self.logging and self.mantle

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arn": self.arn,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "logging": self.logging,
            "mantle_data_events": self.mantle,
        }


def selects_mantle(selectors: list[dict[str, Any]]) -> bool:
    """Whether one of a trail's advanced event selectors takes bedrock-mantle's data events (narrowed or not)."""
    for selector in selectors:
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors") or []}
        category = fields.get("eventCategory") or {}
        kind = fields.get("resources.type") or {}
        if "Data" not in (category.get("Equals") or []):
            continue
        if MANTLE_DATA_TYPE in (kind.get("Equals") or []) or any(
            MANTLE_DATA_TYPE.startswith(p) for p in kind.get("StartsWith") or []
        ):
            return True
    return False


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
        self.target = target
        self.region = target.region
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

    @requires("cloudtrail:DescribeTrails", "cloudtrail:GetEventSelectors", "cloudtrail:GetTrailStatus")
    def data_trails(self) -> list[DataTrail]:
        """The trails that apply to this Region (its own and multi-Region ones), with their data-event selection."""
        with aws_call("cloudtrail", "DescribeTrails"):
            found = self.client.describe_trails(includeShadowTrails=True).get("trailList", [])
        out = []
        for entry in found:
            arn = entry["TrailARN"]
            home = str(entry.get("HomeRegion") or arn.split(":")[3])
            client = self.client if home == self.region else self.target.client("cloudtrail", region=home)
            with aws_call("cloudtrail", "GetEventSelectors", arn):
                selectors = client.get_event_selectors(TrailName=arn).get("AdvancedEventSelectors") or []
            with aws_call("cloudtrail", "GetTrailStatus", arn):
                logging = bool(client.get_trail_status(Name=arn).get("IsLogging"))
            out.append(
                DataTrail(
                    name=str(entry["Name"]),
                    arn=arn,
                    bucket=str(entry.get("S3BucketName", "")),
                    prefix=str(entry.get("S3KeyPrefix") or "").strip("/"),
                    home_region=home,
                    multi_region=bool(entry.get("IsMultiRegionTrail")),
                    organization=bool(entry.get("IsOrganizationTrail")),
                    logging=logging,
                    mantle=selects_mantle(selectors),
                )
            )
        return out

    def readable_data_trails(self) -> tuple[list[DataTrail], str | None]:
        """The trails that record bedrock-mantle's data events here, and why none could be listed (None: they were).
        Without the trail permissions the rest of verify and discover still works; the gap is reported, not fatal."""
        from aipctl._exceptions import AwsAccessDenied

        try:
            return [t for t in self.data_trails() if t.reads_mantle], None
        except AwsAccessDenied as exc:
            return [], f"trails not listed ({exc}); bedrock-mantle's calls were not checked"

    @requires(
        "s3:CreateBucket",
        "s3:PutBucketPolicy",
        "cloudtrail:CreateTrail",
        "cloudtrail:PutEventSelectors",
        "cloudtrail:StartLogging",
    )
    def record_mantle(self, bucket: str, name: str = "aipctl-mantle") -> DataTrail:
        """A multi-Region trail recording management events and bedrock-mantle's data events in ``bucket``
        (made if needed, with CloudTrail's bucket policy). For the demo and tests, like
        ``InvocationLogs.enable``: on an account, give your own trail the selector (docs/guards.md)."""
        from aipctl.aws.buckets import create_bucket
        from aipctl.aws.invocation_logging import partition_of

        account, partition = self.target.account, partition_of(self.region)
        trail_arn = f"arn:{partition}:cloudtrail:{self.region}:{account}:trail/{name}"
        s3 = self.target.client("s3")
        create_bucket(s3, bucket, self.region, exist_ok=True)
        source = {"StringEquals": {"aws:SourceArn": trail_arn}}
        policy = {
            "Version": "2012-10-17",
            "Statement": [  # CloudTrail user guide, "Amazon S3 bucket policy for CloudTrail"
                {
                    "Sid": "AWSCloudTrailAclCheck",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:GetBucketAcl",
                    "Resource": f"arn:{partition}:s3:::{bucket}",
                    "Condition": source,
                },
                {
                    "Sid": "AWSCloudTrailWrite",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"arn:{partition}:s3:::{bucket}/AWSLogs/{account}/*",
                    "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}},
                },
            ],
        }
        with aws_call("s3", "PutBucketPolicy", bucket):
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        try:
            with aws_call("cloudtrail", "CreateTrail", name):
                self.client.create_trail(Name=name, S3BucketName=bucket, IsMultiRegionTrail=True)
        except AwsError as exc:
            if exc.code != "TrailAlreadyExistsException":
                raise
        selectors = [
            {"Name": "Management events", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
            {
                "Name": "bedrock-mantle inference",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Data"]},
                    {"Field": "resources.type", "Equals": [MANTLE_DATA_TYPE]},
                ],
            },
        ]
        with aws_call("cloudtrail", "PutEventSelectors", name):
            self.client.put_event_selectors(TrailName=name, AdvancedEventSelectors=selectors)
        with aws_call("cloudtrail", "StartLogging", name):
            self.client.start_logging(Name=name)
        return DataTrail(name, trail_arn, bucket, "", self.region, True, False, True, True)

    @requires("s3:ListBucket", "s3:GetObject")
    def mantle_calls(
        self, trail: DataTrail, start: dt.datetime, end: dt.datetime, progress: Progress = NO_PROGRESS
    ) -> Iterator[RuntimeCall]:
        """bedrock-mantle's calls in [start, end) in this account and Region, from the trail's log files.

        Log files are ``<prefix>/AWSLogs/[<org id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz``
        (an organization trail adds the organization's id); one listing per day of the window.
        """
        from aipctl.aws.s3logs import list_objects

        s3 = self.target.client("s3")
        account, region = self.target.account, self.region
        roots = [f"AWSLogs/{account}"]
        if trail.organization:
            roots = [f"{p}{account}" for p in self._org_roots(s3, trail)] or roots
        day, files = start.date(), 0
        while day <= end.date():
            for root in roots:
                folder = "/".join(p for p in (trail.prefix, root, "CloudTrail", region, day.strftime("%Y/%m/%d")) if p)
                for item in list_objects(s3, f"s3://{trail.bucket}/{folder}/"):
                    key = str(item["Key"])
                    if not key.endswith((".json.gz", ".json")):
                        continue
                    with aws_call("s3", "GetObject", f"s3://{trail.bucket}/{key}"):
                        body = bytes(s3.get_object(Bucket=trail.bucket, Key=key)["Body"].read())
                    yield from _mantle_records(body, key, trail, start, end)
                    files += 1
                    progress(f"trail {trail.name}: {files:,} log files read")
            day += dt.timedelta(days=1)

    @staticmethod
    def _org_roots(s3: Any, trail: DataTrail) -> list[str]:
        base = "/".join(p for p in (trail.prefix, "AWSLogs") if p) + "/"
        with aws_call("s3", "ListObjectsV2", f"s3://{trail.bucket}/{base}"):
            page = s3.list_objects_v2(Bucket=trail.bucket, Prefix=base, Delimiter="/")
        folders = [str(p["Prefix"])[len(base) :] for p in page.get("CommonPrefixes", [])]
        return [f"AWSLogs/{folder}" for folder in folders if folder.startswith("o-")]


def _mantle_records(body: bytes, key: str, trail: DataTrail, start: dt.datetime, end: dt.datetime) -> Iterator[RuntimeCall]:
    try:
        text = gzip.decompress(body) if key.endswith(".gz") else body
        records = json.loads(text).get("Records", [])
    except (OSError, ValueError, AttributeError) as exc:
        raise AwsError(
            f"s3://{trail.bucket}/{key} (trail {trail.name}) is not a CloudTrail log file: {exc}",
            service="s3",
            operation="GetObject",
            code="InvalidLogFile",
            resource=f"s3://{trail.bucket}/{key}",
            hint="a trail's folder holds only CloudTrail's gzip JSON {\"Records\": [...]} files; move the others away",
        ) from None
    for record in records:
        if not isinstance(record, dict) or record.get("eventSource") != MANTLE_SOURCE:
            continue
        if record.get("eventCategory") not in (None, "Data") or not record.get("eventTime"):
            continue
        call = RuntimeCall.from_event(record)
        if start <= call.time < end:
            yield call


def reading_estimate(
    start: dt.datetime, end: dt.datetime, oldest_seen: dt.datetime, pages_so_far: int, per_second: float
) -> float:
    """Seconds left to read [start, end) at ``per_second``, extrapolated from the time covered so far."""
    covered = (end - oldest_seen).total_seconds()
    if covered <= 0 or pages_so_far == 0:
        return 0.0
    remaining = max(0.0, (oldest_seen - start).total_seconds())
    return remaining / covered * pages_so_far / per_second
