"""Resource Groups Tagging API adapter: tags of many resources in a few calls.

``GetResources`` returns up to 100 resources with their tags per call (AWS: it supports every
resource type), where ``ListTagsForResource`` needs one call per AIP. The tag index is eventually
consistent, so callers treat it as a fast read for planning; anything it does not return is read
per resource, and destructive actions re-read tags authoritatively first (see aipctl.plan.apply).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target

#: GetResources takes at most 100 ARNs in ResourceARNList (botocore's model: min 1, max 100).
ARNS_PER_CALL = 100
#: ARN batches in flight at once (a throttle, ThrottledException, is retried by botocore's standard mode).
IN_FLIGHT = 4


class ResourceTags:
    def __init__(self, target: Target) -> None:
        self.client = target.client("resourcegroupstaggingapi")

    @requires("tag:GetResources")
    def of_arns(self, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        """ARN -> tags for each of ``arns`` the index holds with tags, :data:`ARNS_PER_CALL` ARNs a call and
        :data:`IN_FLIGHT` calls at once: an ARN list is answered in one page, so 1,500 AIPs are 15 calls side by side
        instead of 15 pages one after another."""
        batches = [list(arns[at : at + ARNS_PER_CALL]) for at in range(0, len(arns), ARNS_PER_CALL)]
        if not batches:
            return {}
        found: dict[str, dict[str, str]] = {}
        with ThreadPoolExecutor(max_workers=min(IN_FLIGHT, len(batches)), thread_name_prefix="aipctl-tags") as pool:
            for items in pool.map(self._batch, batches):
                for item in items:
                    found[item["ResourceARN"]] = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
        return found

    @requires("tag:GetResources")
    def _batch(self, arns: list[str]) -> list[dict[str, Any]]:
        with aws_call("tag", "GetResources"):
            page = self.client.get_resources(ResourceARNList=arns)
        items: list[dict[str, Any]] = page.get("ResourceTagMappingList", [])
        return items
