"""Resource Groups Tagging API adapter: tags of many resources in a few calls.

``GetResources`` returns up to 100 resources with their tags per call (AWS: it supports every
resource type), where ``ListTagsForResource`` needs one call per AIP. The tag index is eventually
consistent, so callers treat it as a fast read for planning; anything it does not return is read
per resource, and destructive actions re-read tags authoritatively first (see aipctl.plan.apply).
"""

from __future__ import annotations

from typing import Any

from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target

AIP_RESOURCE_TYPE = "bedrock:application-inference-profile"


class ResourceTags:
    def __init__(self, target: Target) -> None:
        self.client = target.client("resourcegroupstaggingapi")

    @requires("tag:GetResources")
    def of_type(self, resource_type: str) -> dict[str, dict[str, str]]:
        """ARN -> tags for every tagged resource of ``resource_type`` in the Region."""
        found: dict[str, dict[str, str]] = {}
        kwargs: dict[str, Any] = {"ResourceTypeFilters": [resource_type], "ResourcesPerPage": 100}
        while True:
            with aws_call("tag", "GetResources"):
                page = self.client.get_resources(**kwargs)
            for item in page.get("ResourceTagMappingList", []):
                found[item["ResourceARN"]] = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
            token = page.get("PaginationToken")
            if not token:
                return found
            kwargs["PaginationToken"] = token
