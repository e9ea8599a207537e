"""Service Quotas operations the emulator answers for Amazon Bedrock."""

from aipctl_sim.servicequotas import responses

SERVICE = "service-quotas"
SIGNING_NAME = "servicequotas"
operations = {
    "ListServiceQuotas": responses.list_service_quotas,
    "ListAWSDefaultServiceQuotas": responses.list_aws_default_service_quotas,
    "GetServiceQuota": responses.get_service_quota,
    "GetAWSDefaultServiceQuota": responses.get_aws_default_service_quota,
    "RequestServiceQuotaIncrease": responses.request_service_quota_increase,
    "GetRequestedServiceQuotaChange": responses.get_requested_service_quota_change,
    "ListRequestedServiceQuotaChangeHistory": responses.list_requested_service_quota_change_history,
}
claims = responses.is_ours
