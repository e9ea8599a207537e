"""Service Quotas handlers for ServiceCode ``bedrock`` (other services' quotas are not emulated)."""

from __future__ import annotations

from typing import Any

from aipctl_sim.protocol import Request
from aipctl_sim.servicequotas.models import QUOTAS, SERVICE_CODE, ServiceQuotasSimBackend, servicequotas_sim_backends


def _backend(req: Request) -> ServiceQuotasSimBackend:
    return servicequotas_sim_backends[req.account_id][req.region]


def list_service_quotas(req: Request) -> dict[str, Any]:
    backend, code = _backend(req), req.params.get("QuotaCode")
    return {"Quotas": [backend.describe(q) for q in QUOTAS.values() if code in (None, q.code)]}


def list_aws_default_service_quotas(req: Request) -> dict[str, Any]:
    backend = _backend(req)
    return {"Quotas": [backend.describe(q, default=True) for q in QUOTAS.values()]}


def get_service_quota(req: Request) -> dict[str, Any]:
    backend = _backend(req)
    return {"Quota": backend.describe(backend.spec(req.params["ServiceCode"], req.params["QuotaCode"]))}


def get_aws_default_service_quota(req: Request) -> dict[str, Any]:
    backend = _backend(req)
    return {"Quota": backend.describe(backend.spec(req.params["ServiceCode"], req.params["QuotaCode"]), default=True)}


def request_service_quota_increase(req: Request) -> dict[str, Any]:
    from aipctl_sim.identity import identity_for

    backend = _backend(req)
    spec = backend.spec(req.params["ServiceCode"], req.params["QuotaCode"])
    who = identity_for(req.account_id, req.access_key_id).arn
    request = backend.request_increase(spec, float(req.params["DesiredValue"]), who)
    return {"RequestedQuota": backend.describe_request(request)}


def get_requested_service_quota_change(req: Request) -> dict[str, Any]:
    from aipctl_sim.servicequotas.models import NoSuchResourceException

    backend = _backend(req)
    request = backend.requests.get(req.params["RequestId"])
    if request is None:
        raise NoSuchResourceException(f"The request {req.params['RequestId']} does not exist.")
    return {"RequestedQuota": backend.describe_request(request)}


def list_requested_service_quota_change_history(req: Request) -> dict[str, Any]:
    backend, status = _backend(req), req.params.get("Status")
    return {"RequestedQuotas": [backend.describe_request(r) for r in backend.requests.values() if status in (None, r.status)]}


def is_ours(req: Request) -> bool:
    """Requests about Bedrock's quotas (or not naming a service) are answered here."""
    return str(req.params.get("ServiceCode", SERVICE_CODE)) == SERVICE_CODE
