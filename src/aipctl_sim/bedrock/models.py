"""State and rules of the emulated Bedrock control plane: application inference profiles and tags."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend
from moto.moto_api._internal import mock_random

from aipctl_sim import settings
from aipctl_sim.bedrock.catalog import catalog, partition
from aipctl_sim.bedrock.exceptions import (
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    TooManyTagsException,
    ValidationException,
)

MAX_TAGS = 50
_AIP_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class ApplicationProfile:
    profile_id: str
    arn: str
    name: str
    description: str | None
    copy_from: str
    models: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    request_fingerprint: str
    tags: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "inferenceProfileName": self.name,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "inferenceProfileArn": self.arn,
            "models": [{"modelArn": m} for m in self.models],
            "inferenceProfileId": self.profile_id,
            "status": "ACTIVE",
            "type": "APPLICATION",
        }
        if self.description:
            out["description"] = self.description
        return out


class BedrockSimBackend(BaseBackend):
    """One account × Region of emulated Bedrock. Keyed like moto's backends (``bedrock_sim[acct][region]``)."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.profiles: dict[str, ApplicationProfile] = {}
        self.tokens: dict[str, str] = {}

    # -- lookups -----------------------------------------------------------------------------
    def resolve_model_source(self, copy_from: str) -> list[str]:
        """The model ARNs an AIP copied from ``copy_from`` routes to; raise if it does not exist."""
        region, account = self.region_name, self.account_id
        _, _, rest = copy_from.partition(f":bedrock:{region}:")
        kind, _, ident = rest.partition(":")[2].partition("/")
        owner = rest.partition(":")[0]
        if kind == "foundation-model" and owner == "":
            model = catalog().foundation_model(region, ident)
            if model:
                return [model.arn(region)]
        elif kind == "inference-profile" and owner == account:
            profile = catalog().system_profile(region, ident)
            if profile:
                return [m["modelArn"] for m in profile.describe(region, account)["models"]]
        elif copy_from.split(":")[3:4] != [region]:
            raise ValidationException(f"The model source {copy_from} is not in Region {region}.")
        raise ResourceNotFoundException(f"The model source {copy_from} was not found.")

    def get(self, identifier: str) -> ApplicationProfile:
        ident = identifier.rsplit("/", 1)[-1]
        profile = self.profiles.get(ident)
        if profile is None or (identifier.startswith("arn:") and identifier != profile.arn):
            raise ResourceNotFoundException(f"Inference profile {identifier} not found.")
        return profile

    def get_any(self, identifier: str) -> dict[str, Any]:
        if (identifier.startswith("arn:") and ":application-inference-profile/" in identifier) or (
            not identifier.startswith("arn:") and identifier in self.profiles
        ):
            return self.get(identifier).describe()
        profile_id = identifier.rsplit("/", 1)[-1]
        system = catalog().system_profile(self.region_name, profile_id)
        if system is None or (identifier.startswith("arn:") and identifier != system.arn(self.region_name, self.account_id)):
            raise ResourceNotFoundException(f"Inference profile {identifier} not found.")
        return system.describe(self.region_name, self.account_id)

    # -- operations --------------------------------------------------------------------------
    def create(
        self, name: str, description: str | None, copy_from: str, tags: list[dict[str, str]], token: str | None
    ) -> ApplicationProfile:
        fingerprint = hashlib.sha256(repr((name, description, copy_from, _tag_items(tags))).encode()).hexdigest()
        if token and token in self.tokens and self.tokens[token] in self.profiles:
            existing = self.profiles[self.tokens[token]]
            if existing.request_fingerprint != fingerprint:
                raise ConflictException("The client request token was already used with different parameters.")
            return existing
        self._check_tags(tags, existing=0)
        if any(p.name == name for p in self.profiles.values()):
            raise ConflictException(f"An inference profile named {name} already exists.")
        quota = settings.settings().quotas.get("application-inference-profiles", 1000)
        if len(self.profiles) >= quota:
            raise ServiceQuotaExceededException(
                f"You have reached the maximum number of inference profiles ({quota}) for this account in this Region."
            )
        models = self.resolve_model_source(copy_from)
        profile_id = "".join(mock_random.choice(_AIP_ID_ALPHABET) for _ in range(12))  # seeded per write (journal.py)
        now = settings.now()
        profile = ApplicationProfile(
            profile_id=profile_id,
            arn=f"arn:{partition(self.region_name)}:bedrock:{self.region_name}:{self.account_id}:application-inference-profile/{profile_id}",
            name=name,
            description=description,
            copy_from=copy_from,
            models=models,
            created_at=now,
            updated_at=now,
            request_fingerprint=fingerprint,
            tags=dict(_tag_items(tags)),
        )
        self.profiles[profile_id] = profile
        if token:
            self.tokens[token] = profile_id
        return profile

    def delete(self, identifier: str) -> None:
        profile = self.get(identifier)
        del self.profiles[profile.profile_id]

    def list_profiles(
        self, type_equals: str, max_results: int | None, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        if type_equals == "APPLICATION":
            items = [p.describe() for p in sorted(self.profiles.values(), key=lambda p: (p.created_at, p.profile_id))]
        else:
            items = [s.describe(self.region_name, self.account_id) for s in catalog().system_profiles(self.region_name)]
        start = _decode_token(next_token)
        size = max_results or 1000
        page = items[start : start + size]
        more = start + size < len(items)
        return page, (_encode_token(start + size) if more else None)

    # -- tags --------------------------------------------------------------------------------
    def _tagged(self, arn: str) -> ApplicationProfile:
        if ":application-inference-profile/" not in arn:
            raise ResourceNotFoundException(f"Resource {arn} not found.")
        return self.get(arn)

    def tag(self, arn: str, tags: list[dict[str, str]]) -> None:
        profile = self._tagged(arn)
        new_keys = {t["key"] for t in tags} - set(profile.tags)
        self._check_tags(tags, existing=len(profile.tags), new_keys=len(new_keys))
        profile.tags.update(_tag_items(tags))
        profile.updated_at = settings.now()

    def untag(self, arn: str, keys: list[str]) -> None:
        profile = self._tagged(arn)
        for key in keys:
            profile.tags.pop(key, None)
        profile.updated_at = settings.now()

    def list_tags(self, arn: str) -> list[dict[str, str]]:
        return [{"key": k, "value": v} for k, v in self._tagged(arn).tags.items()]

    @staticmethod
    def _check_tags(tags: list[dict[str, str]], existing: int, new_keys: int | None = None) -> None:
        for tag in tags:
            if tag["key"].lower().startswith("aws:"):
                raise ValidationException("Tag keys starting with 'aws:' are reserved for system use.")
        added = len({t["key"] for t in tags}) if new_keys is None else new_keys
        if existing + added > MAX_TAGS:
            raise TooManyTagsException(
                f"The request would give the resource {existing + added} tags; at most {MAX_TAGS} are allowed."
            )


def _tag_items(tags: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(t["key"], t["value"]) for t in tags]


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"aipctl-sim:{offset}".encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        prefix, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix != "aipctl-sim":
            raise ValueError
        return int(offset)
    except ValueError:
        raise ValidationException("The pagination token is invalid.") from None


bedrock_sim_backends = BackendDict(BedrockSimBackend, "bedrock")
