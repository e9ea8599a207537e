"""CloudFormation runs as `aws cloudformation deploy` sees them (issue 12.5): outputs after a change
set, and a failing resource rolls the stack back with the AWS error in its events — never a 500 or a
stack stuck in CREATE_IN_PROGRESS. The AWS CLI from PyPI against the emulator, unmodified."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY

SONNET = "arn:aws:bedrock:eu-central-1::foundation-model/anthropic.claude-sonnet-4-6"


def template(name: str, **tags: str) -> str:
    return json.dumps(
        {
            "Resources": {
                "Profile": {
                    "Type": "AWS::Bedrock::ApplicationInferenceProfile",
                    "Properties": {
                        "InferenceProfileName": name,
                        "ModelSource": {"CopyFrom": SONNET},
                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                    },
                }
            },
            "Outputs": {
                "ProfileArn": {"Value": {"Fn::GetAtt": ["Profile", "InferenceProfileArn"]}},
                "ProfileId": {"Value": {"Fn::GetAtt": ["Profile", "InferenceProfileId"]}},
            },
        }
    )


@pytest.fixture
def aws(emulator: str, sim, tmp_path: Path) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=emulator,
        AWS_ACCESS_KEY_ID=SIM_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SIM_SECRET_KEY,
        AWS_DEFAULT_REGION="eu-central-1",
    )
    cli = shutil.which("aws") or str(Path(sys.executable).with_name("aws"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([cli, *args], env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)

    return run


def _deploy(aws: Any, tmp_path: Path, stack: str, body: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / f"{stack}.json").write_text(body)
    return aws("cloudformation", "deploy", "--template-file", f"{stack}.json", "--stack-name", stack)


def _stack(aws: Any, stack: str) -> dict[str, Any]:
    done = aws("cloudformation", "describe-stacks", "--stack-name", stack, "--output", "json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout)["Stacks"][0])


def _events(aws: Any, stack: str) -> list[dict[str, Any]]:
    done = aws("cloudformation", "describe-stack-events", "--stack-name", stack, "--output", "json")
    return list(json.loads(done.stdout)["StackEvents"])


def test_deploy_returns_outputs(aws, tmp_path: Path, bedrock) -> None:
    done = _deploy(aws, tmp_path, "chat", template("chat-sonnet", Application="chat"))
    assert done.returncode == 0, done.stderr
    stack = _stack(aws, "chat")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    arn = bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"][0]["inferenceProfileArn"]
    assert stack["StackStatus"] == "CREATE_COMPLETE" and outputs == {"ProfileArn": arn, "ProfileId": arn.rsplit("/", 1)[1]}
    statuses = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in reversed(_events(aws, "chat"))]
    assert ("Profile", "CREATE_IN_PROGRESS") in statuses and ("Profile", "CREATE_COMPLETE") in statuses
    updated = _deploy(aws, tmp_path, "chat", template("chat-sonnet", Application="chat", Owner="team-a"))
    assert updated.returncode == 0, updated.stderr
    assert _stack(aws, "chat")["StackStatus"] == "UPDATE_COMPLETE"
    assert {t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=arn)["tags"]}["Owner"] == "team-a"


def test_a_failing_resource_rolls_the_create_back(aws, tmp_path: Path, bedrock) -> None:
    assert _deploy(aws, tmp_path, "first", template("chat-sonnet")).returncode == 0
    failed = _deploy(aws, tmp_path, "second", template("chat-sonnet"))
    assert failed.returncode != 0 and "Failed to create/update the stack" in failed.stderr
    stack = _stack(aws, "second")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE" and not stack.get("Outputs")
    reasons = {(e["LogicalResourceId"], e["ResourceStatus"]): e.get("ResourceStatusReason") for e in _events(aws, "second")}
    assert "An inference profile named chat-sonnet already exists." in reasons[("Profile", "CREATE_FAILED")]
    assert "failed to create: [Profile]" in reasons[("second", "ROLLBACK_IN_PROGRESS")]
    assert len(bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]) == 1


def test_a_failing_update_restores_the_stack(aws, tmp_path: Path, bedrock) -> None:
    assert _deploy(aws, tmp_path, "taken", template("taken-name")).returncode == 0
    assert _deploy(aws, tmp_path, "chat", template("chat-sonnet", Application="chat")).returncode == 0
    before = _stack(aws, "chat")["Outputs"]
    failed = _deploy(aws, tmp_path, "chat", template("taken-name", Application="chat"))  # replacement would collide
    assert failed.returncode != 0
    stack = _stack(aws, "chat")
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE" and stack["Outputs"] == before
    names = sorted(
        p["inferenceProfileName"] for p in bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    )
    assert names == ["chat-sonnet", "taken-name"]


def test_create_stack_failure_is_an_answer_not_a_500(session, emulator, bedrock) -> None:
    cfn = session.client("cloudformation", endpoint_url=emulator)
    cfn.create_stack(StackName="one", TemplateBody=template("chat-sonnet"))
    answer = cfn.create_stack(StackName="two", TemplateBody=template("chat-sonnet"))
    assert answer["StackId"]
    assert cfn.describe_stacks(StackName="two")["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    cfn.delete_stack(StackName="two")
    assert len(bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]) == 1
