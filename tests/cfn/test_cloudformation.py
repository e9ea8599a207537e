"""Rendered templates pass cfn-lint; `apply --via cloudformation` deploys one stack per caller."""

from __future__ import annotations

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
