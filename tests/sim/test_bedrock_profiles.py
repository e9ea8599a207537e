"""The emulated inference-profile API, through unmodified boto3 clients over HTTP."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, HAIKU_PROFILE, REGION, SONNET_PROFILE, TITAN_MODEL


def _create(bedrock, name: str = "chat-sonnet", source: str = SONNET_PROFILE, **extra):
    return bedrock.create_inference_profile(inferenceProfileName=name, modelSource={"copyFrom": source}, **extra)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_create_get_list_delete_roundtrip(bedrock) -> None:
    created = _create(bedrock, tags=[{"key": "Application", "value": "chat"}], description="chat sonnet")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["status"] == "ACTIVE"
    arn = created["inferenceProfileArn"]
    assert arn.startswith(f"arn:aws:bedrock:{REGION}:{ACCOUNT}:application-inference-profile/")
    profile_id = arn.rsplit("/", 1)[1]
    for identifier in (arn, profile_id):
        got = bedrock.get_inference_profile(inferenceProfileIdentifier=identifier)
        assert got["type"] == "APPLICATION"
        assert got["inferenceProfileName"] == "chat-sonnet"
        assert got["description"] == "chat sonnet"
        assert {m["modelArn"] for m in got["models"]} >= {
            f"arn:aws:bedrock:{REGION}::foundation-model/anthropic.claude-sonnet-4-6"
        }
        assert "modelSource" not in got
    listed = bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    assert [p["inferenceProfileArn"] for p in listed] == [arn]
    bedrock.delete_inference_profile(inferenceProfileIdentifier=arn)
    with pytest.raises(ClientError) as exc:
        bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
    assert _code(exc) == "ResourceNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_copy_from_foundation_model_routes_to_that_model_only(bedrock) -> None:
    arn = _create(bedrock, "batch-embed", TITAN_MODEL)["inferenceProfileArn"]
    got = bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
    assert [m["modelArn"] for m in got["models"]] == [TITAN_MODEL]


def test_list_without_type_shows_system_profiles(bedrock) -> None:
    _create(bedrock)
    summaries = bedrock.list_inference_profiles()["inferenceProfileSummaries"]
    assert summaries and all(p["type"] == "SYSTEM_DEFINED" for p in summaries)
    ids = {p["inferenceProfileId"] for p in summaries}
    assert {"eu.anthropic.claude-sonnet-4-6", "global.anthropic.claude-sonnet-4-6", "eu.amazon.nova-pro-v1:0"} <= ids
    assert not any(i.startswith("us.") for i in ids), "us. profiles are not offered in eu-central-1"


def test_catalog_covers_required_regions_and_families(session, emulator) -> None:
    for region in ("us-east-1", "us-west-2", "eu-central-1", "eu-west-1"):
        client = session.client("bedrock", region_name=region, endpoint_url=emulator)
        models = {m["modelId"]: m for m in client.list_foundation_models()["modelSummaries"]}
        assert "amazon.titan-embed-text-v2:0" in models
        assert "cohere.embed-english-v3" in models
        assert "amazon.nova-lite-v1:0" in models
        assert "anthropic.claude-sonnet-4-6" in models
        assert models["amazon.titan-embed-text-v2:0"]["outputModalities"] == ["EMBEDDING"]
        ids = {p["inferenceProfileId"] for p in client.list_inference_profiles()["inferenceProfileSummaries"]}
        geo = "us" if region.startswith("us") else "eu"
        assert f"{geo}.anthropic.claude-haiku-4-5-20251001-v1:0" in ids
        assert "global.anthropic.claude-sonnet-4-6" in ids


def test_pagination_with_max_results_and_next_token(bedrock) -> None:
    arns = [_create(bedrock, f"p{i:02d}")["inferenceProfileArn"] for i in range(7)]
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"typeEquals": "APPLICATION", "maxResults": 3, **({"nextToken": token} if token else {})}
        page = bedrock.list_inference_profiles(**kwargs)
        seen += [p["inferenceProfileArn"] for p in page["inferenceProfileSummaries"]]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert pages == 3
    assert seen == arns
    with pytest.raises(ClientError) as exc:
        bedrock.list_inference_profiles(typeEquals="APPLICATION", nextToken="garbage")
    assert _code(exc) == "ValidationException"


def test_duplicate_name_is_a_conflict(bedrock) -> None:
    _create(bedrock)
    with pytest.raises(ClientError) as exc:
        _create(bedrock, source=HAIKU_PROFILE)
    assert _code(exc) == "ConflictException"


def test_client_request_token_makes_create_idempotent(bedrock) -> None:
    first = _create(bedrock, clientRequestToken="token-1")["inferenceProfileArn"]
    again = _create(bedrock, clientRequestToken="token-1")["inferenceProfileArn"]
    assert first == again
    assert len(bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]) == 1
    with pytest.raises(ClientError) as exc:
        _create(bedrock, source=HAIKU_PROFILE, clientRequestToken="token-1")
    assert _code(exc) == "ConflictException"


@pytest.mark.parametrize(
    "name,source,fragment",
    [
        ("-leading", SONNET_PROFILE, "regular expression pattern"),
        ("double--dash", SONNET_PROFILE, "regular expression pattern"),
        ("x" * 65, SONNET_PROFILE, "length less than or equal to 64"),
        ("ok", f"arn:aws:bedrock:{REGION}:{ACCOUNT}:application-inference-profile/abcdefabcdef", "regular expression pattern"),
        ("ok", "eu.anthropic.claude-sonnet-4-6", "regular expression pattern"),
    ],
)
def test_constraints_are_enforced_like_aws(bedrock, name: str, source: str, fragment: str) -> None:
    with pytest.raises(ClientError) as exc:
        _create(bedrock, name, source)
    assert _code(exc) == "ValidationException"
    assert fragment in exc.value.response["Error"]["Message"]


def test_unknown_or_foreign_model_source(bedrock) -> None:
    with pytest.raises(ClientError) as exc:
        _create(bedrock, source=f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/eu.anthropic.nope")
    assert _code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        _create(bedrock, source="arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0")
    assert _code(exc) == "ValidationException"


def test_tags_add_replace_remove_and_limits(bedrock) -> None:
    arn = _create(bedrock, tags=[{"key": "A", "value": "1"}])["inferenceProfileArn"]
    bedrock.tag_resource(resourceARN=arn, tags=[{"key": "A", "value": "2"}, {"key": "B", "value": "x"}])
    bedrock.untag_resource(resourceARN=arn, tagKeys=["B"])
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "A", "value": "2"}]
    with pytest.raises(ClientError) as exc:
        bedrock.tag_resource(resourceARN=arn, tags=[{"key": f"K{i}", "value": "v"} for i in range(50)])
    assert _code(exc) == "TooManyTagsException"
    with pytest.raises(ClientError) as exc:
        bedrock.tag_resource(resourceARN=arn, tags=[{"key": "aws:reserved", "value": "v"}])
    assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        bedrock.list_tags_for_resource(resourceARN=arn.rsplit("/", 1)[0] + "/" + "0" * 12)
    assert _code(exc) == "ResourceNotFoundException"


def test_quota_is_enforced_and_configurable(bedrock, sim) -> None:
    sim.set_quotas({"application-inference-profiles": 2})
    _create(bedrock, "a")
    _create(bedrock, "b")
    with pytest.raises(ClientError) as exc:
        _create(bedrock, "c")
    assert _code(exc) == "ServiceQuotaExceededException"


def test_get_system_profile_and_foundation_model(bedrock) -> None:
    got = bedrock.get_inference_profile(inferenceProfileIdentifier="eu.anthropic.claude-sonnet-4-6")
    assert got["type"] == "SYSTEM_DEFINED"
    assert got["inferenceProfileArn"] == SONNET_PROFILE
    model = bedrock.get_foundation_model(modelIdentifier="amazon.nova-pro-v1:0")["modelDetails"]
    assert model["providerName"] == "Amazon"
    with pytest.raises(ClientError) as exc:
        bedrock.get_foundation_model(modelIdentifier="amazon.nova-ultra-v9:0")
    assert _code(exc) == "ResourceNotFoundException"


def test_tagging_api_returns_aips_with_tags_in_pages(session, emulator, bedrock) -> None:
    arns = sorted(_create(bedrock, f"t{i}", tags=[{"key": "App", "value": str(i)}])["inferenceProfileArn"] for i in range(5))
    _create(bedrock, "untagged")
    tagging = session.client("resourcegroupstaggingapi", endpoint_url=emulator)
    seen, token = {}, ""
    while True:
        page = tagging.get_resources(
            ResourceTypeFilters=["bedrock:application-inference-profile"], ResourcesPerPage=2, PaginationToken=token
        )
        seen.update({m["ResourceARN"]: m["Tags"] for m in page["ResourceTagMappingList"]})
        token = page["PaginationToken"]
        if not token:
            break
    assert sorted(seen) == arns, "untagged resources are not in the tag index"
    filtered = tagging.get_resources(
        ResourceTypeFilters=["bedrock:application-inference-profile"], TagFilters=[{"Key": "App", "Values": ["3"]}]
    )["ResourceTagMappingList"]
    assert [m["Tags"] for m in filtered] == [[{"Key": "App", "Value": "3"}]]


def test_tagging_api_answers_an_arn_list_in_one_page_and_refuses_it_with_filters(session, emulator, bedrock) -> None:
    arns = [_create(bedrock, f"a{i}", tags=[{"key": "App", "value": str(i)}])["inferenceProfileArn"] for i in range(3)]
    untagged = _create(bedrock, "bare")["inferenceProfileArn"]
    tagging = session.client("resourcegroupstaggingapi", endpoint_url=emulator)
    page = tagging.get_resources(ResourceARNList=[*arns, untagged, arns[0].replace("a0", "gone")])
    assert sorted(m["ResourceARN"] for m in page["ResourceTagMappingList"]) == sorted(arns)  # no error for the unknown
    assert not page.get("PaginationToken")
    for clash in ({"ResourcesPerPage": 2}, {"ResourceTypeFilters": ["bedrock:application-inference-profile"]}):
        with pytest.raises(ClientError) as exc:
            tagging.get_resources(ResourceARNList=arns, **clash)
        assert _code(exc) == "InvalidParameterException"
