"""CloudFormation adapter: deploy, inspect and delete aipctl's stacks."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aipctl._exceptions import AwsError
from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target

_DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE")
_FAILED_SUFFIXES = ("FAILED", "ROLLBACK_COMPLETE")


@dataclass(frozen=True)
class Stack:
    name: str
    stack_id: str
    status: str
    tags: Mapping[str, str]
    outputs: Mapping[str, str]
    parameters: Mapping[str, str]


class Stacks:
    # CloudFormation calls the resource APIs with the caller's credentials.
    RESOURCE_ACTIONS = (
        "bedrock:CreateInferenceProfile",
        "bedrock:DeleteInferenceProfile",
        "bedrock:GetInferenceProfile",
        "bedrock:TagResource",
        "bedrock:UntagResource",
        "bedrock:ListTagsForResource",
    )

    def __init__(self, target: Target, poll_s: float = 2.0, timeout_s: float = 1800) -> None:
        self.client = target.client("cloudformation")
        self.poll_s = poll_s
        self.timeout_s = timeout_s

    @requires("cloudformation:DescribeStacks")
    def list_stacks(self) -> list[Stack]:
        stacks: list[Stack] = []
        kwargs: dict[str, Any] = {}
        while True:
            with aws_call("cloudformation", "DescribeStacks"):
                page = self.client.describe_stacks(**kwargs)
            stacks.extend(_stack(s) for s in page.get("Stacks", []))
            if not page.get("NextToken"):
                return stacks
            kwargs["NextToken"] = page["NextToken"]

    @requires("cloudformation:GetTemplate")
    def template_of(self, name: str) -> dict[str, Any]:
        with aws_call("cloudformation", "GetTemplate", name):
            body = self.client.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
        if isinstance(body, str):
            try:
                return dict(json.loads(body))
            except ValueError:
                import yaml

                return dict(yaml.safe_load(body))
        return dict(body)

    @requires(
        "cloudformation:CreateStack", "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", *RESOURCE_ACTIONS
    )
    def create(self, name: str, template: dict[str, Any], parameters: Mapping[str, str], tags: Mapping[str, str]) -> Stack:
        with aws_call("cloudformation", "CreateStack", name):
            self.client.create_stack(**_stack_request(name, template, parameters, tags), OnFailure="ROLLBACK")
        return self.wait(name)

    @requires(
        "cloudformation:UpdateStack", "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", *RESOURCE_ACTIONS
    )
    def update(self, name: str, template: dict[str, Any], parameters: Mapping[str, str], tags: Mapping[str, str]) -> Stack:
        try:
            with aws_call("cloudformation", "UpdateStack", name):
                self.client.update_stack(**_stack_request(name, template, parameters, tags))
        except AwsError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
        return self.wait(name)

    @requires("cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:DeleteChangeSet")
    def preview(
        self, name: str, template: dict[str, Any], parameters: Mapping[str, str], tags: Mapping[str, str]
    ) -> list[dict[str, str]]:
        """What an update of stack ``name`` would do to its resources, from a change set CloudFormation computes
        (then deleted, never executed): one ``{action, resource, type, replacement}`` per resource change."""
        request = _stack_request(name, template, parameters, tags)
        with aws_call("cloudformation", "CreateChangeSet", name):
            answer = self.client.create_change_set(**request, ChangeSetName="aipctl-plan-preview", ChangeSetType="UPDATE")
        change_set = answer["Id"]
        try:
            deadline = time.monotonic() + 300
            while True:
                with aws_call("cloudformation", "DescribeChangeSet", name):
                    described = self.client.describe_change_set(ChangeSetName=change_set)
                status = described.get("Status", "")
                if status == "CREATE_COMPLETE":
                    break
                if status == "FAILED":
                    reason = str(described.get("StatusReason", ""))
                    if "didn't contain changes" in reason or "No updates" in reason:
                        return []
                    raise AwsError(
                        f"change set of {name} failed: {reason}",
                        service="cloudformation",
                        operation="DescribeChangeSet",
                        code="ChangeSetFailed",
                    )
                if time.monotonic() > deadline:
                    raise AwsError(
                        f"change set of {name} still {status} after 300 s",
                        service="cloudformation",
                        operation="DescribeChangeSet",
                        code="Timeout",
                    )
                time.sleep(min(self.poll_s, 2.0))
            return [
                {
                    "action": str(c["ResourceChange"].get("Action", "")),
                    "resource": str(c["ResourceChange"].get("LogicalResourceId", "")),
                    "type": str(c["ResourceChange"].get("ResourceType", "")),
                    "replacement": str(c["ResourceChange"].get("Replacement", "")),
                }
                for c in described.get("Changes", [])
                if c.get("Type") == "Resource"
            ]
        finally:
            with aws_call("cloudformation", "DeleteChangeSet", name):
                self.client.delete_change_set(ChangeSetName=change_set)

    @requires("cloudformation:DeleteStack", "cloudformation:DescribeStacks", *RESOURCE_ACTIONS)
    def delete(self, name: str) -> None:
        with aws_call("cloudformation", "DeleteStack", name):
            self.client.delete_stack(StackName=name)
        self.wait(name, deleting=True)

    @requires("cloudformation:DescribeStacks")
    def wait(self, name: str, deleting: bool = False) -> Stack:
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                with aws_call("cloudformation", "DescribeStacks", name):
                    found = self.client.describe_stacks(StackName=name)["Stacks"]
            except AwsError as exc:
                if deleting and "does not exist" in str(exc):
                    return Stack(name, "", "DELETE_COMPLETE", {}, {}, {})
                raise
            stack = _stack(found[0])
            if stack.status in _DONE:
                return stack
            if stack.status.endswith(_FAILED_SUFFIXES):
                raise AwsError(
                    f"stack {name} ended in {stack.status}: {self._failure_reason(name)}",
                    service="cloudformation",
                    operation="DescribeStacks",
                    code=stack.status,
                    resource=name,
                )
            if time.monotonic() > deadline:
                raise AwsError(
                    f"stack {name} still {stack.status} after {self.timeout_s:.0f}s",
                    service="cloudformation",
                    operation="DescribeStacks",
                    code="Timeout",
                    resource=name,
                )
            time.sleep(self.poll_s)

    @requires("cloudformation:DescribeStackEvents")
    def _failure_reason(self, name: str) -> str:
        try:
            with aws_call("cloudformation", "DescribeStackEvents", name):
                events = self.client.describe_stack_events(StackName=name).get("StackEvents", [])
        except AwsError:
            return "see the stack events"
        reasons = [e.get("ResourceStatusReason") for e in events if str(e.get("ResourceStatus", "")).endswith("FAILED")]
        return next((r for r in reasons if r), "see the stack events")


def _stack_request(name: str, template: dict[str, Any], parameters: Mapping[str, str], tags: Mapping[str, str]) -> dict[str, Any]:
    return {
        "StackName": name,
        "TemplateBody": json.dumps(template),
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())],
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }


def _stack(raw: Mapping[str, Any]) -> Stack:
    return Stack(
        name=raw["StackName"],
        stack_id=raw.get("StackId", ""),
        status=raw.get("StackStatus", ""),
        tags={t["Key"]: t["Value"] for t in raw.get("Tags", [])},
        outputs={o["OutputKey"]: o["OutputValue"] for o in raw.get("Outputs", [])},
        parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in raw.get("Parameters", [])},
    )
