"""Cost-allocation tags, fault injection, CloudFormation and state persistence of the emulator."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import SONNET_PROFILE, run_aipctl


def test_cost_allocation_tags_need_a_tagged_resource_first(session, emulator, bedrock) -> None:
    ce = session.client("ce", region_name="us-east-1", endpoint_url=emulator)
    before = ce.update_cost_allocation_tags_status(CostAllocationTagsStatus=[{"TagKey": "Application", "Status": "Active"}])
    assert [e["TagKey"] for e in before["Errors"]] == ["Application"]
    bedrock.create_inference_profile(
        inferenceProfileName="x", modelSource={"copyFrom": SONNET_PROFILE}, tags=[{"key": "Application", "value": "x"}]
    )
    listed = ce.list_cost_allocation_tags()["CostAllocationTags"]
    assert [(t["TagKey"], t["Status"], t["Type"]) for t in listed] == [("Application", "Inactive", "UserDefined")]
    after = ce.update_cost_allocation_tags_status(CostAllocationTagsStatus=[{"TagKey": "Application", "Status": "Active"}])
    assert after["Errors"] == []
    assert ce.list_cost_allocation_tags(Status="Active")["CostAllocationTags"][0]["TagKey"] == "Application"
    with pytest.raises(ClientError) as exc:
        ce.update_cost_allocation_tags_status(
            CostAllocationTagsStatus=[{"TagKey": f"K{i}", "Status": "Active"} for i in range(21)]
        )
    assert exc.value.response["Error"]["Code"] == "ValidationException"


def test_injected_throttling_and_errors_reach_the_client(session, emulator, sim) -> None:
    no_retry = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    bedrock = session.client("bedrock", endpoint_url=emulator, config=no_retry)
    sim.set_faults([{"service": "bedrock", "operation": "ListInferenceProfiles", "throttle_rate": 1.0}])
    with pytest.raises(ClientError) as exc:
        bedrock.list_inference_profiles()
    assert exc.value.response["Error"]["Code"] == "ThrottlingException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    bedrock.list_foundation_models()  # other operations unaffected
    sim.set_faults([{"service": "*", "operation": "*", "error_rate": 1.0}])
    with pytest.raises(ClientError) as exc:
        session.client("sts", endpoint_url=emulator, config=no_retry).get_caller_identity()
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    sim.set_faults([{"service": "bedrock", "latency_ms": 150}])
    started = time.perf_counter()
    bedrock.list_foundation_models()
    assert time.perf_counter() - started >= 0.15
    sim.set_faults([])


def test_partial_throttling_is_absorbed_by_retries(session, emulator, sim) -> None:
    sim.set_faults([{"service": "bedrock", "throttle_rate": 0.2}], seed=42)  # reproducible: some calls are throttled
    bedrock = session.client("bedrock", endpoint_url=emulator, config=Config(retries={"mode": "standard", "max_attempts": 10}))
    answers = [bedrock.list_foundation_models() for _ in range(30)]
    assert sum(a["ResponseMetadata"]["RetryAttempts"] for a in answers) > 0
    sim.set_faults([])


TEMPLATE = {
    "Resources": {
        "Aip": {
            "Type": "AWS::Bedrock::ApplicationInferenceProfile",
            "Properties": {
                "InferenceProfileName": "cfn-chat-sonnet",
                "ModelSource": {"CopyFrom": SONNET_PROFILE},
                "Tags": [{"Key": "Application", "Value": "chat"}],
            },
        }
    },
    "Outputs": {
        "Arn": {"Value": {"Fn::GetAtt": ["Aip", "InferenceProfileArn"]}},
        "Ref": {"Value": {"Ref": "Aip"}},
        "Id": {"Value": {"Fn::GetAtt": ["Aip", "InferenceProfileId"]}},
    },
}


def _outputs(cfn, name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_cloudformation_creates_retags_replaces_and_deletes_aips(session, emulator, bedrock) -> None:
    cfn = session.client("cloudformation", endpoint_url=emulator)
    cfn.create_stack(StackName="bedrock-aip-chat", TemplateBody=json.dumps(TEMPLATE))
    out = _outputs(cfn, "bedrock-aip-chat")
    assert out["Arn"] == out["Ref"] and out["Arn"].endswith("/" + out["Id"])
    tags = {t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=out["Arn"])["tags"]}
    assert tags["Application"] == "chat" and tags["aws:cloudformation:stack-name"] == "bedrock-aip-chat"

    retagged = json.loads(json.dumps(TEMPLATE))
    retagged["Resources"]["Aip"]["Properties"]["Tags"] = [{"Key": "Application", "Value": "chat2"}]
    cfn.update_stack(StackName="bedrock-aip-chat", TemplateBody=json.dumps(retagged))
    assert _outputs(cfn, "bedrock-aip-chat")["Arn"] == out["Arn"], "a tag change updates in place"
    tags = {t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=out["Arn"])["tags"]}
    assert tags["Application"] == "chat2"

    replaced = json.loads(json.dumps(retagged))
    replaced["Resources"]["Aip"]["Properties"]["ModelSource"]["CopyFrom"] = SONNET_PROFILE.replace(
        "eu.anthropic.claude-sonnet-4-6", "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
    )
    cfn.update_stack(StackName="bedrock-aip-chat", TemplateBody=json.dumps(replaced))
    stack = cfn.describe_stacks(StackName="bedrock-aip-chat")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", "a custom name cannot be kept through a replacement"
    assert _outputs(cfn, "bedrock-aip-chat")["Arn"] == out["Arn"]
    replaced["Resources"]["Aip"]["Properties"]["InferenceProfileName"] = "cfn-chat-haiku"
    cfn.update_stack(StackName="bedrock-aip-chat", TemplateBody=json.dumps(replaced))
    new_arn = _outputs(cfn, "bedrock-aip-chat")["Arn"]
    assert new_arn != out["Arn"], "a model source change replaces the AIP"
    names = [
        p["inferenceProfileArn"] for p in bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    ]
    assert names == [new_arn]

    cfn.delete_stack(StackName="bedrock-aip-chat")
    assert bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"] == []


def test_state_persists_across_processes(tmp_path: Path) -> None:
    """apply in one process, plan in another: the embedded emulator's state survives."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_aipctl(*args, cwd=tmp_path)

    assert run("init").returncode == 0
    applied = run("apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    planned = run("plan", "--detailed-exitcode")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "No changes. 9 AIP(s) up to date." in planned.stdout
    assert (tmp_path / ".aipctl" / "sim" / "state.pkl").exists()


def test_corrupt_state_is_set_aside_with_a_warning(tmp_path: Path) -> None:
    state = tmp_path / ".aipctl" / "sim"
    state.mkdir(parents=True)
    (state / "state.pkl").write_bytes(b"not a pickle")
    done = run_aipctl("list", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    assert list(state.glob("state.*.bak"))
    assert "could not be loaded" in done.stderr
