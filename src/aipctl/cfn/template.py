"""CloudFormation templates in the shape of the Phase 4 runbook: one stack per caller.

Parameters ``CallerName``, ``Owner``, ``Environment`` and ``BaseModelProfile`` (a caller with one
model) or ``BaseModelProfile<Alias>`` (one per model); each defaults to what the inventory says, so
``aws cloudformation deploy`` works without overrides, and overriding ``BaseModelProfile`` with a
full ARN works as in the runbook. One ``AWS::Bedrock::ApplicationInferenceProfile`` per model; the
outputs are the AIP ARNs.
"""

from __future__ import annotations

import re
from typing import Any

from aipctl._exceptions import UsageError
from aipctl.inventory import rules
from aipctl.inventory.loader import DesiredProfile, LoadedInventory

STACK_PREFIX = "bedrock-aip-"


def stack_name(caller: str) -> str:
    return f"{STACK_PREFIX}{caller}"


def _pascal(alias: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", alias) if part)


def caller_profiles(loaded: LoadedInventory, caller: str) -> list[DesiredProfile]:
    return [p for p in loaded.profiles if p.caller == caller]


def render_caller_template(loaded: LoadedInventory, caller: str) -> dict[str, Any]:
    """The template (as a dict) that creates ``caller``'s AIPs."""
    inventory = loaded.inventory
    entry = inventory.callers[caller]
    profiles = caller_profiles(loaded, caller)
    single = len(profiles) == 1
    parameters: dict[str, Any] = {
        "CallerName": {
            "Type": "String",
            "Default": caller,
            "AllowedPattern": "([0-9a-zA-Z][_-]?)+",
            "Description": "Caller name; becomes the Application tag and part of each profile name",
        },
        "Owner": {"Type": "String", "Default": entry.owner, "Description": "Owner tag"},
        "Environment": {"Type": "String", "Default": entry.environment, "Description": "Environment tag"},
    }
    conditions: dict[str, Any] = {}
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    logical_ids: dict[str, str] = {}
    for profile in profiles:
        pascal = _pascal(profile.alias)
        if pascal in logical_ids:
            raise UsageError(f"model aliases {logical_ids[pascal]!r} and {profile.alias!r} map to the same CloudFormation id")
        logical_ids[pascal] = profile.alias
        param = "BaseModelProfile" if single else f"BaseModelProfile{pascal}"
        condition = f"Override{param}"
        default_arn = _default_copy_from(profile)
        parameters[param] = {
            "Type": "String",
            "Default": "",
            "Description": f"copyFrom ARN for model {profile.alias} (empty: {profile.source.model_id} in this Region)",
        }
        conditions[condition] = {"Fn::Not": [{"Fn::Equals": [{"Ref": param}, ""]}]}
        tags = [
            {"Key": rules.TAG_APPLICATION, "Value": {"Ref": "CallerName"}},
            {"Key": rules.TAG_OWNER, "Value": {"Ref": "Owner"}},
            {"Key": rules.TAG_ENVIRONMENT, "Value": {"Ref": "Environment"}},
            *({"Key": k, "Value": v} for k, v in sorted(entry.tags.items())),
            {"Key": rules.TAG_MANAGED, "Value": inventory.name},
            {"Key": rules.TAG_CALLER, "Value": {"Ref": "CallerName"}},
            {"Key": rules.TAG_ALIAS, "Value": profile.alias},
            {"Key": rules.TAG_SOURCE, "Value": profile.source.model_id},
        ]
        resources[f"Aip{pascal}"] = {
            "Type": "AWS::Bedrock::ApplicationInferenceProfile",
            "Properties": {
                "InferenceProfileName": {"Fn::Sub": f"{inventory.name_prefix}${{CallerName}}-{profile.alias}"},
                "Description": profile.description,
                "ModelSource": {"CopyFrom": {"Fn::If": [condition, {"Ref": param}, default_arn]}},
                "Tags": tags,
            },
        }
        outputs[f"{pascal}Arn"] = {
            "Description": f"AIP ARN of {caller} for model {profile.alias}",
            "Value": {"Fn::GetAtt": [f"Aip{pascal}", "InferenceProfileArn"]},
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"aipctl: application inference profiles of caller {caller} (inventory {inventory.name})",
        "Parameters": parameters,
        "Conditions": conditions,
        "Resources": resources,
        "Outputs": outputs,
    }


def template_parameters(template: dict[str, Any]) -> dict[str, str]:
    """The parameter values aipctl deploys with: each template default, passed explicitly."""
    return {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}


def _default_copy_from(profile: DesiredProfile) -> Any:
    source = profile.source
    if source.arn:
        return source.arn
    if source.kind == "system-profile":
        return {
            "Fn::Sub": f"arn:${{AWS::Partition}}:bedrock:${{AWS::Region}}:${{AWS::AccountId}}:inference-profile/{source.model_id}"
        }
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:bedrock:${{AWS::Region}}::foundation-model/{source.model_id}"}


def to_yaml(template: dict[str, Any]) -> str:
    import yaml

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # repeated values are written out, never as &anchors CloudFormation would choke on

    return yaml.dump(template, Dumper=_Dumper, sort_keys=False, width=120)
