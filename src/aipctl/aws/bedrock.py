"""Bedrock control-plane adapter: application inference profiles, their tags, model sources."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aipctl.aws.errors import aws_call
from aipctl.aws.permissions import requires
from aipctl.aws.target import Target
from aipctl.progress import NO_PROGRESS, Progress


@dataclass(frozen=True)
class LiveProfile:
    """An application inference profile as it exists in the account, with its tags."""

    arn: str
    profile_id: str
    name: str
    models: tuple[str, ...]
    status: str
    created_at: dt.datetime | None
    tags: Mapping[str, str] = field(default_factory=dict)

    def with_tags(self, tags: Mapping[str, str]) -> LiveProfile:
        return LiveProfile(self.arn, self.profile_id, self.name, self.models, self.status, self.created_at, dict(tags))


class BedrockControl:
    """The Bedrock control-plane calls aipctl makes. Safe to share between threads."""

    def __init__(self, target: Target, *, worker: str | None = None) -> None:
        self.target = target
        self.client = target.client("bedrock", worker=worker)  # worker: see Target.client

    @requires("bedrock:ListInferenceProfiles")
    def list_application_profiles(self) -> list[LiveProfile]:
        """All application inference profiles of the Region, every page (without tags)."""
        return [_live(item) for item in self._list("APPLICATION")]

    @requires("bedrock:ListInferenceProfiles")
    def system_profile_ids(self) -> set[str]:
        return {item["inferenceProfileId"] for item in self._list("SYSTEM_DEFINED")}

    @requires("bedrock:ListInferenceProfiles")
    def _list(self, type_equals: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"typeEquals": type_equals, "maxResults": 1000}
        while True:
            with aws_call("bedrock", "ListInferenceProfiles"):
                page = self.client.list_inference_profiles(**kwargs)
            items.extend(page.get("inferenceProfileSummaries", []))
            token = page.get("nextToken")
            if not token:
                return items
            kwargs["nextToken"] = token

    @requires("bedrock:ListFoundationModels")
    def foundation_model_ids(self) -> set[str]:
        with aws_call("bedrock", "ListFoundationModels"):
            answer = self.client.list_foundation_models()
        return {m["modelId"] for m in answer.get("modelSummaries", [])}

    @requires("bedrock:GetInferenceProfile")
    def get_profile(self, identifier: str) -> dict[str, Any]:
        with aws_call("bedrock", "GetInferenceProfile", identifier):
            answer = self.client.get_inference_profile(inferenceProfileIdentifier=identifier)
        answer.pop("ResponseMetadata", None)
        return dict(answer)

    @requires("bedrock:ListTagsForResource")
    def tags_of(self, arn: str) -> dict[str, str]:
        with aws_call("bedrock", "ListTagsForResource", arn):
            answer = self.client.list_tags_for_resource(resourceARN=arn)
        return {t["key"]: t["value"] for t in answer.get("tags", [])}

    def with_tags(
        self, profiles: Iterable[LiveProfile], concurrency: int = 16, progress: Progress = NO_PROGRESS
    ) -> list[LiveProfile]:
        """Fetch tags of many profiles concurrently (one ListTagsForResource each)."""
        profiles = list(profiles)
        done = itertools.count(1)
        local = threading.local()

        def fetch(profile: LiveProfile) -> LiveProfile:
            if not hasattr(local, "control"):  # a client per worker: its own retry quota (Target.client)
                local.control = BedrockControl(self.target, worker=threading.current_thread().name)
            tagged = profile.with_tags(local.control.tags_of(profile.arn))
            progress("reading tags", next(done), len(profiles))
            return tagged

        if len(profiles) <= 1:
            return [fetch(p) for p in profiles]
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="aipctl-tags") as pool:
            return list(pool.map(fetch, profiles))

    @requires("bedrock:CreateInferenceProfile", "bedrock:TagResource", "bedrock:GetInferenceProfile")
    def create_profile(self, name: str, copy_from: str, description: str, tags: Mapping[str, str], request_token: str) -> str:
        """Create an AIP; ``request_token`` makes retries of the same create idempotent. Returns the ARN."""
        with aws_call("bedrock", "CreateInferenceProfile", name):
            answer = self.client.create_inference_profile(
                inferenceProfileName=name,
                description=description,
                modelSource={"copyFrom": copy_from},
                clientRequestToken=request_token,
                tags=[{"key": k, "value": v} for k, v in sorted(tags.items())],
            )
        return str(answer["inferenceProfileArn"])

    @requires("bedrock:DeleteInferenceProfile")
    def delete_profile(self, arn: str) -> None:
        with aws_call("bedrock", "DeleteInferenceProfile", arn):
            self.client.delete_inference_profile(inferenceProfileIdentifier=arn)

    @requires("bedrock:TagResource")
    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        if not tags:
            return
        with aws_call("bedrock", "TagResource", arn):
            self.client.tag_resource(resourceARN=arn, tags=[{"key": k, "value": v} for k, v in sorted(tags.items())])

    @requires("bedrock:UntagResource")
    def untag(self, arn: str, keys: Iterable[str]) -> None:
        keys = sorted(keys)
        if not keys:
            return
        with aws_call("bedrock", "UntagResource", arn):
            self.client.untag_resource(resourceARN=arn, tagKeys=keys)


def _live(item: Mapping[str, Any]) -> LiveProfile:
    return LiveProfile(
        arn=item["inferenceProfileArn"],
        profile_id=item["inferenceProfileId"],
        name=item["inferenceProfileName"],
        models=tuple(m["modelArn"] for m in item.get("models", [])),
        status=item.get("status", "ACTIVE"),
        created_at=item.get("createdAt"),
    )
