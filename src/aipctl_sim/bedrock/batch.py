"""Batch inference (``CreateModelInvocationJob``): JSONL records from S3 through a model, results back to S3.

As the Bedrock user guide describes it ("Format and upload your batch inference data", "View the results of
a batch inference job"): each input line is ``{"recordId", "modelInput"}`` with an InvokeModel body; each
input file gets ``<output>/<job id>/<file>.out`` with ``{"recordId", "modelInput", "modelOutput"}`` (or an
``error`` object) per line, and ``manifest.json.out`` sums the job. The job runs when it is created (the
emulator needs no queue) and reports ``InProgress`` until ``SimSettings.batch_job_seconds`` have passed, then
``Completed`` (``PartiallyCompleted`` with failed records). Each record is billed at the model's batch price
(``aipctl_sim.pricing.rates``: half the on-demand rate) to the principal that created the job and to the
AIP's cost-allocation tags when the job names an AIP; batch calls are in no runtime CloudWatch metric and no
invocation log (telemetry ``operation`` ``batch:InvokeModel``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import string
from dataclasses import dataclass, field
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend
from moto.moto_api._internal import mock_random

from aipctl_sim import settings
from aipctl_sim.bedrock.exceptions import ResourceNotFoundException, ValidationException

NAME_RE = re.compile(r"^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}$")
OPERATION = "batch:InvokeModel"
_ID_ALPHABET = string.ascii_lowercase + string.digits


@dataclass
class BatchJob:
    job_id: str
    arn: str
    name: str
    model_id: str
    role_arn: str
    input_config: dict[str, Any]
    output_config: dict[str, Any]
    submitted: dt.datetime
    token: str | None
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    stopped_at: dt.datetime | None = None
    failure: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def status(self, now: dt.datetime) -> str:
        if self.failure:
            return "Failed"
        if self.stopped_at is not None:
            return "Stopped"
        if now < self.submitted + dt.timedelta(seconds=settings.settings().batch_job_seconds):
            return "InProgress"
        return "PartiallyCompleted" if self.failed else "Completed"

    def ended(self, now: dt.datetime) -> dt.datetime | None:
        if self.stopped_at is not None:
            return self.stopped_at
        done = self.submitted + dt.timedelta(seconds=settings.settings().batch_job_seconds)
        return done if now >= done or self.failure else None

    def describe(self, now: dt.datetime) -> dict[str, Any]:
        out: dict[str, Any] = {
            "jobArn": self.arn,
            "jobName": self.name,
            "modelId": self.model_id,
            "roleArn": self.role_arn,
            "status": self.status(now),
            "submitTime": self.submitted,
            "lastModifiedTime": self.ended(now) or self.submitted,
            "inputDataConfig": self.input_config,
            "outputDataConfig": self.output_config,
            "timeoutDurationInHours": 24,
            "jobExpirationTime": self.submitted + dt.timedelta(hours=24),
            "modelInvocationType": "InvokeModel",
            "totalRecordCount": self.total,
            "processedRecordCount": self.succeeded + self.failed if self.ended(now) else 0,
            "successRecordCount": self.succeeded if self.ended(now) else 0,
            "errorRecordCount": self.failed if self.ended(now) else 0,
        }
        if self.token:
            out["clientRequestToken"] = self.token
        ended = self.ended(now)
        if ended is not None:
            out["endTime"] = ended
        if self.failure:
            out["message"] = self.failure
        return out


class BatchSimBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.jobs: dict[str, BatchJob] = {}

    def get(self, identifier: str) -> BatchJob:
        job_id = identifier.rsplit("/", 1)[-1]
        if job_id not in self.jobs:
            raise ResourceNotFoundException(f"The model invocation job {identifier} was not found.")
        return self.jobs[job_id]

    def new_job(self, params: dict[str, Any]) -> BatchJob:
        name = str(params["jobName"])
        if not NAME_RE.match(name):
            raise ValidationException(f"1 validation error detected: Value '{name}' at 'jobName' failed to satisfy constraint")
        token = params.get("clientRequestToken")
        for job in self.jobs.values():
            if token and job.token == token:
                return job  # idempotent retry
            if job.name == name:
                raise ValidationException(f"A model invocation job named {name} already exists.")
        job_id = "".join(mock_random.choice(_ID_ALPHABET) for _ in range(12))
        arn = f"arn:aws:bedrock:{self.region_name}:{self.account_id}:model-invocation-job/{job_id}"
        tags = {t["key"]: t["value"] for t in params.get("tags") or []}
        job = BatchJob(
            job_id,
            arn,
            name,
            str(params["modelId"]),
            str(params["roleArn"]),
            dict(params["inputDataConfig"]),
            dict(params["outputDataConfig"]),
            settings.now(),
            token,
            tags=tags,
        )
        self.jobs[job_id] = job
        return job


batch_sim_backends = BackendDict(BatchSimBackend, "bedrock")


def s3_location(uri: str, what: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise ValidationException(f"{what} {uri!r} is not an S3 URI (s3://bucket/prefix)")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix


def input_objects(account: str, uri: str) -> list[tuple[str, bytes]]:
    """(key, body) of the JSONL input: the object itself, or every ``.jsonl`` object under the prefix."""
    from moto.s3.models import s3_backends

    bucket_name, prefix = s3_location(uri, "inputDataConfig.s3InputDataConfig.s3Uri")
    try:
        bucket = s3_backends[account]["aws"].get_bucket(bucket_name)
    except Exception:
        raise ValidationException(f"The S3 bucket {bucket_name} of the input data does not exist.") from None
    names = sorted(k for k in bucket.keys if k == prefix or (k.startswith(prefix) and k.endswith(".jsonl")))
    if not names:
        raise ValidationException(f"No JSONL input found at {uri}.")
    return [(name, bucket.keys[name].value) for name in names]


def put_output(account: str, uri: str, key: str, body: bytes) -> None:
    from moto.s3.models import s3_backends

    bucket_name, prefix = s3_location(uri, "outputDataConfig.s3OutputDataConfig.s3Uri")
    backend = s3_backends[account]["aws"]
    try:
        backend.get_bucket(bucket_name)
    except Exception:
        raise ValidationException(f"The S3 bucket {bucket_name} for the output does not exist.") from None
    backend.put_object(bucket_name, (prefix.rstrip("/") + "/" if prefix else "") + key, body)


def records_of(body: bytes, name: str) -> list[dict[str, Any]]:
    out = []
    for number, line in enumerate(body.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = {"recordId": f"LINE{number:07d}", "_malformed": f"line {number} of {name} is not JSON"}
        if not isinstance(record, dict):
            record = {"recordId": f"LINE{number:07d}", "_malformed": f"line {number} of {name} is not a JSON object"}
        out.append(record)
    return out
