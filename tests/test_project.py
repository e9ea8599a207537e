"""The Python facade (aipctl.Project) as a script would use it, against the emulator over HTTP."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

import aipctl
from aipctl.plan import Action, ResourceKind
from aipctl.spend import SpendWindow
from tests.conftest import MINIMAL_INVENTORY

MESSAGES = [{"role": "user", "content": [{"text": "What did the chat team spend this week?"}]}]


def test_project_plans_applies_wires_and_reports(sim, emulator: str, session, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    progress: list[tuple[str, int, int | None]] = []
    with aipctl.Project.open("aipctl.yaml", target="sim", endpoint_url=emulator) as project:
        assert project.describe()["account"] == "123456789012"
        plan = project.plan()
        assert {c.action for c in plan.changes} == {Action.CREATE} and len(plan.changes) == 3
        assert all(c.kind is ResourceKind.PROFILE for c in plan.changes)
        applied = project.apply(plan, progress=lambda task, done=0, total=None: progress.append((task, done, total)))
        assert applied.failed_names() == [] and len(applied.results) == 3
        assert progress[-1] == ("applying", 3, 3), "apply reports each change"
        assert project.plan().has_changes is False, "a second plan is clean"
        rows = {(r.caller, r.alias): r for r in project.wiring()}
        listed = session.client("bedrock", endpoint_url=emulator).list_inference_profiles(typeEquals="APPLICATION")
        arns = {p["inferenceProfileName"]: p["inferenceProfileArn"] for p in listed["inferenceProfileSummaries"]}
        assert (
            rows[("chat", "sonnet")].arn == arns["chat-sonnet"] and rows[("chat", "sonnet")].env_var == "BEDROCK_AIP_ARN_SONNET"
        )
        runtime = session.client("bedrock-runtime", endpoint_url=emulator)
        usage = runtime.converse(modelId=arns["chat-sonnet"], messages=MESSAGES)["usage"]
        report = project.report(dt.timedelta(days=1))
    chat = next(c for c in report.callers if c.caller == "chat")
    expected = aipctl.cost_of(
        arns["chat-sonnet"],
        usage,
        resolver=aipctl.Resolver(session, region="eu-central-1", endpoint_url=emulator, environ={}),
    )
    assert chat.line("estimated").input_tokens == usage["inputTokens"]
    assert chat.estimated == expected > 0, "the estimate is the call's usage at the AIP's price"
    assert chat.billed == Decimal(0), "Cost Explorer has the day only after its lag"
    assert set(report.sources) == {"cost_explorer", "cloudwatch", "cost_explorer_principals"}
    assert report.total_metered is None


def test_project_needs_an_inventory_only_where_it_uses_one(sim, emulator: str) -> None:
    with aipctl.Project.open(None, target="sim", endpoint_url=emulator, region="eu-central-1") as project:
        assert project.live().profiles == ()
        with pytest.raises(aipctl.UsageError, match="needs an inventory"):
            project.plan()


def test_plan_previews_the_cloudformation_path(cli, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    preview = cli("plan", "--via", "cloudformation", "--detailed-exitcode", "--json")
    assert preview.code == 2, preview.err
    assert preview.json["via"] == "cloudformation"
    assert {(s["action"], s["stack"]) for s in preview.json["stacks"]} == {
        ("create", "bedrock-aip-chat"),
        ("create", "bedrock-aip-batch"),
    }
    assert preview.json["summary"]["stack-create"] == 2 and preview.json["changes"] == []
    text = cli("plan", "--via", "cloudformation")
    assert "create  stack bedrock-aip-chat" in text.out and "Plan: 2 stack change(s)" in text.out
    assert cli("apply", "--via", "cloudformation", "--yes").code == 0
    assert cli("plan", "--via", "cloudformation", "--detailed-exitcode").code == 0, "converged"


@pytest.mark.parametrize(
    ("end", "end_day"),
    [
        (dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc), dt.date(2026, 12, 1)),  # midnight: that day is not in it
        (dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.timezone.utc), dt.date(2026, 12, 2)),  # it includes today
    ],
)
def test_a_spend_window_ends_on_the_first_day_it_does_not_hold(end: dt.datetime, end_day: dt.date) -> None:
    window = SpendWindow(dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc), end)
    assert window.first_day == dt.date(2026, 11, 1) and window.end_day == end_day
