"""Bedrock control-plane handlers: parse nothing, serialise nothing (the protocol layer does both)."""

from __future__ import annotations

from typing import Any

from aipctl_sim.bedrock.catalog import catalog
from aipctl_sim.bedrock.exceptions import ResourceNotFoundException, ValidationException
from aipctl_sim.bedrock.models import BedrockSimBackend, bedrock_sim_backends
from aipctl_sim.protocol import Request


def _backend(req: Request) -> BedrockSimBackend:
    return bedrock_sim_backends[req.account_id][req.region]


def _authorize(req: Request, action: str, resource: str) -> None:
    """Explicit Deny in the caller's identity policies, for the control-plane actions anti-bypass names
    (with ``aws:ResourceTag`` of an existing AIP and ``aws:PrincipalTag`` of the caller)."""
    from aipctl_sim.identity import explicit_deny, identity_for, request_context
    from aipctl_sim.protocol import AccessDeniedException

    identity = identity_for(req.account_id, req.access_key_id)
    context = request_context(identity, req.region)
    profile = _backend(req).profiles.get(resource.rsplit("/", 1)[-1]) if ":application-inference-profile/" in resource else None
    tags = {resource: dict(profile.tags)} if profile is not None else {}
    denied = explicit_deny(identity, [action], [resource], context, tags)
    if denied:
        raise AccessDeniedException(
            f"User: {identity.arn} is not authorized to perform: {action} on resource: {resource} "
            f"with an explicit deny in an identity-based policy ({denied})"
        )


def _profile_arn(req: Request, identifier: str) -> str:
    if identifier.startswith("arn:"):
        return identifier
    return f"arn:aws:bedrock:{req.region}:{req.account_id}:application-inference-profile/{identifier}"


def create_inference_profile(req: Request) -> dict[str, Any]:
    p = req.params
    _authorize(req, "bedrock:CreateInferenceProfile", _profile_arn(req, "*"))
    source = p["modelSource"]
    if "copyFrom" not in source:
        raise ValidationException("modelSource must set copyFrom.")
    profile = _backend(req).create(
        name=p["inferenceProfileName"],
        description=p.get("description"),
        copy_from=source["copyFrom"],
        tags=p.get("tags") or [],
        token=p.get("clientRequestToken"),
    )
    return {"inferenceProfileArn": profile.arn, "status": "ACTIVE"}


def get_inference_profile(req: Request) -> dict[str, Any]:
    return _backend(req).get_any(req.params["inferenceProfileIdentifier"])


def list_inference_profiles(req: Request) -> dict[str, Any]:
    p = req.params
    items, token = _backend(req).list_profiles(p.get("typeEquals", "SYSTEM_DEFINED"), p.get("maxResults"), p.get("nextToken"))
    return {"inferenceProfileSummaries": items, "nextToken": token}


def delete_inference_profile(req: Request) -> dict[str, Any]:
    _authorize(req, "bedrock:DeleteInferenceProfile", _profile_arn(req, req.params["inferenceProfileIdentifier"]))
    _backend(req).delete(req.params["inferenceProfileIdentifier"])
    return {}


def tag_resource(req: Request) -> dict[str, Any]:
    _authorize(req, "bedrock:TagResource", req.params["resourceARN"])
    _backend(req).tag(req.params["resourceARN"], req.params.get("tags") or [])
    return {}


def untag_resource(req: Request) -> dict[str, Any]:
    _authorize(req, "bedrock:UntagResource", req.params["resourceARN"])
    _backend(req).untag(req.params["resourceARN"], req.params.get("tagKeys") or [])
    return {}


def list_tags_for_resource(req: Request) -> dict[str, Any]:
    return {"tags": _backend(req).list_tags(req.params["resourceARN"])}


def list_foundation_models(req: Request) -> dict[str, Any]:
    p = req.params
    models = catalog().foundation_models(req.region)
    if p.get("byProvider"):
        models = [m for m in models if m.provider.lower() == p["byProvider"].lower()]
    if p.get("byOutputModality"):
        models = [m for m in models if p["byOutputModality"] in m.output_modalities]
    summaries = [m.summary(req.region) for m in models]
    if p.get("byInferenceType"):
        summaries = [s for s in summaries if p["byInferenceType"] in s["inferenceTypesSupported"]]
    return {"modelSummaries": summaries}


def get_foundation_model(req: Request) -> dict[str, Any]:
    ident = req.params["modelIdentifier"].rsplit("/", 1)[-1]
    model = catalog().foundation_model(req.region, ident)
    if model is None:
        raise ResourceNotFoundException(f"The model {req.params['modelIdentifier']} does not exist.")
    return {"modelDetails": model.summary(req.region)}


def put_model_invocation_logging_configuration(req: Request) -> dict[str, Any]:
    """Stored by moto, after the checks Bedrock makes before it accepts destinations: the bucket exists
    in the Region and its policy lets ``bedrock.amazonaws.com`` put objects under the log prefix; the log
    group exists and its role exists and trusts Bedrock (conditions evaluated for this account and Region).
    The emulator's check; AWS documents the destinations' set-up, not the exact error texts."""
    from moto.bedrock.models import bedrock_backends

    config = dict(req.params.get("loggingConfig") or {})
    context = {"aws:sourceaccount": req.account_id, "aws:sourcearn": f"arn:aws:bedrock:{req.region}:{req.account_id}:*"}
    if config.get("s3Config"):
        _check_bucket(req, config["s3Config"], context)
    if config.get("cloudWatchConfig"):
        _check_log_group(req, config["cloudWatchConfig"], context)
    bedrock_backends[req.account_id][req.region].put_model_invocation_logging_configuration(config)
    return {}


def _check_bucket(req: Request, s3: dict[str, Any], context: dict[str, str]) -> None:
    import json

    from moto.s3.models import s3_backends

    from aipctl_sim.identity import service_allowed

    name = str(s3.get("bucketName", ""))
    try:
        bucket = s3_backends[req.account_id]["aws"].get_bucket(name)
    except Exception:
        raise ValidationException(f"S3 bucket {name} does not exist") from None
    if getattr(bucket, "region_name", req.region) != req.region:
        raise ValidationException(f"S3 bucket {name} is in {bucket.region_name}: logs go to a bucket in {req.region}")
    prefix = "/".join(p for p in (str(s3.get("keyPrefix") or "").strip("/"), f"AWSLogs/{req.account_id}") if p)
    resource = f"arn:aws:s3:::{name}/{prefix}/BedrockModelInvocationLogs/{req.region}/x.json.gz"
    policy = json.loads(bucket.policy) if bucket.policy else None
    if not service_allowed(policy, "bedrock.amazonaws.com", "s3:PutObject", resource, context):
        raise ValidationException(
            f"Failed to validate permissions for log delivery: the policy of S3 bucket {name} does not let "
            f"bedrock.amazonaws.com put objects under {prefix}/BedrockModelInvocationLogs/"
        )


def _check_log_group(req: Request, cloudwatch: dict[str, Any], context: dict[str, str]) -> None:
    from moto.logs.models import logs_backends

    group, role_arn = str(cloudwatch.get("logGroupName", "")), str(cloudwatch.get("roleArn", ""))
    if group not in logs_backends[req.account_id][req.region].groups:
        raise ValidationException(f"CloudWatch Logs group {group} does not exist")
    _check_service_role(req, role_arn, context, "log delivery")


def _check_service_role(req: Request, role_arn: str, context: dict[str, str], purpose: str) -> None:
    """The role exists and trusts bedrock.amazonaws.com (what Bedrock checks before it uses a service role)."""
    import json
    from urllib.parse import unquote

    from moto.iam.models import iam_backends

    from aipctl_sim.identity import service_allowed

    name = role_arn.rsplit("/", 1)[-1]
    role = next((r for r in iam_backends[req.account_id]["global"].roles.values() if r.name == name), None)
    if role is None:
        raise ValidationException(f"IAM role {role_arn} does not exist")
    trust = role.assume_role_policy_document
    trust = json.loads(unquote(trust)) if isinstance(trust, str) else trust
    if not service_allowed(trust, "bedrock.amazonaws.com", "sts:AssumeRole", "*", context):
        raise ValidationException(
            f"Failed to validate permissions for {purpose}: {role_arn} does not trust bedrock.amazonaws.com"
        )


def create_model_invocation_job(req: Request) -> dict[str, Any]:
    """Validate, then run every record at once (see aipctl_sim.bedrock.batch); answer the job's ARN."""
    from aipctl_sim.bedrock import batch
    from aipctl_sim.identity import explicit_deny, identity_for, request_context
    from aipctl_sim.protocol import AccessDeniedException
    from aipctl_sim.runtime.models import resolve

    p = req.params
    jobs = batch.batch_sim_backends[req.account_id][req.region]
    token = p.get("clientRequestToken")
    again = next((j for j in jobs.jobs.values() if token and j.token == token), None)
    if again is not None:
        return {"jobArn": again.arn}
    identity = identity_for(req.account_id, req.access_key_id)
    context = request_context(identity, req.region)
    target = resolve(req.region, req.account_id, str(p["modelId"]))
    resources = [r for r in (target.profile_arn, *target.routed_model_arns) if r]
    tags = {target.aip.arn: dict(target.aip.tags)} if target.aip is not None else {}
    denied = explicit_deny(identity, ["bedrock:CreateModelInvocationJob"], resources, context, tags)
    if denied:
        raise AccessDeniedException(
            f"User: {identity.arn} is not authorized to perform: bedrock:CreateModelInvocationJob on resource: "
            f"{resources[0]} with an explicit deny in an identity-based policy ({denied})"
        )
    if not target.model.batch:
        raise ValidationException(f"The model {target.model.model_id} does not support batch inference.")
    _check_service_role(req, str(p["roleArn"]), context, "batch inference")
    source = p["inputDataConfig"].get("s3InputDataConfig") or {}
    output = (p["outputDataConfig"].get("s3OutputDataConfig") or {}).get("s3Uri", "")
    batch.s3_location(str(output), "outputDataConfig.s3OutputDataConfig.s3Uri")
    inputs = batch.input_objects(req.account_id, str(source.get("s3Uri", "")))
    job = jobs.new_job(p)
    _run_batch(req, identity, target, job, inputs, str(output))
    return {"jobArn": job.arn}


def _run_batch(req: Request, identity: Any, target: Any, job: Any, inputs: list[tuple[str, bytes]], output: str) -> None:
    import dataclasses
    import json

    from aipctl_sim.bedrock import batch
    from aipctl_sim.protocol import ServiceError
    from aipctl_sim.runtime import families
    from aipctl_sim.runtime.families import Usage
    from aipctl_sim.runtime.models import record
    from aipctl_sim.runtime.responses import invoke_body

    family = target.model.family
    for name, body in inputs:
        lines = []
        for number, item in enumerate(batch.records_of(body, name), 1):
            record_id = str(item.get("recordId") or f"REC{number:08d}")
            job.total += 1
            call = dataclasses.replace(req, operation=batch.OPERATION, request_id=f"{job.job_id}-{record_id}")
            call.params = {"modelId": job.model_id}
            out: dict[str, Any] = {"recordId": record_id, "modelInput": item.get("modelInput")}
            try:
                if "_malformed" in item:
                    raise ValidationException(str(item["_malformed"]))
                raw = json.dumps(item.get("modelInput") or {}).encode()
                parsed = families.parse_invoke(family, raw, target.model.model_id)
                usage = Usage(parsed.prompt.total, parsed.planned_output_tokens())  # batch reads and writes no cache
                out["modelOutput"] = invoke_body(target, parsed, usage, raw)
                record(call, identity, target, usage, "ok", service_tier="batch")
                job.succeeded += 1
                job.input_tokens += usage.input_tokens
                job.output_tokens += usage.output_tokens
            except ServiceError as exc:
                out["error"] = {"errorCode": exc.status, "errorMessage": exc.message}
                job.failed += 1
            lines.append(json.dumps(out, separators=(",", ":")))
        batch.put_output(
            req.account_id, output, f"{job.job_id}/{name.rsplit('/', 1)[-1]}.out", ("\n".join(lines) + "\n").encode()
        )
    manifest = {
        "totalRecordCount": job.total,
        "processedRecordCount": job.succeeded + job.failed,
        "successRecordCount": job.succeeded,
        "errorRecordCount": job.failed,
        "inputTokenCount": job.input_tokens,
        "outputTokenCount": job.output_tokens,
    }
    batch.put_output(req.account_id, output, f"{job.job_id}/manifest.json.out", json.dumps(manifest).encode())


def get_model_invocation_job(req: Request) -> dict[str, Any]:
    from aipctl_sim import settings
    from aipctl_sim.bedrock.batch import batch_sim_backends

    return batch_sim_backends[req.account_id][req.region].get(str(req.params["jobIdentifier"])).describe(settings.now())


def list_model_invocation_jobs(req: Request) -> dict[str, Any]:
    from aipctl_sim import settings
    from aipctl_sim.bedrock.batch import batch_sim_backends

    now, p = settings.now(), req.params
    jobs = [j.describe(now) for j in batch_sim_backends[req.account_id][req.region].jobs.values()]
    jobs = [
        j
        for j in jobs
        if (not p.get("statusEquals") or j["status"] == p["statusEquals"])
        and (not p.get("nameContains") or p["nameContains"] in j["jobName"])
    ]
    jobs.sort(key=lambda j: j["submitTime"], reverse=p.get("sortOrder", "Descending") == "Descending")
    start, size = int(p.get("nextToken") or 0), int(p.get("maxResults") or 1000)
    out: dict[str, Any] = {"invocationJobSummaries": jobs[start : start + size]}
    if start + size < len(jobs):
        out["nextToken"] = str(start + size)
    return out


def stop_model_invocation_job(req: Request) -> dict[str, Any]:
    from aipctl_sim import settings
    from aipctl_sim.bedrock.batch import batch_sim_backends

    job = batch_sim_backends[req.account_id][req.region].get(str(req.params["jobIdentifier"]))
    now = settings.now()
    if job.status(now) not in ("Submitted", "InProgress", "Validating", "Scheduled"):
        raise ValidationException(f"The job {job.arn} is {job.status(now)}; only a job in progress can be stopped.")
    job.stopped_at = now
    return {}


def is_ours(req: Request) -> bool:
    """Tag operations on anything but an AIP stay with moto (custom models, jobs)."""
    if req.operation in ("TagResource", "UntagResource", "ListTagsForResource"):
        return ":application-inference-profile/" in str(req.params.get("resourceARN", ""))
    return True
