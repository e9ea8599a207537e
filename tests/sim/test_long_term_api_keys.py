"""Long-term Bedrock API keys: IAM service-specific credentials made with boto3's IAM client, used as bearer
tokens with the OpenAI SDK; they are their IAM user's, refused when inactive or deleted, and the anti-bypass
statements (bearer type LONG_TERM, creating Bedrock keys) hold against them."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from botocore.exceptions import ClientError

from aipctl_sim import telemetry
from tests.conftest import REGION

MODEL = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"


@pytest.fixture
def iam(session: Any, emulator: str) -> Any:
    client = session.client("iam", endpoint_url=emulator)
    client.create_user(UserName="notebook")
    return client


def _chat(emulator: str, key: str, **headers: str) -> Any:
    client = openai.OpenAI(base_url=f"{emulator}/openai/v1", api_key=key, max_retries=0, default_headers=headers)
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])


def test_a_long_term_key_is_its_users_until_it_is_disabled(iam: Any, emulator: str) -> None:
    made = iam.create_service_specific_credential(UserName="notebook", ServiceName="bedrock.amazonaws.com", CredentialAgeDays=30)
    credential = made["ServiceSpecificCredential"]
    key = credential["ServiceCredentialSecret"]
    assert key.startswith("ABSK") and credential["Status"] == "Active" and credential["ServiceCredentialAlias"]
    assert _chat(emulator, key, **{"X-Aipctl-Sim-Region": REGION}).usage.completion_tokens > 0
    (principal,) = telemetry.store().query("SELECT principal_arn FROM calls ORDER BY ts DESC LIMIT 1")[0:1]
    assert principal[0] == "arn:aws:iam::123456789012:user/notebook", "billed to its IAM user"
    listed = iam.list_service_specific_credentials(UserName="notebook")["ServiceSpecificCredentials"]
    assert [c["ServiceSpecificCredentialId"] for c in listed] == [credential["ServiceSpecificCredentialId"]]
    assert "ServiceCredentialSecret" not in listed[0], "the secret is shown once"
    iam.update_service_specific_credential(
        UserName="notebook", ServiceSpecificCredentialId=credential["ServiceSpecificCredentialId"], Status="Inactive"
    )
    with pytest.raises(openai.PermissionDeniedError):
        _chat(emulator, key, **{"X-Aipctl-Sim-Region": REGION})
    iam.create_service_specific_credential(UserName="notebook", ServiceName="bedrock.amazonaws.com")
    with pytest.raises(ClientError) as limit:
        iam.create_service_specific_credential(UserName="notebook", ServiceName="bedrock.amazonaws.com")
    assert limit.value.response["Error"]["Code"] == "LimitExceeded"
    with pytest.raises(ClientError) as missing:
        iam.create_service_specific_credential(UserName="nobody", ServiceName="bedrock.amazonaws.com")
    assert missing.value.response["Error"]["Code"] == "NoSuchEntity"
    iam.delete_service_specific_credential(
        UserName="notebook", ServiceSpecificCredentialId=credential["ServiceSpecificCredentialId"]
    )
    assert len(iam.list_service_specific_credentials(UserName="notebook")["ServiceSpecificCredentials"]) == 1


def test_anti_bypass_statements_hold_against_long_term_keys(iam: Any, emulator: str) -> None:
    from aipctl.guard.iam import other_route_statements

    key = iam.create_service_specific_credential(UserName="notebook", ServiceName="bedrock.amazonaws.com")[
        "ServiceSpecificCredential"
    ]["ServiceCredentialSecret"]
    policy = {"Version": "2012-10-17", "Statement": other_route_statements()}
    iam.put_user_policy(UserName="notebook", PolicyName="aipctl-aip-only-notebook", PolicyDocument=json.dumps(policy))
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _chat(emulator, key, **{"X-Aipctl-Sim-Region": REGION})
    assert "bedrock:CallWithBearerToken" in str(refused.value)
    keys = iam.create_access_key(UserName="notebook")["AccessKey"]
    import boto3

    as_user = boto3.Session(
        aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"], region_name=REGION
    ).client("iam", endpoint_url=emulator)
    with pytest.raises(ClientError) as denied:
        as_user.create_service_specific_credential(UserName="notebook", ServiceName="bedrock.amazonaws.com")
    assert denied.value.response["Error"]["Code"] == "AccessDenied" and "DenyCreatingBedrockApiKeys" in str(denied.value)
