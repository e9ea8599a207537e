"""The principal plane of plan/apply: tags on the callers' IAM roles and users, against the emulator.

aipctl sets only keys it owns, records them on the principal, leaves everybody else's tags alone,
and removes its own with --prune; the principal cost-allocation tags are activated after tagging.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import MINIMAL_INVENTORY

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


def _role_tags(iam, name: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]}


def _iam(session, emulator: str):
    return session.client("iam", endpoint_url=emulator)


def test_apply_tags_the_callers_role_and_activates_principal_cost_tags(cli, session, emulator: str, workdir: Path) -> None:
    iam = _iam(session, emulator)
    iam.create_role(RoleName="chat-task", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "team", "Value": "chat"}])
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    plan = cli("plan", "--json")
    assert plan.code == 0, plan.err
    principals = plan.json["principals"]
    assert [p["principal"] for p in principals] == ["arn:aws:iam::123456789012:role/chat-task"]
    assert principals[0]["action"] == "retag" and principals[0]["caller"] == "chat"
    assert {"iamPrincipal/Application", "iamPrincipal/Owner", "iamPrincipal/Environment"} <= {
        c["key"] for c in plan.json["cost_tags"]
    }
    text = cli("plan")
    assert "tag      arn:aws:iam::123456789012:role/chat-task" in text.out
    assert "+Application=chat" in text.out and "1 IAM principal(s) to tag" in text.out

    applied = cli("apply", "--yes", "--json")
    assert applied.code == 0, applied.err
    tags = _role_tags(iam, "chat-task")
    assert tags == {
        "team": "chat",  # not aipctl's: untouched
        "Application": "chat",
        "Owner": "platform-team",
        "Environment": "production",
        "CostCenter": "4711",
        "aipctl:managed": "test",
        "aipctl:keys": "Application CostCenter Environment Owner",
    }
    activated = set(applied.json["result"]["cost_tags"]["activated"])
    assert {"iamPrincipal/Application", "iamPrincipal/Owner"} <= activated
    status = session.client("ce", endpoint_url=emulator).list_cost_allocation_tags(TagKeys=["iamPrincipal/Application"])
    assert status["CostAllocationTags"][0]["Status"] == "Active"

    again = cli("plan", "--json").json
    assert [p["action"] for p in again["principals"]] == ["no-op"] and not again["has_changes"]


def test_foreign_keys_are_left_and_dropped_keys_removed(cli, session, emulator: str, workdir: Path) -> None:
    iam = _iam(session, emulator)
    iam.create_role(RoleName="chat-task", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "Owner", "Value": "someone-else"}])
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    plan = cli("plan", "--json").json
    assert any("Owner='someone-else' was set outside aipctl" in w for w in plan["warnings"])
    assert cli("apply", "--yes").code == 0
    tags = _role_tags(iam, "chat-task")
    assert tags["Owner"] == "someone-else" and tags["aipctl:keys"] == "Application CostCenter Environment"

    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY.replace('    tags: {CostCenter: "4711"}\n', ""))
    retag = cli("plan", "--json").json["principals"][0]
    assert retag["remove_tags"] == ["CostCenter"]
    assert cli("apply", "--yes").code == 0
    tags = _role_tags(iam, "chat-task")
    assert "CostCenter" not in tags and tags["Owner"] == "someone-else"


def test_prune_removes_only_aipctls_tags_from_principals_it_no_longer_names(cli, session, emulator: str, workdir: Path) -> None:
    iam = _iam(session, emulator)
    iam.create_role(RoleName="chat-task", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "team", "Value": "chat"}])
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY.replace('    identities: ["arn:aws:iam::*:role/chat-task"]\n', ""))
    kept = cli("plan", "--json").json
    assert kept["principals"] == [] and _role_tags(iam, "chat-task")["Application"] == "chat", "nothing without --prune"
    pruned = cli("apply", "--yes", "--prune", "--json")
    assert pruned.code == 0, pruned.err
    assert [p["action"] for p in pruned.json["plan"]["principals"]] == ["delete"]
    assert _role_tags(iam, "chat-task") == {"team": "chat"}


def test_a_principal_of_another_inventory_stops_the_plan(cli, session, emulator: str, workdir: Path) -> None:
    iam = _iam(session, emulator)
    iam.create_role(
        RoleName="chat-task", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "aipctl:managed", "Value": "other-inventory"}]
    )
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    result = cli("apply", "--yes")
    assert result.code != 0
    assert "tagged by another aipctl inventory ('other-inventory'); nothing was changed" in result.err
    assert _role_tags(iam, "chat-task") == {"aipctl:managed": "other-inventory"}
    profiles = session.client("bedrock", endpoint_url=emulator).list_inference_profiles(typeEquals="APPLICATION")
    assert profiles["inferenceProfileSummaries"] == [], "the conflict is found before any change"


def test_profile_only_callers_leave_principals_alone(cli, session, emulator: str, workdir: Path) -> None:
    iam = _iam(session, emulator)
    iam.create_role(RoleName="chat-task", AssumeRolePolicyDocument=TRUST)
    profile_only = MINIMAL_INVENTORY.replace("    environment: ", "    attribution: profile\n    environment: ")
    (workdir / "aipctl.yaml").write_text(profile_only)
    plan = cli("plan", "--json").json
    assert plan["principals"] == []
    assert not any(c["key"].startswith("iamPrincipal/") for c in plan["cost_tags"])
    assert cli("apply", "--yes").code == 0
    assert _role_tags(iam, "chat-task") == {}


def test_plan_stops_at_the_aip_quota_and_principal_attribution_fits(cli, sim, session, emulator: str, workdir: Path) -> None:
    sim.set_quotas({"application-inference-profiles": 2})  # what Service Quotas answers for L-40EC9882
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    result = cli("apply", "--yes")
    assert result.code != 0
    assert "may hold 2 (Service Quotas bedrock/L-40EC9882, applied); nothing was changed" in result.err
    assert "aipctl.yaml:" in result.err and "batch (1 AIP(s))" in result.err and "attribution: principal" in result.err
    bedrock = session.client("bedrock", endpoint_url=emulator)
    assert bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"] == []
    fitted = MINIMAL_INVENTORY.replace("    owner: data-team\n", "    owner: data-team\n    attribution: principal\n")
    (workdir / "aipctl.yaml").write_text(fitted)
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.err
    assert len(bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]) == 2
