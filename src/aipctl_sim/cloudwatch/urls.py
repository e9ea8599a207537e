"""CloudWatch operations the emulator answers itself for the AWS/Bedrock namespace."""

from aipctl_sim.cloudwatch import responses

SERVICE = "cloudwatch"
SIGNING_NAME = "monitoring"
operations = {
    "GetMetricStatistics": responses.get_metric_statistics,
    "GetMetricData": responses.get_metric_data,
    "ListMetrics": responses.list_metrics,
}
claims = responses.is_ours
#: Answered from the telemetry store alone, which has its own lock: served outside the emulator's lock, so that
#: one request's SQL (sqlite lets go of the GIL) runs while another request is parsed or serialised.
unlocked = frozenset(operations)
