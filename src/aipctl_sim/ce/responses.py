"""Cost Explorer handlers for cost-allocation tags."""

from __future__ import annotations

import base64
import threading
from typing import Any

from aipctl_sim.ce.models import ce_backend
from aipctl_sim.protocol import Request, ValidationException


def update_cost_allocation_tags_status(req: Request) -> dict[str, Any]:
    return {"Errors": ce_backend(req.account_id).update_status(req.params["CostAllocationTagsStatus"])}


#: The billing reads (urls.unlocked) run outside the emulator's lock — they read the telemetry store, which has its
#: own, and the settings — so that a long query does not hold up every other service. They take this lock instead:
#: one at a time among themselves, for billing's caches.
BILLING = threading.Lock()


def get_cost_and_usage(req: Request) -> dict[str, Any]:
    from aipctl_sim.ce.billing import get_cost_and_usage as compute

    with BILLING:
        return compute(req.account_id, req.params)


def get_dimension_values(req: Request) -> dict[str, Any]:
    from aipctl_sim.ce.billing import get_dimension_values as compute

    with BILLING:
        return compute(req.account_id, req.params)


def get_tags(req: Request) -> dict[str, Any]:
    from aipctl_sim.ce.billing import get_tags as compute

    with BILLING:
        return compute(req.account_id, req.params)


def get_cost_forecast(req: Request) -> dict[str, Any]:
    from aipctl_sim.ce.billing import get_cost_forecast as compute

    with BILLING:
        return compute(req.account_id, req.params)


def list_cost_allocation_tags(req: Request) -> dict[str, Any]:
    p = req.params
    tags = sorted(ce_backend(req.account_id).visible(), key=lambda t: t.key)
    if p.get("Status"):
        tags = [t for t in tags if t.status == p["Status"]]
    if p.get("TagKeys"):
        wanted = set(p["TagKeys"])
        tags = [t for t in tags if t.key in wanted]
    if p.get("Type") == "AWSGenerated":
        tags = []
    start = 0
    if p.get("NextToken"):
        try:
            start = int(base64.b64decode(p["NextToken"]).decode())
        except ValueError:
            raise ValidationException("Invalid NextToken") from None
    size = p.get("MaxResults") or 100
    page = tags[start : start + size]
    out: dict[str, Any] = {"CostAllocationTags": [t.describe() for t in page]}
    if start + size < len(tags):
        out["NextToken"] = base64.b64encode(str(start + size).encode()).decode()
    return out
