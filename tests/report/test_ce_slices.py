"""A long daily Cost Explorer query is read in time slices at once, with the same rows as page after page."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from aipctl.aws.ce import SPLIT, CostExplorer
from aipctl.aws.target import Target
from tests.conftest import SONNET_PROFILE

MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
DAYS = 12


@pytest.fixture
def twelve_days(session: Any, emulator: str, bedrock: Any, sim: Any) -> dict[str, Any]:
    """Two tagged callers calling once a day for 12 days, then a day later (the bill's lag): a day per page."""
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    arns = [
        bedrock.create_inference_profile(
            inferenceProfileName=f"{name}-sonnet",
            modelSource={"copyFrom": SONNET_PROFILE},
            tags=[{"key": "Application", "value": name}],
        )["inferenceProfileArn"]
        for name in ("chat", "search")
    ]
    session.client("ce", region_name="us-east-1", endpoint_url=emulator).update_cost_allocation_tags_status(
        CostAllocationTagsStatus=[{"TagKey": "Application", "Status": "Active"}]  # a key Billing has seen on the AIPs
    )
    start = dt.datetime.fromisoformat(sim.clock()["now"]).date()
    for day in range(DAYS):
        for i, arn in enumerate(arns):
            runtime.converse(modelId=arn, messages=MESSAGES, inferenceConfig={"maxTokens": 20 + day + i})
        sim.advance(86400)
    sim.advance(86400)
    sim.set_settings(ce_page_groups=1)  # every day (2 groups) on a page of its own
    end = start + dt.timedelta(days=DAYS + 1)
    return {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "TAG", "Key": "Application"}],
    }


def _page_by_page(client: Any, query: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    results: list[dict[str, Any]] = []
    pages, token = 0, None
    while True:
        answer = client.get_cost_and_usage(**query, **({"NextPageToken": token} if token else {}))
        pages += 1
        results += answer["ResultsByTime"]
        token = answer.get("NextPageToken")
        if not token:
            return results, pages


def test_a_long_daily_query_is_read_in_slices_with_the_same_rows(
    target: Target, twelve_days: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explorer = CostExplorer(target)
    expected, pages = _page_by_page(explorer.client, twelve_days)
    assert pages == DAYS + 1 and sum(len(r["Groups"]) for r in expected) == 2 * DAYS

    trace = tmp_path / "calls"
    monkeypatch.setenv("AIPCTL_TRACE_CALLS", str(trace))
    sliced = CostExplorer(Target(target.kind, target.session, target.region, endpoint_url=target.endpoint_url))
    got = sliced.cost_and_usage(**twelve_days)

    def key(entry: dict[str, Any]) -> tuple[str, list[tuple[tuple[str, ...], str]]]:
        groups = sorted((tuple(g["Keys"]), g["Metrics"]["UnblendedCost"]["Amount"]) for g in entry["Groups"])
        return entry["TimePeriod"]["Start"], groups

    assert [key(e) for e in got] == [key(e) for e in expected]  # every day once, in order, the same groups
    calls = trace.read_text().splitlines()
    # the first page, then the rest again from its (possibly continued) day: one page more than one by one
    assert calls == ["ce GetCostAndUsage"] * (pages + 1)


def test_a_short_or_monthly_query_follows_its_pages(target: Target, twelve_days: dict[str, Any]) -> None:
    explorer = CostExplorer(target)
    monthly = {**twelve_days, "Granularity": "MONTHLY"}
    expected, _ = _page_by_page(explorer.client, monthly)
    assert [e["TimePeriod"] for e in explorer.cost_and_usage(**monthly)] == [e["TimePeriod"] for e in expected]
    end = dt.date.fromisoformat(twelve_days["TimePeriod"]["Start"]) + dt.timedelta(days=SPLIT - 1)
    short = {**twelve_days, "TimePeriod": {**twelve_days["TimePeriod"], "End": end.isoformat()}}
    expected, pages = _page_by_page(explorer.client, short)
    assert pages == SPLIT - 1
    assert [e["TimePeriod"] for e in explorer.cost_and_usage(**short)] == [e["TimePeriod"] for e in expected]
