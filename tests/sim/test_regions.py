"""Every Region Bedrock serves has models and profiles (issue 12.8), with the geography prefixes AWS uses.

The Region list is botocore's own endpoint data, so a Region AWS adds to botocore fails here until
the catalog knows it.
"""

from __future__ import annotations

import boto3
import pytest

MESSAGES = [{"role": "user", "content": [{"text": "Which Region answers this?"}]}]
BEDROCK_REGIONS = [
    *boto3.session.Session().get_available_regions("bedrock"),
    *boto3.session.Session().get_available_regions("bedrock", partition_name="aws-us-gov"),
]
#: Expected geographies of a few Regions (AWS CDK's CrossRegionInferenceProfileRegion; "global" everywhere commercial).
GEOS = {
    "ca-central-1": {"ca", "global"},
    "sa-east-1": {"global"},
    "ap-southeast-4": {"apac", "au", "global"},
    "ap-northeast-3": {"apac", "jp", "global"},
    "eu-south-2": {"eu", "global"},
    "us-west-1": {"us", "global"},
    "me-central-1": {"apac", "global"},
    "us-gov-west-1": {"us-gov"},
}


def test_botocore_knows_both_partitions() -> None:
    assert len(BEDROCK_REGIONS) >= 30 and "us-gov-west-1" in BEDROCK_REGIONS and "sa-east-1" in BEDROCK_REGIONS


@pytest.mark.parametrize("region", BEDROCK_REGIONS)
def test_each_region_has_models_profiles_and_answers(session, emulator: str, region: str) -> None:
    bedrock = session.client("bedrock", region_name=region, endpoint_url=emulator)
    runtime = session.client("bedrock-runtime", region_name=region, endpoint_url=emulator)
    models = bedrock.list_foundation_models()["modelSummaries"]
    profiles = bedrock.list_inference_profiles()["inferenceProfileSummaries"]
    assert models and profiles, region
    partition = "aws-us-gov" if region.startswith("us-gov-") else "aws"
    assert all(m["modelArn"].startswith(f"arn:{partition}:bedrock:{region}::foundation-model/") for m in models)
    geos = {p["inferenceProfileId"].split(".")[0] for p in profiles}
    if region in GEOS:
        assert geos == GEOS[region], region
    else:
        assert "global" in geos or partition != "aws", region
    profile = next(p for p in profiles if "claude" in p["inferenceProfileId"])
    assert all(m["modelArn"].split(":")[1] == partition for m in profile["models"])
    aip = bedrock.create_inference_profile(
        inferenceProfileName=f"probe-{region}", modelSource={"copyFrom": profile["inferenceProfileArn"]}
    )["inferenceProfileArn"]
    assert aip.startswith(f"arn:{partition}:bedrock:{region}:")
    assert runtime.converse(modelId=aip, messages=MESSAGES)["usage"]["outputTokens"] > 0


def test_usage_types_carry_the_region_billing_code(session, emulator: str, sim) -> None:
    """Region billing codes: docs.aws.amazon.com/global-infrastructure/latest/regions/aws-region-billing-codes.html"""
    for region in ("ca-central-1", "sa-east-1", "ap-southeast-4"):
        runtime = session.client("bedrock-runtime", region_name=region, endpoint_url=emulator)
        runtime.converse(modelId="global.anthropic.claude-sonnet-4-6", messages=MESSAGES)
    sim.advance(25 * 3600)
    import datetime as dt

    today = dt.datetime.fromisoformat(sim.clock()["now"]).date()
    ce = session.client("ce", region_name="us-east-1", endpoint_url=emulator)
    answer = ce.get_cost_and_usage(
        TimePeriod={"Start": str(today - dt.timedelta(days=3)), "End": str(today + dt.timedelta(days=1))},
        Granularity="MONTHLY",
        Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    )
    usage_types = {g["Keys"][0] for period in answer["ResultsByTime"] for g in period["Groups"]}
    assert {u.split("-", 1)[0] for u in usage_types} == {"CAN1", "SAE1", "APS6"}, usage_types
