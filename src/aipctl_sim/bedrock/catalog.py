"""The emulator's view of Bedrock's models: foundation models and system-defined profiles per Region.

Loaded from ``catalog.json`` (regenerate with ``scripts/build_catalog.py``): every Region Bedrock
serves (botocore's endpoint data, GovCloud included) with the geographies of its cross-Region profiles.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

#: Prefixes of system-defined (cross-Region) profile ids and the names AWS gives them ("EU Claude ...").
#: The product keeps the same list (aipctl.inventory.rules.GEO_PREFIXES); tests/test_architecture.py checks
#: they agree, since the emulator never imports the product.
GEO_NAMES = {
    "us": "US",
    "us-gov": "US-GOV",
    "eu": "EU",
    "apac": "APAC",
    "jp": "JP",
    "au": "AU",
    "ca": "CA",
    "global": "Global",
}
GEO_PREFIXES = tuple(GEO_NAMES)


def partition(region: str) -> str:
    """The ARN partition of a Region (GovCloud has its own)."""
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


#: The models of this catalog that serve the priority and flex tiers.
TIERED_MODELS = frozenset({"amazon.nova-pro-v1:0", "amazon.nova-premier-v1:0"})

#: System profiles and models existed long before any simulated clock starts.
CATALOG_EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class FoundationModel:
    model_id: str
    name: str
    provider: str
    family: str
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    streaming: bool
    in_region: tuple[str, ...]
    regions: tuple[str, ...]
    geo_profiles: tuple[str, ...]
    billing_service: str
    prices: dict[str, dict[str, float]]

    def arn(self, region: str) -> str:
        return f"arn:{partition(region)}:bedrock:{region}::foundation-model/{self.model_id}"

    @property
    def service_tiers(self) -> tuple[str, ...]:
        """On-demand tiers beside ``default`` (priority and flex launched for Nova Pro and Nova Premier among
        this catalog's models: "Amazon Bedrock introduces Priority and Flex inference service tiers", 2025-11-18)."""
        return ("priority", "flex") if self.model_id in TIERED_MODELS else ()

    @property
    def marketplace(self) -> bool:
        """Billed through AWS Marketplace ("... (Amazon Bedrock Edition)", Price List ``AmazonBedrockFoundationModels``)."""
        return self.billing_service != "Amazon Bedrock"

    @property
    def long_cache_ttl(self) -> bool:
        """Whether a cache point may ask for a 1-hour TTL (Claude models; others keep 5 minutes)."""
        return self.family == "anthropic-messages"

    @property
    def batch(self) -> bool:
        """Whether batch inference prices it (the text models)."""
        return self.family in ("anthropic-messages", "nova")

    def summary(self, region: str) -> dict[str, Any]:
        return {
            "modelArn": self.arn(region),
            "modelId": self.model_id,
            "modelName": self.name,
            "providerName": self.provider,
            "inputModalities": list(self.input_modalities),
            "outputModalities": list(self.output_modalities),
            "responseStreamingSupported": self.streaming,
            "customizationsSupported": [],
            "inferenceTypesSupported": ["ON_DEMAND"] if region in self.in_region else ["INFERENCE_PROFILE"],
            "modelLifecycle": {"status": "ACTIVE"},
        }


@dataclass(frozen=True)
class SystemProfile:
    profile_id: str
    geo: str
    model: FoundationModel
    routes: tuple[str, ...]

    def arn(self, region: str, account: str) -> str:
        return f"arn:{partition(region)}:bedrock:{region}:{account}:inference-profile/{self.profile_id}"

    def describe(self, region: str, account: str) -> dict[str, Any]:
        return {
            "inferenceProfileName": f"{GEO_NAMES[self.geo]} {self.model.name}",
            "description": f"Routes requests to {self.model.name} in {', '.join(self.routes)}.",
            "createdAt": CATALOG_EPOCH,
            "updatedAt": CATALOG_EPOCH,
            "inferenceProfileArn": self.arn(region, account),
            "models": [{"modelArn": self.model.arn(r)} for r in self.routes],
            "inferenceProfileId": self.profile_id,
            "status": "ACTIVE",
            "type": "SYSTEM_DEFINED",
        }


class Catalog:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.geos: dict[str, list[str]] = raw["geos"]
        self.models: dict[str, FoundationModel] = {}
        for m in raw["models"]:
            self.models[m["modelId"]] = FoundationModel(
                model_id=m["modelId"],
                name=m["modelName"],
                provider=m["providerName"],
                family=m["family"],
                input_modalities=tuple(m["inputModalities"]),
                output_modalities=tuple(m["outputModalities"]),
                streaming=m["responseStreamingSupported"],
                in_region=tuple(m["inRegion"]),
                regions=tuple(m["regions"]),
                geo_profiles=tuple(m["geoProfiles"]),
                billing_service=m["billingService"],
                prices=m["prices"],
            )

    def foundation_models(self, region: str) -> list[FoundationModel]:
        return [m for m in self.models.values() if region in m.regions]

    def foundation_model(self, region: str, model_id: str) -> FoundationModel | None:
        model = self.models.get(model_id)
        return model if model and region in model.regions else None

    def system_profiles(self, region: str) -> list[SystemProfile]:
        out = []
        for model in self.models.values():
            for geo in model.geo_profiles:
                if region in self.geos[geo]:
                    out.append(SystemProfile(f"{geo}.{model.model_id}", geo, model, tuple(self.geos[geo])))
        return out

    def system_profile(self, region: str, profile_id: str) -> SystemProfile | None:
        return next((p for p in self.system_profiles(region) if p.profile_id == profile_id), None)


@cache
def catalog() -> Catalog:
    return Catalog(json.loads((files("aipctl_sim.bedrock") / "catalog.json").read_text(encoding="utf-8")))
