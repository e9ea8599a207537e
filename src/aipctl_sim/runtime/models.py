"""Invocation core of the emulated bedrock-runtime: resolve, authorise, count, record."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from moto.core.base_backend import BackendDict, BaseBackend

from aipctl_sim import settings, telemetry
from aipctl_sim.bedrock.catalog import FoundationModel, catalog
from aipctl_sim.bedrock.models import ApplicationProfile, bedrock_sim_backends
from aipctl_sim.ce.models import ce_backend
from aipctl_sim.identity import CallerIdentity, explicit_deny, identity_for, request_context
from aipctl_sim.organizations import payer
from aipctl_sim.protocol import AccessDeniedException, Request, ResourceNotFoundException, ServiceError, ValidationException
from aipctl_sim.runtime import logs
from aipctl_sim.runtime.families import ParsedRequest, Usage
from aipctl_sim.runtime.tokens import CACHE_TTLS_S, latency_ms

_AIP_ID = re.compile(r"^[a-z0-9]{12}$")
#: IAM actions that authorise each runtime operation (Converse uses InvokeModel's permission).
ACTIONS = {
    "InvokeModel": "bedrock:InvokeModel",
    "Converse": "bedrock:InvokeModel",
    "InvokeModelWithResponseStream": "bedrock:InvokeModelWithResponseStream",
    "ConverseStream": "bedrock:InvokeModelWithResponseStream",
    "CountTokens": "bedrock:CountTokens",
    # the OpenAI-compatible APIs (runtime/openai.py): as InvokeModel, streams as the stream action
    "CreateChatCompletion": "bedrock:InvokeModel",
    "CreateResponse": "bedrock:InvokeModel",
    # bedrock-mantle: its own IAM service prefix, so a bedrock:* Deny does not reach it
    "mantle:CreateChatCompletion": "bedrock-mantle:CreateInference",
    "mantle:CreateResponse": "bedrock-mantle:CreateInference",
    "mantle:CreateMessage": "bedrock-mantle:CreateInference",
}


def action_for(req: Request) -> str:
    action = ACTIONS[req.operation]
    if req.operation in ("CreateChatCompletion", "CreateResponse") and req.params.get("stream"):  # (not mantle's)
        return "bedrock:InvokeModelWithResponseStream"
    return action


@dataclass(frozen=True)
class ModelTarget:
    """What a model id as sent resolves to."""

    sent: str
    model: FoundationModel
    metric_id: str
    geo: str | None
    profile_arn: str | None  # the AIP or system profile ARN, when called through one
    aip: ApplicationProfile | None
    routed_model_arns: tuple[str, ...]


class RuntimeSimBackend(BaseBackend):
    """Per account × Region runtime state: the prompt cache (prefix digest -> expiry)."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.prompt_cache: dict[tuple[str, str], float] = {}


# Region list of the "bedrock" endpoint data (botocore lists none for "bedrock-runtime").
runtime_sim_backends = BackendDict(RuntimeSimBackend, "bedrock")


def resolve(region: str, account: str, model_id: str, *, invoking: bool = True) -> ModelTarget:
    """What a model id resolves to; ``invoking`` False (CountTokens) skips the on-demand check."""
    sent = unquote(model_id)
    aips = bedrock_sim_backends[account][region]
    if ":application-inference-profile/" in sent or _AIP_ID.match(sent):
        try:
            aip = aips.get(sent)
        except ServiceError:
            raise ResourceNotFoundException(f"The inference profile {sent} was not found.") from None
        source = aip.copy_from.rsplit("/", 1)[-1]
        system = catalog().system_profile(region, source) if ":inference-profile/" in aip.copy_from else None
        model = system.model if system else catalog().foundation_model(region, source)
        if model is None:
            raise ResourceNotFoundException(f"The model behind inference profile {sent} is no longer available.")
        return ModelTarget(sent, model, aip.profile_id, system.geo if system else None, aip.arn, aip, tuple(aip.models))
    profile_id = sent.rsplit("/", 1)[-1] if sent.startswith("arn:") else sent
    if ":foundation-model/" not in sent:
        system = catalog().system_profile(region, profile_id)
        if system is not None:
            if sent.startswith("arn:") and sent != system.arn(region, account):
                raise ValidationException("The provided model identifier is invalid.")
            arns = tuple(system.model.arn(r) for r in system.routes)
            return ModelTarget(sent, system.model, system.profile_id, system.geo, system.arn(region, account), None, arns)
    model = catalog().foundation_model(region, profile_id)
    if model is None:
        raise ValidationException("The provided model identifier is invalid.")
    if invoking and region not in model.in_region:
        raise ValidationException(
            f"Invocation of model ID {model.model_id} with on-demand throughput isn't supported. Retry your request "
            "with the ID or ARN of an inference profile that contains this model."
        )
    return ModelTarget(sent, model, model.model_id, None, None, None, (model.arn(region),))


def is_mantle(req: Request) -> bool:
    """A call to bedrock-mantle (served under /mantle): not in invocation logs, a CloudTrail data event."""
    return req.operation.startswith("mantle:")


def authorize(req: Request, identity: CallerIdentity, target: ModelTarget) -> None:
    resources = ([target.profile_arn] if target.profile_arn else []) + list(target.routed_model_arns)
    context = request_context(identity, req.region)
    if target.profile_arn:
        context["bedrock:InferenceProfileArn"] = target.profile_arn
    action = action_for(req)
    if req.bearer_token_type:
        context["bedrock:bearerTokenType"] = req.bearer_token_type
        bearer = "bedrock-mantle:CallWithBearerToken" if is_mantle(req) else "bedrock:CallWithBearerToken"
        bearer_denied = explicit_deny(identity, [bearer], ["*"], context)
        if bearer_denied:
            raise AccessDeniedException(
                f"User: {identity.arn} is not authorized to perform: {bearer} "
                f"with an explicit deny in an identity-based policy ({bearer_denied})"
            )
    tags = {target.aip.arn: dict(target.aip.tags)} if target.aip is not None else {}
    denied_by = explicit_deny(identity, [action], resources, context, tags)
    if denied_by:
        resource = target.profile_arn or target.routed_model_arns[0]
        raise AccessDeniedException(
            f"User: {identity.arn} is not authorized to perform: {action} on resource: {resource} "
            f"with an explicit deny in an identity-based policy ({denied_by})"
        )


SERVICE_TIERS = ("priority", "default", "flex", "reserved")


def check_options(req: Request, target: ModelTarget, parsed: ParsedRequest) -> None:
    """The request's service tier (Converse ``serviceTier.type``, InvokeModel's header) and cache TTL, as Bedrock
    checks them: a tier the model does not serve, a reservation the account does not hold, a TTL the model lacks."""
    raw = req.params.get("serviceTier")
    tier = raw.get("type") if isinstance(raw, dict) else raw
    if tier is not None:
        if tier not in SERVICE_TIERS:
            raise ValidationException("The service tier provided is invalid.")
        if tier == "reserved":
            raise ValidationException("Reservation not found.")
        if tier != "default" and tier not in target.model.service_tiers:
            raise ValidationException(f"The model {target.model.model_id} does not support the {tier} service tier.")
        parsed.service_tier = str(tier)
    ttl = parsed.prompt.ttl
    if ttl not in CACHE_TTLS_S:
        raise ValidationException(f"Malformed input request: cache TTL {ttl!r} is not one of 5m, 1h.")
    if ttl != "5m" and parsed.prompt.prefix_digest and not target.model.long_cache_ttl:
        raise ValidationException(f"The model {target.model.model_id} does not support a {ttl} cache TTL.")


def usage_for(req: Request, target: ModelTarget, parsed: ParsedRequest) -> Usage:
    """Token usage of this call, reading and updating the prompt cache."""
    out = parsed.planned_output_tokens()
    prompt = parsed.prompt
    if not prompt.prefix_digest:
        return Usage(prompt.total, out)
    cache = runtime_sim_backends[req.account_id][req.region].prompt_cache
    now = settings.now().timestamp()
    key = (target.model.model_id, prompt.prefix_digest)
    hit = cache.get(key, 0.0) > now
    cache[key] = max(cache.get(key, 0.0), now + CACHE_TTLS_S[prompt.ttl])
    if hit:
        return Usage(prompt.uncached, out, cache_read=prompt.cacheable_prefix)
    long = prompt.cacheable_prefix if prompt.ttl == "1h" else 0
    return Usage(prompt.uncached, out, cache_write=prompt.cacheable_prefix, cache_write_1h=long)


#: How Billing names a principal's tags (IAM user/role tags and STS session tags) as cost-allocation keys.
PRINCIPAL_TAG_PREFIX = "iamPrincipal/"


def active_cost_tags(account: str, aip: ApplicationProfile | None, identity: CallerIdentity | None = None) -> str | None:
    """The cost-allocation tags of this call that are active right now (activation is not retroactive):
    the AIP's resource tags, and the calling principal's tags as ``iamPrincipal/<key>``."""
    now = settings.now()
    tags = dict(aip.tags) if aip is not None else {}
    for key, value in identity.tags if identity is not None else ():
        tags[PRINCIPAL_TAG_PREFIX + key] = value
    known = ce_backend(payer(account)).tags  # in an organization, activated in its management account
    active = {k: v for k, v in tags.items() if k in known and known[k].active_at(now)}
    return json.dumps(active, sort_keys=True) if active else None


def record(
    req: Request,
    identity: CallerIdentity,
    target: ModelTarget | None,
    usage: Usage | None,
    status: str,
    latency: int = 0,
    *,
    message: str | None = None,
    service_tier: str | None = None,
) -> None:
    """One telemetry row per runtime call; ``target`` None: the call never reached a model (no metrics)."""
    if req.operation == "CountTokens":
        return  # not an invocation: no tokens billed, no metrics
    usage = usage or Usage()
    if status != "ok" and target is not None:
        log_invocation(req, identity, target, usage, None, None, error_code=status)
    telemetry.store().record_call(
        telemetry.CallRecord(
            ts=settings.now().timestamp(),
            account=req.account_id,
            region=req.region,
            request_id=req.request_id,
            operation=req.operation,
            model_id=unquote(str(req.params.get("modelId", ""))),
            metric_id=target.metric_id if target else unquote(str(req.params.get("modelId", ""))),
            aip_arn=target.aip.arn if target and target.aip else None,
            base_model=target.model.model_id if target else "",
            geo=target.geo if target else None,
            identity_type=identity.type,
            principal_arn=identity.arn,
            principal_id=identity.principal_id,
            access_key=identity.access_key_id,
            username=identity.username,
            role_arn=identity.role_arn,
            status=status,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read=usage.cache_read,
            cache_write=usage.cache_write,
            latency_ms=latency,
            cost_tags=active_cost_tags(req.account_id, target.aip if target else None, identity) if status == "ok" else None,
            user_agent=str(req.headers.get("User-Agent", ""))[:512],
            error_message=None if status == "ok" else (message or f"The request failed with {status}."),
            source_identity=identity.source_identity,
            principal_tags=json.dumps(dict(identity.tags), sort_keys=True) if identity.tags else None,
            service_tier=service_tier if service_tier != "default" else None,
            cache_write_1h=usage.cache_write_1h,
            bearer_token_type=req.bearer_token_type,
        )
    )


def log_invocation(
    req: Request,
    identity: CallerIdentity,
    target: ModelTarget,
    usage: Usage,
    input_body: Any,
    output_body: Any,
    error_code: str | None = None,
) -> None:
    """The model invocation log record of this call, if the account has logging switched on."""
    if req.operation == "CountTokens" or is_mantle(req):  # bedrock-mantle is not captured by invocation logging
        return
    regions = sorted({arn.split(":")[3] for arn in target.routed_model_arns if arn.split(":")[3]}) or [req.region]
    inference_region = regions[int(req.request_id.replace("-", "")[:8], 16) % len(regions)] if target.geo else req.region
    record_ = logs.record_for(
        account=req.account_id,
        region=req.region,
        request_id=req.request_id,
        operation=req.operation,
        model_id=unquote(str(req.params.get("modelId", ""))),
        identity_arn=identity.arn,
        inference_region=inference_region,
        usage=usage,
        input_body=input_body,
        output_body=output_body,
        error_code=error_code,
    )
    logs.deliver(req.account_id, req.region, record_, embedding=target.model.family in ("titan-embed", "cohere-embed"))


def record_failure(req: Request, error: ServiceError) -> None:
    """Failed calls are telemetry too (CloudTrail errorCode, CloudWatch client/server errors, throttles)."""
    identity = identity_for(req.account_id, req.access_key_id)
    try:
        target = resolve(req.region, req.account_id, str(req.params.get("modelId", "")))
    except ServiceError:
        target = None
    record(req, identity, target, None, error.code, message=error.message)


def finish(req: Request, identity: CallerIdentity, target: ModelTarget, parsed: ParsedRequest) -> tuple[Usage, int]:
    usage = usage_for(req, target, parsed)
    latency = latency_ms(usage.input_tokens + usage.cache_read + usage.cache_write, usage.output_tokens)
    record(req, identity, target, usage, "ok", latency, service_tier=parsed.service_tier)
    return usage, latency
