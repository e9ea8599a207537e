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
    import json
    from urllib.parse import unquote

    from moto.iam.models import iam_backends
    from moto.logs.models import logs_backends

    from aipctl_sim.identity import service_allowed

    group, role_arn = str(cloudwatch.get("logGroupName", "")), str(cloudwatch.get("roleArn", ""))
    if group not in logs_backends[req.account_id][req.region].groups:
        raise ValidationException(f"CloudWatch Logs group {group} does not exist")
    name = role_arn.rsplit("/", 1)[-1]
    role = next((r for r in iam_backends[req.account_id]["global"].roles.values() if r.name == name), None)
    if role is None:
        raise ValidationException(f"IAM role {role_arn} does not exist")
    trust = role.assume_role_policy_document
    trust = json.loads(unquote(trust)) if isinstance(trust, str) else trust
    if not service_allowed(trust, "bedrock.amazonaws.com", "sts:AssumeRole", "*", context):
        raise ValidationException(
            f"Failed to validate permissions for log delivery: {role_arn} does not trust bedrock.amazonaws.com"
        )


def is_ours(req: Request) -> bool:
    """Tag operations on anything but an AIP stay with moto (custom models, jobs)."""
    if req.operation in ("TagResource", "UntagResource", "ListTagsForResource"):
        return ":application-inference-profile/" in str(req.params.get("resourceARN", ""))
    return True
