"""Service Quotas: how many application inference profiles a Region may hold.

Quota "Inference profiles per account" (service code ``bedrock``, quota code L-40EC9882), 1,000 per
Region by default and adjustable (AWS General Reference, "Amazon Bedrock endpoints and quotas").
GetServiceQuota answers the applied value once one was set; before that NoSuchResourceException,
and the AWS default (GetAWSDefaultServiceQuota) is the value.
"""

from __future__ import annotations

from dataclasses import dataclass

from aipctl._exceptions import AwsError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target

SERVICE_CODE = "bedrock"
AIP_QUOTA_CODE = "L-40EC9882"
AIP_QUOTA_DEFAULT = 1000


@dataclass(frozen=True)
class Quota:
    value: int
    source: str  # applied | default | assumed (Service Quotas could not be read)
    note: str = ""


class ServiceQuotas:
    def __init__(self, target: Target) -> None:
        self.client = target.client("service-quotas")

    @requires("servicequotas:GetServiceQuota", "servicequotas:GetAWSDefaultServiceQuota")
    def aip_quota(self) -> Quota:
        try:
            with aws_call("service-quotas", "GetServiceQuota", AIP_QUOTA_CODE):
                found = self.client.get_service_quota(ServiceCode=SERVICE_CODE, QuotaCode=AIP_QUOTA_CODE)
            return Quota(int(found["Quota"]["Value"]), "applied")
        except AwsError as exc:
            if exc.code != "NoSuchResourceException":
                return Quota(AIP_QUOTA_DEFAULT, "assumed", f"Service Quotas not read ({exc.code})")
        try:
            with aws_call("service-quotas", "GetAWSDefaultServiceQuota", AIP_QUOTA_CODE):
                found = self.client.get_aws_default_service_quota(ServiceCode=SERVICE_CODE, QuotaCode=AIP_QUOTA_CODE)
            return Quota(int(found["Quota"]["Value"]), "default")
        except AwsError as exc:
            return Quota(AIP_QUOTA_DEFAULT, "assumed", f"Service Quotas not read ({exc.code})")
