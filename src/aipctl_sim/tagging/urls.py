"""Tagging API operations the emulator serves itself (for Bedrock resources)."""

from aipctl_sim.tagging import responses

SERVICE = "resourcegroupstaggingapi"
SIGNING_NAME = "tagging"
operations = {"GetResources": responses.get_resources}
claims = responses.is_ours
