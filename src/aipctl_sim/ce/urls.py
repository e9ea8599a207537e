"""Cost Explorer operations the emulator serves itself; moto serves the others."""

from aipctl_sim.ce import responses

SERVICE = "ce"
SIGNING_NAME = "ce"
operations = {
    "UpdateCostAllocationTagsStatus": responses.update_cost_allocation_tags_status,
    "ListCostAllocationTags": responses.list_cost_allocation_tags,
    "GetCostAndUsage": responses.get_cost_and_usage,
    "GetDimensionValues": responses.get_dimension_values,
    "GetTags": responses.get_tags,
    "GetCostForecast": responses.get_cost_forecast,
}
#: Billing reads: computed outside the emulator's lock, one at a time under their own (see responses.BILLING).
unlocked = frozenset({"GetCostAndUsage", "GetDimensionValues", "GetTags", "GetCostForecast"})
