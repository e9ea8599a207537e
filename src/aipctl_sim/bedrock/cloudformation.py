"""``AWS::Bedrock::ApplicationInferenceProfile`` for moto's CloudFormation.

moto finds resource types among the subclasses of ``CloudFormationModel``; defining this class is
the registration. Name, description and model source are create-only: a change replaces the AIP (a
new ARN; the new one is created before the old one is deleted, and a replacement that keeps its
custom name is refused, as CloudFormation refuses it); tags update in place. Ref returns the ARN, as
on AWS.
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from aipctl_sim import settings
from aipctl_sim.bedrock.models import ApplicationProfile, bedrock_sim_backends

_CREATE_ONLY = ("InferenceProfileName", "Description", "ModelSource")


class ApplicationInferenceProfileResource(CloudFormationModel):
    def __init__(self, account_id: str, region_name: str, arn: str, properties: dict[str, Any]) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.arn = arn
        self.properties = properties

    @property
    def profile(self) -> ApplicationProfile:
        return bedrock_sim_backends[self.account_id][self.region_name].get(self.arn)

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return "InferenceProfileName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Bedrock::ApplicationInferenceProfile"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in (
            "InferenceProfileArn",
            "InferenceProfileId",
            "InferenceProfileIdentifier",
            "Status",
            "Type",
            "Models",
            "CreatedAt",
            "UpdatedAt",
        )

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        profile = self.profile
        values = {
            "InferenceProfileArn": profile.arn,
            "InferenceProfileId": profile.profile_id,
            "InferenceProfileIdentifier": profile.arn,
            "Status": "ACTIVE",
            "Type": "APPLICATION",
            "Models": [{"ModelArn": m} for m in profile.models],
            "CreatedAt": profile.created_at.isoformat(),
            "UpdatedAt": profile.updated_at.isoformat(),
        }
        if attribute_name not in values:
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            raise UnformattedGetAttTemplateException()
        return values[attribute_name]

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> ApplicationInferenceProfileResource:
        props = cloudformation_json.get("Properties", {})
        backend = bedrock_sim_backends[account_id][region_name]
        profile = backend.create(
            name=props.get("InferenceProfileName", resource_name),
            description=props.get("Description"),
            copy_from=props.get("ModelSource", {}).get("CopyFrom", ""),
            tags=[{"key": t["Key"], "value": str(t["Value"])} for t in props.get("Tags", [])],
            token=None,
        )
        stack_id = kwargs.get("StackId", "")
        if stack_id:
            profile.tags["aws:cloudformation:stack-name"] = stack_id.split("/")[1]
            profile.tags["aws:cloudformation:stack-id"] = stack_id
            profile.tags["aws:cloudformation:logical-id"] = kwargs.get("LogicalId", "")
        return cls(account_id, region_name, profile.arn, props)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: ApplicationInferenceProfileResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> ApplicationInferenceProfileResource:
        props = cloudformation_json.get("Properties", {})
        old = original_resource.properties
        if any(props.get(key) != old.get(key) for key in _CREATE_ONLY):
            # Replacement: CloudFormation creates the new resource, then deletes the old one; a custom
            # name that stays the same cannot be replaced.
            name = props.get("InferenceProfileName", new_resource_name)
            if name == old.get("InferenceProfileName", name):
                from aipctl_sim.protocol import ValidationException

                raise ValidationException(
                    "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                    f"Rename {name} and update the stack again."
                )
            system_tags = {k: v for k, v in original_resource.profile.tags.items() if k.startswith("aws:")}
            new = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)
            new.profile.tags.update(system_tags)
            bedrock_sim_backends[account_id][region_name].delete(original_resource.arn)
            return new
        profile = original_resource.profile
        system_tags = {k: v for k, v in profile.tags.items() if k.startswith("aws:")}
        profile.tags = {**{t["Key"]: str(t["Value"]) for t in props.get("Tags", [])}, **system_tags}
        profile.updated_at = settings.now()
        original_resource.properties = props
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        backend = bedrock_sim_backends[account_id][region_name]
        if resource_name in {p.arn for p in backend.profiles.values()}:
            backend.delete(resource_name)

    def is_created(self) -> bool:
        return True
