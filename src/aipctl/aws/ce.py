"""Billing adapter: cost-allocation tags and cost by tag (Cost Explorer API, always in us-east-1).

Cost Explorer's answers are parsed here and nowhere else: a tag group comes back as
``Keys: ["Application$open-webui"]`` (``"Application$"`` for usage without the tag), which
:meth:`CostExplorer.cost_by_tags` turns into :class:`TagCost` rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from threading import Lock
from typing import Any, Literal, NamedTuple, TypeVar

from aipctl._exceptions import AwsError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import BILLING_REGION, Target

T = TypeVar("T")

#: UpdateCostAllocationTagsStatus accepts at most 20 entries per call.
BATCH = 20


#: ``cost_by_tags`` keys with this prefix are Cost Explorer dimensions, not tags.
DIMENSION = "DIMENSION:"


@dataclass(frozen=True)
class CostTagStatus:
    """``status`` is Active, Inactive, or NotFound (Billing has not seen the key on any resource yet)."""

    key: str
    status: str
    last_updated: str | None = None


@dataclass(frozen=True)
class ActivationResult:
    activated: tuple[str, ...]
    pending: tuple[tuple[str, str], ...]  # (key, reason) Billing refused for now


class CostAllocationTags:
    def __init__(self, target: Target) -> None:
        self.client = target.client("ce", BILLING_REGION)

    @requires("ce:ListCostAllocationTags")
    def status(self, keys: Sequence[str]) -> list[CostTagStatus]:
        found: dict[str, CostTagStatus] = {}
        for start in range(0, len(keys), 100):
            kwargs: dict[str, Any] = {"TagKeys": list(keys[start : start + 100]), "Type": "UserDefined", "MaxResults": 1000}
            while True:
                with aws_call("ce", "ListCostAllocationTags"):
                    page = self.client.list_cost_allocation_tags(**kwargs)
                for tag in page.get("CostAllocationTags", []):
                    found[tag["TagKey"]] = CostTagStatus(tag["TagKey"], tag["Status"], tag.get("LastUpdatedDate"))
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        return [found.get(key, CostTagStatus(key, "NotFound")) for key in keys]

    @requires("ce:UpdateCostAllocationTagsStatus")
    def activate(self, keys: Iterable[str]) -> ActivationResult:
        keys = list(dict.fromkeys(keys))
        pending: list[tuple[str, str]] = []
        for start in range(0, len(keys), BATCH):
            batch = keys[start : start + BATCH]
            with aws_call("ce", "UpdateCostAllocationTagsStatus"):
                answer = self.client.update_cost_allocation_tags_status(
                    CostAllocationTagsStatus=[{"TagKey": k, "Status": "Active"} for k in batch]
                )
            pending.extend(
                (e.get("TagKey", "?"), f"{e.get('Code', '')}: {e.get('Message', '')}".strip(": "))
                for e in answer.get("Errors", [])
            )
        refused = {key for key, _ in pending}
        return ActivationResult(tuple(k for k in keys if k not in refused), tuple(pending))


class TagCost(NamedTuple):
    """Unblended cost of one period for one combination of tag values (``None``: usage without the tag).

    A tuple, not a dataclass: a 30-day report of 1,000 callers makes 30,000 of them per query."""

    period_start: dt.date
    values: tuple[str | None, ...]
    usd: Decimal
    #: NetUnblendedCost: after private-pricing discounts.
    net: Decimal | None = None


#: At most this many time slices of one daily query in flight (Cost Explorer throttles with LimitExceededException,
#: which the clients' retries take; a few requests at once stay well inside it).
SPLIT = 3


def _merge(pages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ResultsByTime of consecutive pages, a period continued on the next page merged into one entry."""
    results: list[dict[str, Any]] = []
    for page in pages:
        for entry in page.get("ResultsByTime", []):
            if results and results[-1]["TimePeriod"] == entry["TimePeriod"]:
                results[-1]["Groups"].extend(entry.get("Groups", []))
            else:
                results.append(entry)
    return results


def _slices(kwargs: Mapping[str, Any], first: Mapping[str, Any]) -> list[dict[str, str]]:
    """The rest of a daily query after its ``first`` page (from that page's last day on) in up to :data:`SPLIT`
    slices of whole days, as many as the pages it is likely to take; [] when it is not worth splitting."""
    periods = [entry["TimePeriod"] for entry in first.get("ResultsByTime", [])]
    if not periods:
        return []
    try:
        start = dt.date.fromisoformat(periods[-1]["Start"][:10])
        end = dt.date.fromisoformat(kwargs["TimePeriod"]["End"][:10])
    except (KeyError, TypeError, ValueError):
        return []
    days = (end - start).days
    per_page = max(1, len(periods) - 1)  # whole days the first page held
    count = min(SPLIT, days // per_page, days)
    if count < 2:
        return []
    bounds = [start + dt.timedelta(days=days * i // count) for i in range(count + 1)]
    return [{"Start": a.isoformat(), "End": b.isoformat()} for a, b in pairwise(bounds) if a < b]


def iso_days(costs: Iterable[TagCost]) -> dict[dt.date, str]:
    """Each period start of ``costs`` as YYYY-MM-DD, worked out once per day (not once per group)."""
    return {day: day.isoformat() for day in {cost.period_start for cost in costs}}


class QueryMemo:
    """Answers shared by the readers of one command: the first to ask a query runs it, the others (in any
    thread) wait for it and get the same rows. A report's AIP plane and principal plane read the same
    grouping; Cost Explorer is asked once, not once per plane. Lives as long as the command that made it."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._answers: dict[tuple[Any, ...], Future[Any]] = {}

    def get(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        with self._lock:
            future = self._answers.get(key)
            owner = future is None
            if future is None:
                future = self._answers[key] = Future()
        if owner:
            try:
                future.set_result(compute())
            except BaseException as error:
                future.set_exception(error)
        result: T = future.result()
        return result


class CostExplorer:
    """GetCostAndUsage with its NextPageToken loop (botocore has no paginator for it).

    With a ``memo``, the same query asked twice (by two readers of one command) is sent once."""

    def __init__(self, target: Target, memo: QueryMemo | None = None) -> None:
        self.client = target.client("ce", BILLING_REGION)
        self.memo = memo

    @requires("ce:GetCostAndUsage")
    def cost_and_usage(self, **kwargs: Any) -> list[dict[str, Any]]:
        """All ResultsByTime entries, every page (a period split over pages is merged).

        A daily query whose first page covers only part of its period (1,000 callers: about a day per page) asks
        for the rest in up to :data:`SPLIT` time slices at once instead of following NextPageToken page by page:
        the pages are the same (each is billed as a request, $0.01), the round trips overlap. The first page's
        last day, which may continue on the next page, is asked again with its slice."""
        first = self._page(kwargs, None)
        if not first.get("NextPageToken"):
            return _merge([first])
        slices = _slices(kwargs, first) if kwargs.get("Granularity") == "DAILY" else []
        if not slices:
            return self._follow(kwargs, first)
        kept = _merge([first])[:-1]  # its whole days; the last may be split across pages
        with ThreadPoolExecutor(max_workers=len(slices), thread_name_prefix="aipctl-ce") as pool:
            rest = list(pool.map(lambda period: self._follow({**kwargs, "TimePeriod": period}, None), slices))
        return kept + [entry for part in rest for entry in part]

    @requires("ce:GetCostAndUsage")
    def _page(self, kwargs: dict[str, Any], token: str | None) -> dict[str, Any]:
        with aws_call("ce", "GetCostAndUsage"):
            page: dict[str, Any] = self.client.get_cost_and_usage(**kwargs, **({"NextPageToken": token} if token else {}))
        return page

    def _follow(self, kwargs: dict[str, Any], first: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Every page of one query, from ``first`` (already read) or from the start."""
        pages = [first if first is not None else self._page(kwargs, None)]
        while pages[-1].get("NextPageToken"):
            pages.append(self._page(kwargs, pages[-1]["NextPageToken"]))
        return _merge(pages)

    @requires("ce:GetCostAndUsage", "ce:GetDimensionValues")
    def cost_by_tags(
        self,
        start: dt.date,
        end: dt.date,
        keys: Sequence[str],
        *,
        services: Sequence[str],
        granularity: Literal["DAILY", "MONTHLY"] = "DAILY",
    ) -> list[TagCost]:
        """Cost of ``services`` in [start, end) grouped by up to two tag ``keys``, one row per period × values.

        A key ``DIMENSION:<NAME>`` groups by a Cost Explorer dimension instead (``DIMENSION:LINKED_ACCOUNT``: per
        member account, in an organization's management account); its values come without the ``key$`` prefix."""
        if not services:
            return []
        if self.memo is None:
            return self._cost_by_tags(start, end, keys, services, granularity)
        key = ("cost_by_tags", start, end, tuple(keys), tuple(services), granularity)
        return self.memo.get(key, lambda: self._cost_by_tags(start, end, keys, services, granularity))

    @requires("ce:GetCostAndUsage")
    def _cost_by_tags(
        self, start: dt.date, end: dt.date, keys: Sequence[str], services: Sequence[str], granularity: str
    ) -> list[TagCost]:
        results = self.cost_and_usage(
            TimePeriod={"Start": start.isoformat(), "End": end.isoformat()},
            Granularity=granularity,
            Metrics=["UnblendedCost", "NetUnblendedCost"],
            GroupBy=[
                {"Type": "DIMENSION" if key.startswith(DIMENSION) else "TAG", "Key": key.removeprefix(DIMENSION)} for key in keys
            ],
            # usage only: credits and refunds (RECORD_TYPE Credit, Refund) would net a caller's usage away
            Filter={
                "And": [
                    {"Dimensions": {"Key": "SERVICE", "Values": list(services)}},
                    {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}},
                ]
            },
        )
        dimensions = [key.startswith(DIMENSION) for key in keys]
        # a report's groups repeat every day (1,000 callers x 30 days: 1,000 distinct keys), so each is read once
        parsed: dict[tuple[str, ...], tuple[str | None, ...]] = {}
        rows = []
        for period in results:
            day = dt.date.fromisoformat(period["TimePeriod"]["Start"])
            for group in period.get("Groups", []):
                raw = tuple(group["Keys"])
                values = parsed.get(raw)
                if values is None:
                    if len(raw) != len(keys):
                        raise AwsError(
                            f"ce:GetCostAndUsage answered a group of {len(raw)} keys for the {len(keys)} asked: {list(raw)}",
                            service="ce",
                            operation="GetCostAndUsage",
                            code="MalformedAnswer",
                        )
                    values = parsed[raw] = tuple(
                        (value or None) if dimension else (value.split("$", 1)[1] or None)
                        for dimension, value in zip(dimensions, raw, strict=True)
                    )
                metrics = group["Metrics"]
                net = metrics.get("NetUnblendedCost")
                rows.append(
                    TagCost(day, values, Decimal(metrics["UnblendedCost"]["Amount"]), Decimal(net["Amount"]) if net else None)
                )
        return rows

    @requires("ce:GetDimensionValues")
    def services_matching(self, start: str, end: str, text: str) -> list[str]:
        """SERVICE values containing ``text`` (e.g. every "... (Amazon Bedrock Edition)" and "Amazon Bedrock")."""
        if self.memo is None:
            return self._services_matching(start, end, text)
        return list(self.memo.get(("services_matching", start, end, text), lambda: self._services_matching(start, end, text)))

    @requires("ce:GetDimensionValues")
    def _services_matching(self, start: str, end: str, text: str) -> list[str]:
        values: list[str] = []
        kwargs: dict[str, Any] = {"TimePeriod": {"Start": start, "End": end}, "Dimension": "SERVICE", "SearchString": text}
        while True:
            with aws_call("ce", "GetDimensionValues"):
                page = self.client.get_dimension_values(**kwargs)
            values += [v["Value"] for v in page.get("DimensionValues", [])]
            if not page.get("NextPageToken"):
                return values
            kwargs["NextPageToken"] = page["NextPageToken"]
