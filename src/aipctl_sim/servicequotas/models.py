"""The Bedrock quotas the emulator enforces, and the increase requests made against them.

Quota names, codes, defaults and adjustability are AWS's (AWS General Reference, "Amazon Bedrock
endpoints and quotas": "Inference profiles per account", L-40EC9882, 1,000 per Region,
adjustable). The emulator approves an increase at once and enforces the new value (on AWS a
request is PENDING, then CASE_OPENED or APPROVED); values live in the emulator settings, so they
hold for every account and Region it emulates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend
from moto.moto_api._internal import mock_random

from aipctl_sim import settings
from aipctl_sim.bedrock.catalog import partition
from aipctl_sim.protocol import ServiceError

SERVICE_CODE = "bedrock"
SERVICE_NAME = "Amazon Bedrock"


@dataclass(frozen=True)
class QuotaSpec:
    code: str
    name: str
    setting: str  # key in SimSettings.quotas
    default: int
    description: str
    adjustable: bool = True
    unit: str = "None"


QUOTAS = {
    q.code: q
    for q in (
        QuotaSpec(
            "L-40EC9882",
            "Inference profiles per account",
            "application-inference-profiles",
            1000,
            "The maximum number of inference profiles in an account.",
        ),
    )
}


class NoSuchResourceException(ServiceError):
    code, status = "NoSuchResourceException", 400


class IllegalArgumentException(ServiceError):
    code, status = "IllegalArgumentException", 400


@dataclass
class IncreaseRequest:
    id: str
    quota: QuotaSpec
    desired: float
    created: dt.datetime
    requester: str
    status: str = "APPROVED"
    case_id: str = ""


class ServiceQuotasSimBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.requests: dict[str, IncreaseRequest] = {}

    def spec(self, service: str, code: str) -> QuotaSpec:
        if service != SERVICE_CODE or code not in QUOTAS:
            raise NoSuchResourceException(f"The request failed because the specified quota {code} of {service} does not exist.")
        return QUOTAS[code]

    def arn(self, spec: QuotaSpec) -> str:
        return f"arn:{partition(self.region_name)}:servicequotas:{self.region_name}:{self.account_id}:{SERVICE_CODE}/{spec.code}"

    def describe(self, spec: QuotaSpec, *, default: bool = False) -> dict[str, Any]:
        value = spec.default if default else settings.settings().quotas.get(spec.setting, spec.default)
        return {
            "ServiceCode": SERVICE_CODE,
            "ServiceName": SERVICE_NAME,
            "QuotaArn": self.arn(spec),
            "QuotaCode": spec.code,
            "QuotaName": spec.name,
            "Value": float(value),
            "Unit": spec.unit,
            "Adjustable": spec.adjustable,
            "GlobalQuota": False,
            "QuotaAppliedAtLevel": "ACCOUNT",
            "Description": spec.description,
        }

    def request_increase(self, spec: QuotaSpec, desired: float, requester: str) -> IncreaseRequest:
        current = settings.settings().quotas.get(spec.setting, spec.default)
        if not spec.adjustable:
            raise IllegalArgumentException(f"The quota {spec.code} is not adjustable.")
        if desired <= current:
            raise IllegalArgumentException(
                f"The requested value {desired:g} is not greater than the current value {current} of {spec.code}."
            )
        request = IncreaseRequest(mock_random.uuid4().hex, spec, desired, settings.now(), requester)
        self.requests[request.id] = request
        settings.settings().quotas[spec.setting] = int(desired)
        return request

    def describe_request(self, request: IncreaseRequest) -> dict[str, Any]:
        return {
            "Id": request.id,
            "RequestType": "AutomaticManagement",
            "CaseId": request.case_id,
            "ServiceCode": SERVICE_CODE,
            "ServiceName": SERVICE_NAME,
            "QuotaCode": request.quota.code,
            "QuotaName": request.quota.name,
            "DesiredValue": request.desired,
            "Status": request.status,
            "Created": request.created,
            "LastUpdated": request.created,
            "Requester": request.requester,
            "QuotaArn": self.arn(request.quota),
            "GlobalQuota": False,
            "Unit": request.quota.unit,
            "QuotaRequestedAtLevel": "ACCOUNT",
        }


servicequotas_sim_backends = BackendDict(ServiceQuotasSimBackend, "service-quotas")
