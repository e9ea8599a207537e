"""Resource Groups Tagging API ``GetResources`` for Bedrock resources (moto has none for them).

AWS documents that GetResources supports every resource type; requests for ``bedrock:*`` types or
Bedrock ARNs are answered here from the emulated Bedrock state, all others stay with moto.
"""

from __future__ import annotations

import base64
from typing import Any

from aipctl_sim.bedrock.models import bedrock_sim_backends
from aipctl_sim.protocol import InvalidParameterException, Request, ValidationException

AIP_TYPE = "bedrock:application-inference-profile"


#: What a ResourceARNList request cannot also carry (GetResources API reference, ResourceARNList).
_NOT_WITH_ARNS = ("ResourceTypeFilters", "TagFilters", "ResourcesPerPage", "TagsPerPage", "PaginationToken")


def get_resources(req: Request) -> dict[str, Any]:
    p = req.params
    profiles = sorted(bedrock_sim_backends[req.account_id][req.region].profiles.values(), key=lambda x: x.arn)
    if p.get("ResourceARNList"):
        clash = [name for name in _NOT_WITH_ARNS if p.get(name)]
        if clash:
            raise InvalidParameterException(f"ResourceARNList cannot be specified together with {', '.join(clash)}.")
        wanted = set(p["ResourceARNList"])
        return _answer([x for x in profiles if x.arn in wanted and x.tags], "")  # an ARN list is not paginated
    for tag_filter in p.get("TagFilters") or []:
        key, values = tag_filter.get("Key"), set(tag_filter.get("Values") or [])
        profiles = [x for x in profiles if key in x.tags and (not values or x.tags[key] in values)]
    profiles = [x for x in profiles if x.tags]  # the index only knows resources that carry tags
    start = _offset(p.get("PaginationToken"))
    size = p.get("ResourcesPerPage") or 50
    if not 1 <= size <= 100:
        raise ValidationException("ResourcesPerPage must be between 1 and 100")
    more = start + size < len(profiles)
    return _answer(profiles[start : start + size], base64.b64encode(str(start + size).encode()).decode() if more else "")


def _answer(profiles: list[Any], token: str) -> dict[str, Any]:
    return {
        "ResourceTagMappingList": [
            {"ResourceARN": x.arn, "Tags": [{"Key": k, "Value": v} for k, v in x.tags.items()]} for x in profiles
        ],
        "PaginationToken": token,
    }


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.b64decode(token).decode())
    except ValueError:
        raise ValidationException("The pagination token is invalid.") from None


def is_ours(req: Request) -> bool:
    types = req.params.get("ResourceTypeFilters") or []
    arns = req.params.get("ResourceARNList") or []
    if types:
        return all(t.startswith("bedrock") for t in types)
    return bool(arns) and all(":bedrock:" in a for a in arns)
