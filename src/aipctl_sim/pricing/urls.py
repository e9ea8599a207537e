"""Price List operations the emulator serves (moto has no ``pricing``)."""

from aipctl_sim.pricing import responses

SERVICE = "pricing"
SIGNING_NAME = "pricing"
operations = {
    "DescribeServices": responses.describe_services,
    "GetAttributeValues": responses.get_attribute_values,
    "GetProducts": responses.get_products,
}
