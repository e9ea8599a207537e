"""The pure planning rules: which change each live/desired combination produces."""

from __future__ import annotations

import pytest

from aipctl._exceptions import PlanConflict
from aipctl.aws.bedrock import LiveProfile
from aipctl.aws.ce import CostTagStatus
from aipctl.inventory import parse_inventory
from aipctl.plan import Action, LiveState, plan_changes
from tests.conftest import ACCOUNT, MINIMAL_INVENTORY, SONNET_PROFILE

LOADED = parse_inventory(MINIMAL_INVENTORY, "aipctl.yaml")


def _live(name: str, tags: dict[str, str], arn_id: str = "abc123abc123") -> LiveProfile:
    return LiveProfile(
        arn=f"arn:aws:bedrock:eu-central-1:{ACCOUNT}:application-inference-profile/{arn_id}",
        profile_id=arn_id,
        name=name,
        models=(),
        status="ACTIVE",
        created_at=None,
        tags=tags,
    )


def _desired_tags(name: str) -> dict[str, str]:
    return next(p for p in LOADED.profiles if p.name == name).tag_map


def _plan(*profiles: LiveProfile, prune: bool = False, cost: tuple[CostTagStatus, ...] = ()):
    return plan_changes(LOADED, LiveState(tuple(profiles), cost), account=ACCOUNT, prune=prune)


def test_empty_account_creates_one_aip_per_caller_and_model() -> None:
    plan = _plan()
    assert [(c.action, c.name) for c in plan.changes] == [
        (Action.CREATE, "batch-embed"),
        (Action.CREATE, "chat-haiku"),
        (Action.CREATE, "chat-sonnet"),
    ]
    sonnet = next(c for c in plan.changes if c.name == "chat-sonnet")
    assert sonnet.copy_from == SONNET_PROFILE
    assert sonnet.tags == {
        "Application": "chat",
        "Owner": "platform-team",
        "Environment": "production",
        "CostCenter": "4711",
        "aipctl:managed": "test",
        "aipctl:caller": "chat",
        "aipctl:alias": "sonnet",
        "aipctl:source": "eu.anthropic.claude-sonnet-4-6",
    }
    batch = next(c for c in plan.changes if c.name == "batch-embed")
    assert batch.copy_from == "arn:aws:bedrock:eu-central-1::foundation-model/amazon.titan-embed-text-v2:0"


def test_matching_live_state_is_a_noop() -> None:
    live = [_live(p.name, p.tag_map, f"{i:012d}") for i, p in enumerate(LOADED.profiles)]
    plan = _plan(*live)
    assert {c.action for c in plan.changes} == {Action.NOOP}
    assert not plan.has_changes


def test_changed_and_extra_tags_are_a_retag() -> None:
    tags = _desired_tags("chat-sonnet") | {"Owner": "old-team", "Stale": "x", "aws:cloudformation:logical-id": "ignored"}
    tags.pop("CostCenter")
    plan = _plan(_live("chat-sonnet", tags))
    change = next(c for c in plan.changes if c.name == "chat-sonnet")
    assert change.action is Action.RETAG
    assert change.set_tags == {"Owner": "platform-team", "CostCenter": "4711"}
    assert change.remove_tags == ("Stale",)


def test_model_source_change_is_a_replace_with_a_warning() -> None:
    tags = _desired_tags("chat-sonnet") | {"aipctl:source": "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"}
    plan = _plan(_live("chat-sonnet", tags))
    change = next(c for c in plan.changes if c.name == "chat-sonnet")
    assert change.action is Action.REPLACE
    assert change.old_source == "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert any("ARN changes" in w and "chat" in w for w in plan.warnings)


def test_orphans_need_prune_to_be_deleted() -> None:
    orphan = _live("gone-sonnet", {"aipctl:managed": "test", "aipctl:caller": "gone", "aipctl:alias": "sonnet"})
    kept = _plan(orphan)
    assert [o.name for o in kept.orphans] == ["gone-sonnet"]
    assert Action.DELETE not in {c.action for c in kept.changes}
    pruned = _plan(orphan, prune=True)
    assert [(c.action, c.name) for c in pruned.changes if c.action is Action.DELETE] == [(Action.DELETE, "gone-sonnet")]


@pytest.mark.parametrize(
    "tags,fragment",
    [
        ({"Application": "chat"}, "not created by aipctl"),
        ({"aipctl:managed": "other-inventory"}, "managed by another aipctl inventory ('other-inventory')"),
        (
            {"aipctl:managed": "test", "aws:cloudformation:stack-name": "bedrock-aip-chat"},
            "CloudFormation stack 'bedrock-aip-chat'",
        ),
    ],
)
def test_a_name_held_by_something_else_is_a_conflict(tags: dict[str, str], fragment: str) -> None:
    with pytest.raises(PlanConflict) as exc:
        _plan(_live("chat-sonnet", tags))
    assert fragment in str(exc.value)
    assert "aipctl.yaml:" in str(exc.value)


def test_unmanaged_and_foreign_aips_are_never_touched_even_with_prune() -> None:
    unmanaged = _live("someone-elses", {"Application": "x"}, "111111111111")
    foreign = _live("other-inv", {"aipctl:managed": "other"}, "222222222222")
    stack = _live("stacked", {"aipctl:managed": "test", "aws:cloudformation:stack-name": "s"}, "333333333333")
    plan = _plan(unmanaged, foreign, stack, prune=True)
    touched = {c.name for c in plan.changes if c.action is not Action.CREATE}
    assert touched == set()


def test_inactive_or_unknown_cost_tags_are_planned_for_activation() -> None:
    plan = _plan(
        cost=(
            CostTagStatus("Application", "Active"),
            CostTagStatus("Owner", "Inactive"),
            CostTagStatus("Environment", "NotFound"),
        )
    )
    assert [(c.key, c.current) for c in plan.cost_tags] == [("Owner", "Inactive"), ("Environment", "NotFound")]


def test_quota_stops_the_plan_and_names_the_callers_that_would_not_fit() -> None:
    from aipctl.aws.quotas import Quota
    from aipctl.plan.reconcile import check_quota

    live = [_live(f"x{i}", {}, f"{i:012d}") for i in range(998)]
    plan = _plan(*live)
    state = LiveState(tuple(live), (), ())
    with pytest.raises(PlanConflict) as raised:
        check_quota(LOADED, plan, state, Quota(1000, "default"))
    message, hint = str(raised.value), raised.value.hint or ""
    assert "would create 3 AIP(s) in a Region that holds 998 and may hold 1000" in message
    overflow = message.split("would not fit:")[1]
    assert "batch (1 AIP(s))" in overflow and "chat" not in overflow, "callers are fitted in inventory order"
    assert "attribution: principal" in hint and "--quota-code L-40EC9882 --desired-value 1001" in hint
    assert check_quota(LOADED, plan, state, Quota(1100, "applied")) == [
        "the Region will hold 1001 of its 1100 AIPs (Service Quotas bedrock/L-40EC9882, applied); "
        "tenants and new callers may not fit"
    ]
