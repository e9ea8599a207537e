"""Rendered templates pass cfn-lint; `apply --via cloudformation` deploys one stack per caller."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from aipctl.cfn.template import render_caller_template
from aipctl.inventory import example_inventory, parse_inventory
from tests.conftest import MINIMAL_INVENTORY, SONNET_PROFILE


def _cfn_lint() -> list[str]:
    exe = shutil.which("cfn-lint") or str(Path(sys.executable).with_name("cfn-lint"))
    return [exe]


def test_rendered_templates_pass_cfn_lint(cli, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(example_inventory())
    result = cli("cfn", "render", "-o", "cfn")
    assert result.code == 0, result.err
    files = sorted((workdir / "cfn").glob("*.yaml"))
    assert [f.name for f in files] == [
        "bedrock-aip-daily-briefing.yaml",
        "bedrock-aip-fastapi-app.yaml",
        "bedrock-aip-mcp-hosted.yaml",
        "bedrock-aip-mcp-whatsapp.yaml",
        "bedrock-aip-open-webui.yaml",
        "bedrock-aip-receptionist.yaml",
    ]
    lint = subprocess.run(
        [*_cfn_lint(), "--regions", "eu-central-1", "--", *map(str, files)], capture_output=True, text=True, timeout=300
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_template_shape_follows_the_runbook() -> None:
    loaded = parse_inventory(example_inventory(), "aipctl.yaml")
    single = render_caller_template(loaded, "mcp-whatsapp")
    assert set(single["Parameters"]) == {"CallerName", "Owner", "Environment", "BaseModelProfile"}
    resource = single["Resources"]["AipHaiku"]
    assert resource["Type"] == "AWS::Bedrock::ApplicationInferenceProfile"
    tags = {t["Key"]: t["Value"] for t in resource["Properties"]["Tags"]}
    assert tags["Application"] == {"Ref": "CallerName"} and tags["aipctl:managed"] == "platform"
    assert single["Outputs"]["HaikuArn"]["Value"] == {"Fn::GetAtt": ["AipHaiku", "InferenceProfileArn"]}
    multi = render_caller_template(loaded, "open-webui")
    assert {"BaseModelProfileSonnet", "BaseModelProfileHaiku"} <= set(multi["Parameters"])


def test_apply_via_cloudformation_deploys_and_converges(cli, session, emulator, bedrock, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    result = cli("apply", "--via", "cloudformation", "--yes", "--json")
    assert result.code == 0, result.err
    cfn = session.client("cloudformation", endpoint_url=emulator)
    stacks = {s["StackName"]: s for s in cfn.describe_stacks()["Stacks"]}
    assert set(stacks) == {"bedrock-aip-chat", "bedrock-aip-batch"}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks["bedrock-aip-chat"]["Outputs"]}
    live = {
        p["inferenceProfileName"]: p["inferenceProfileArn"]
        for p in bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    }
    assert outputs == {"SonnetArn": live["chat-sonnet"], "HaikuArn": live["chat-haiku"]}
    tags = {t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=live["chat-sonnet"])["tags"]}
    assert tags["Application"] == "chat" and tags["aipctl:managed"] == "test" and tags["CostCenter"] == "4711"

    again = cli("apply", "--via", "cloudformation", "--yes")
    assert again.code == 0 and "No changes. 2 stack(s) up to date." in again.err

    # The API-mode planner leaves stack-owned AIPs alone and says why.
    api = cli("plan")
    assert api.code == 1 and "belongs to CloudFormation stack 'bedrock-aip-chat'" in api.err

    retag = MINIMAL_INVENTORY.replace("owner: platform-team", "owner: chat-team")
    (workdir / "aipctl.yaml").write_text(retag)
    updated = cli("apply", "--via", "cloudformation", "--yes")
    assert updated.code == 0, updated.err
    tags = {t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=live["chat-sonnet"])["tags"]}
    assert tags["Owner"] == "chat-team"

    (workdir / "aipctl.yaml").write_text(retag.split("  batch:")[0])
    pruned = cli("apply", "--via", "cloudformation", "--yes", "--prune")
    assert pruned.code == 0, pruned.err
    assert {s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"} == {
        "bedrock-aip-chat"
    }
    names = {
        p["inferenceProfileName"] for p in bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    }
    assert names == {"chat-sonnet", "chat-haiku"}


def test_cloudformation_refuses_names_taken_by_api_created_aips(cli, bedrock, workdir: Path) -> None:
    bedrock.create_inference_profile(inferenceProfileName="chat-sonnet", modelSource={"copyFrom": SONNET_PROFILE})
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    result = cli("apply", "--via", "cloudformation", "--yes")
    assert result.code == 1
    assert "already exists outside CloudFormation" in result.err
    assert len(bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]) == 1


def test_rendered_yaml_is_loadable(workdir: Path) -> None:
    from aipctl.cfn.template import to_yaml

    loaded = parse_inventory(MINIMAL_INVENTORY, "x.yaml")
    template = render_caller_template(loaded, "chat")
    assert yaml.safe_load(to_yaml(template)) == template


GUARDED = MINIMAL_INVENTORY.replace(
    '    tags: {CostCenter: "4711"}\n',
    '    tags: {CostCenter: "4711"}\n    budget: {monthly_usd: 200, alert_at: [50, 90]}\n    limits: {rpm: 120, tpm: 90000}\n',
).replace("    models: [embed]\n", "    models: [embed]\n    budget: {monthly_usd: 20, alert_at: [80]}\n")


def _account_state(session, emulator) -> dict[str, object]:
    """AIPs (by name: source tag and inventory tags), budgets (limit, notifications) and alarms (by name, with
    the AIP they watch named by caller/alias instead of its id) — what both paths must agree on."""
    bedrock = session.client("bedrock", endpoint_url=emulator)
    aips, by_id = {}, {}
    for summary in bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]:
        tags = {t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=summary["inferenceProfileArn"])["tags"]}
        aips[summary["inferenceProfileName"]] = {k: v for k, v in tags.items() if not k.startswith(("aws:", "aipctl:stack"))}
        by_id[summary["inferenceProfileArn"].rsplit("/", 1)[-1]] = summary["inferenceProfileName"]
    budgets_api = session.client("budgets", region_name="us-east-1", endpoint_url=emulator)
    budgets = {
        b["BudgetName"]: (
            b["BudgetLimit"]["Amount"],
            sorted(
                n["Threshold"]
                for n in budgets_api.describe_notifications_for_budget(AccountId="123456789012", BudgetName=b["BudgetName"])[
                    "Notifications"
                ]
            ),
        )
        for b in budgets_api.describe_budgets(AccountId="123456789012").get("Budgets", [])
    }
    alarms = {}
    for alarm in session.client("cloudwatch", endpoint_url=emulator).describe_alarms()["MetricAlarms"]:
        text = json.dumps({k: alarm.get(k) for k in ("Metrics", "Dimensions", "Threshold", "ComparisonOperator")}, sort_keys=True)
        for profile_id, name in by_id.items():
            text = text.replace(profile_id, name)
        alarms[alarm["AlarmName"]] = text
    return {"aips": aips, "budgets": budgets, "alarms": alarms}


def test_both_paths_end_in_the_same_account_state(cli, sim, session, emulator, workdir: Path) -> None:
    """Issue 17.1: the CloudFormation path created no budgets and no alarms. Now they are applied beside the
    stacks through the same plan; the end states are compared resource by resource."""
    (workdir / "aipctl.yaml").write_text(GUARDED)
    assert cli("apply", "--yes").code == 0
    by_api = _account_state(session, emulator)
    assert len(by_api["budgets"]) == 2 and len(by_api["alarms"]) >= 6, by_api
    sim.reset()
    preview = cli("plan", "--via", "cloudformation", "--detailed-exitcode")
    assert preview.code == 2
    assert "create  stack" in preview.out + preview.err and "budget aipctl-test-chat" in preview.out + preview.err
    preview_json = cli("plan", "--via", "cloudformation", "--json").json
    assert {g["kind"] for g in preview_json["guards"]} == {"budget", "alarm"}
    applied = cli("apply", "--via", "cloudformation", "--yes")
    assert applied.code == 0, applied.err
    assert "Budgets and alarms:" in applied.out
    by_stacks = _account_state(session, emulator)
    assert by_stacks == by_api
    assert cli("plan", "--via", "cloudformation", "--detailed-exitcode").code == 0, "converged"


def test_plan_change_sets_preview_stack_updates_and_leave_nothing_behind(cli, session, emulator, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--via", "cloudformation", "--yes").code == 0
    assert cli("plan", "--change-sets").code == 2, "change sets preview stacks: --via cloudformation is needed"
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY.replace('CostCenter: "4711"', 'CostCenter: "4712"'))
    preview = cli("plan", "--via", "cloudformation", "--change-sets", "--json")
    assert preview.code == 0, preview.err
    updates = {s["stack"]: s for s in preview.json["stacks"] if s["action"] == "update"}
    assert list(updates) == ["bedrock-aip-chat"]
    changed = {(c["action"], c["resource"], c["type"]) for c in updates["bedrock-aip-chat"]["resource_changes"]}
    assert ("Modify", "AipSonnet", "AWS::Bedrock::ApplicationInferenceProfile") in changed
    text = cli("plan", "--via", "cloudformation", "--change-sets")
    assert "Modify AipSonnet (AWS::Bedrock::ApplicationInferenceProfile)" in text.out
    cfn = session.client("cloudformation", endpoint_url=emulator)
    assert cfn.list_change_sets(StackName="bedrock-aip-chat")["Summaries"] == [], "preview change sets are deleted"
    bedrock = session.client("bedrock", endpoint_url=emulator)
    arn = next(
        p["inferenceProfileArn"]
        for p in bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
        if p["inferenceProfileName"] == "chat-sonnet"
    )
    tags = {t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=arn)["tags"]}
    assert tags["CostCenter"] == "4711", "a preview executes nothing"
