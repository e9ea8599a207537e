"""Regenerate the emulator's Bedrock model catalog from genai-prices.

    .venv/bin/pip install genai-prices && .venv/bin/python scripts/build_catalog.py

genai-prices (provider ``aws``) is a maintained price list but keys models by its own ids
(``regional.anthropic.claude-sonnet-4-6-v1:0``). The table below maps the real Bedrock model ids,
names, families and geo profiles onto those entries; prices come from genai-prices, falling back
to the explicit figure where it has none (Cohere embeddings). The output is committed as
``src/aipctl_sim/bedrock/catalog.json`` so the emulator needs no network and no extra package.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "aipctl_sim" / "bedrock" / "catalog.json"

# Every Region Bedrock serves: botocore's endpoint data for "bedrock" (partitions aws and aws-us-gov),
# boto3.session.Session().get_available_regions("bedrock", partition_name=...).
COMMERCIAL = [
    "af-south-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6",
    "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
    "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1",
    "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
]  # fmt: skip
GOVCLOUD = ["us-gov-east-1", "us-gov-west-1"]
# The Regions of each geography (source and destination Regions of its cross-Region profiles), after
# AWS CDK's CrossRegionInferenceProfileRegion (aws-bedrock-alpha, which cites the Bedrock user guide's
# "Supported Regions and models for inference profiles"); "global" is every commercial Region; "ca"
# (ca-central-1, ca-west-1) is the least documented: third-party code calls ca.anthropic.* profiles.
GEOS = {
    "us": ["us-east-1", "us-east-2", "us-west-1", "us-west-2"],
    "us-gov": GOVCLOUD,
    "eu": ["eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3"],
    "apac": [
        "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1",
        "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7", "me-central-1",
    ],
    "jp": ["ap-northeast-1", "ap-northeast-3"],
    "au": ["ap-southeast-2", "ap-southeast-4"],
    "ca": ["ca-central-1", "ca-west-1"],
    "global": COMMERCIAL,
}  # fmt: skip
# In-Region (on-demand) availability of the models that have it: the Regions the first catalog knew.
ALL = [
    "ap-northeast-1", "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "eu-central-1", "eu-north-1",
    "eu-west-1", "eu-west-3", "us-east-1", "us-east-2", "us-west-2",
]  # fmt: skip
CLAUDE = ("us", "eu", "apac", "jp", "global")
#: The Claude models with Australian and Canadian profiles (AWS announced au. and ca. for Sonnet 4.5 and Haiku 4.5).
CLAUDE_WIDE = (*CLAUDE, "au", "ca")

# (model id, name, provider, family, genai-prices key without prefix, geo profiles, in-region,
#  billing SERVICE name, modalities in/out, fallback prices per 1M tokens)
MODELS: list[dict] = [
    dict(id="anthropic.claude-sonnet-4-6", name="Claude Sonnet 4.6", key="anthropic.claude-sonnet-4-6-v1:0", geos=CLAUDE_WIDE),
    dict(
        id="anthropic.claude-opus-4-6-v1",
        name="Claude Opus 4.6",
        key="anthropic.claude-opus-4-6-v1:0",
        geos=("us", "eu", "apac", "global"),
    ),
    dict(
        id="anthropic.claude-sonnet-4-5-20250929-v1:0",
        name="Claude Sonnet 4.5",
        key="anthropic.claude-sonnet-4-5-20250929-v1:0",
        geos=(*CLAUDE_WIDE, "us-gov"),
    ),
    dict(
        id="anthropic.claude-haiku-4-5-20251001-v1:0",
        name="Claude Haiku 4.5",
        key="anthropic.claude-haiku-4-5-20251001-v1:0",
        geos=CLAUDE_WIDE,
    ),
    dict(
        id="anthropic.claude-opus-4-5-20251101-v1:0",
        name="Claude Opus 4.5",
        key="anthropic.claude-opus-4-5-v1:0",
        geos=("us", "eu", "global"),
    ),
    dict(
        id="anthropic.claude-opus-4-1-20250805-v1:0",
        name="Claude Opus 4.1",
        key="anthropic.claude-opus-4-1-20250805-v1:0",
        geos=("us",),
    ),
    dict(
        id="anthropic.claude-sonnet-4-20250514-v1:0",
        name="Claude Sonnet 4",
        key="anthropic.claude-sonnet-4-20250514-v1:0",
        geos=("us", "eu", "apac", "global"),
    ),
    dict(
        id="anthropic.claude-3-7-sonnet-20250219-v1:0",
        name="Claude 3.7 Sonnet",
        key="anthropic.claude-3-7-sonnet-20250219-v1:0",
        geos=("us", "eu", "apac", "us-gov"),
    ),
    dict(
        id="anthropic.claude-3-5-haiku-20241022-v1:0",
        name="Claude 3.5 Haiku",
        key="anthropic.claude-3-5-haiku-20241022-v1:0",
        geos=("us",),
    ),
    dict(
        id="amazon.nova-micro-v1:0",
        name="Nova Micro",
        provider="Amazon",
        family="nova",
        key="amazon.nova-micro-v1:0",
        geos=("us", "eu", "apac"),
        in_region=ALL,
    ),
    dict(
        id="amazon.nova-lite-v1:0",
        name="Nova Lite",
        provider="Amazon",
        family="nova",
        key="amazon.nova-lite-v1:0",
        geos=("us", "eu", "apac"),
        in_region=ALL,
        inputs=("TEXT", "IMAGE", "VIDEO"),
    ),
    dict(
        id="amazon.nova-pro-v1:0",
        name="Nova Pro",
        provider="Amazon",
        family="nova",
        key="amazon.nova-pro-v1:0",
        geos=("us", "eu", "apac"),
        in_region=ALL,
        inputs=("TEXT", "IMAGE", "VIDEO"),
    ),
    dict(
        id="amazon.nova-premier-v1:0",
        name="Nova Premier",
        provider="Amazon",
        family="nova",
        key="amazon.nova-premier-v1:0",
        geos=("us",),
    ),
    dict(
        id="amazon.nova-2-lite-v1:0",
        name="Nova 2 Lite",
        provider="Amazon",
        family="nova",
        key="amazon.nova-2-lite-v1:0",
        geos=("us", "eu", "global"),
    ),
    dict(
        id="amazon.titan-embed-text-v2:0",
        name="Titan Text Embeddings V2",
        provider="Amazon",
        family="titan-embed",
        key="amazon.titan-embed-text-v2:0",
        geos=(),
        in_region=ALL,
        outputs=("EMBEDDING",),
    ),
    dict(
        id="amazon.titan-embed-text-v1",
        name="Titan Embeddings G1 - Text",
        provider="Amazon",
        family="titan-embed",
        key="amazon.titan-embed-text-v1",
        geos=(),
        in_region=["us-east-1", "us-west-2", "eu-central-1", "ap-northeast-1"],
        outputs=("EMBEDDING",),
    ),
    dict(
        id="cohere.embed-english-v3",
        name="Embed English",
        provider="Cohere",
        family="cohere-embed",
        key=None,
        geos=(),
        in_region=ALL,
        outputs=("EMBEDDING",),
        fallback={"input": 0.10},
        service="Cohere Embed Model 3 - English (Amazon Bedrock Edition)",
    ),
    dict(
        id="cohere.embed-multilingual-v3",
        name="Embed Multilingual",
        provider="Cohere",
        family="cohere-embed",
        key=None,
        geos=(),
        in_region=ALL,
        outputs=("EMBEDDING",),
        fallback={"input": 0.10},
        service="Cohere Embed Model 3 - Multilingual (Amazon Bedrock Edition)",
    ),
    dict(
        id="cohere.embed-v4:0",
        name="Embed v4",
        provider="Cohere",
        family="cohere-embed",
        key=None,
        geos=("us", "eu", "apac", "global"),
        outputs=("EMBEDDING",),
        fallback={"input": 0.12},
        service="Cohere Embed 4 Model (Amazon Bedrock Edition)",
    ),
]


def _prices(genai_models: dict, key: str | None, variant: str, fallback: dict | None) -> dict[str, float]:
    candidates = [f"{variant}.{key}", key] if key else []
    for cand in candidates:
        model = genai_models.get(cand)
        if model is None:
            continue
        price = model.prices if not isinstance(model.prices, list) else model.prices[0].prices
        out = {}
        for ours, theirs in (
            ("input", "input_mtok"),
            ("output", "output_mtok"),
            ("cache_read", "cache_read_mtok"),
            ("cache_write", "cache_write_mtok"),
        ):
            value = getattr(price, theirs, None)
            if value is None:
                continue
            value = getattr(value, "base", value)
            out[ours] = float(Decimal(value))
        return out
    if fallback is None:
        raise SystemExit(f"no genai-prices entry for {key} ({variant}) and no fallback")
    return dict(fallback)


def main() -> int:
    from genai_prices import data

    aws = next(p for p in data.providers if p.id == "aws")
    genai_models = {m.id: m for m in aws.models}
    models = []
    for spec in MODELS:
        provider = spec.get("provider", "Anthropic")
        geos = list(spec["geos"])
        regions = sorted(set(spec.get("in_region", [])) | {r for g in geos for r in GEOS[g]})
        regional = _prices(genai_models, spec["key"], "regional", spec.get("fallback"))
        global_ = _prices(genai_models, spec["key"], "global", None) if "global" in geos and spec["key"] else regional
        models.append(
            {
                "modelId": spec["id"],
                "modelName": spec["name"],
                "providerName": provider,
                "family": spec.get("family", "anthropic-messages"),
                "inputModalities": list(spec.get("inputs", ("TEXT", "IMAGE") if provider == "Anthropic" else ("TEXT",))),
                "outputModalities": list(spec.get("outputs", ("TEXT",))),
                "responseStreamingSupported": "EMBEDDING" not in spec.get("outputs", ()),
                "inRegion": sorted(spec.get("in_region", [])),
                "regions": regions,
                "geoProfiles": geos,
                "billingService": spec.get("service")
                or (f"{spec['name']} (Amazon Bedrock Edition)" if provider != "Amazon" else "Amazon Bedrock"),
                "prices": {"regional": regional, "global": global_},
            }
        )
    catalog = {
        "generated": dt.date.today().isoformat(),
        "source": f"genai-prices {version('genai-prices')} (provider aws) + curated Bedrock ids",
        "geos": GEOS,
        "models": models,
    }
    OUT.write_text(json.dumps(catalog, indent=1) + "\n")
    print(f"wrote {OUT} ({len(models)} models); now run scripts/build_prices.py for aipctl's price book")
    return 0


if __name__ == "__main__":
    sys.exit(main())
