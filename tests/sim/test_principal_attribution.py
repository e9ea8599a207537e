"""The principal plane in the emulator (issue 13.5): STS session tags and source identity survive
AssumeRole, reach CloudTrail and the bill, where Cost Explorer groups by ``iamPrincipal/<key>``.

1,000 tenants behind one gateway role are told apart by their session tag and each is priced;
expected figures are computed here from each call's usage and the catalog's prices."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROOT

PRICES = {m["modelId"]: m["prices"] for m in json.loads(Path(ROOT / "src/aipctl_sim/bedrock/catalog.json").read_text())["models"]}
SONNET = "anthropic.claude-sonnet-4-6"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})


def _cost(usage: dict[str, int]) -> Decimal:
    price = PRICES[SONNET]["regional"]
    total = Decimal(str(price["input"])) * usage["inputTokens"] + Decimal(str(price["output"])) * usage["outputTokens"]
    return total / Decimal(1_000_000)


_SHARED = boto3.Session(region_name="eu-central-1")  # one session: its clients load the service model once


def _tenant_client(sts: Any, service: str, endpoint: str, tenant: str, **extra: Any) -> Any:
    creds = sts.assume_role(
        RoleArn="arn:aws:iam::123456789012:role/gateway",
        RoleSessionName=tenant,
        Tags=[{"Key": "Tenant", "Value": tenant}],
        SourceIdentity=tenant,
        **extra,
    )["Credentials"]
    return _SHARED.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def test_a_thousand_tenants_behind_one_role_are_each_priced(session, emulator, sim) -> None:
    iam, sts = session.client("iam", endpoint_url=emulator), session.client("sts", endpoint_url=emulator)
    iam.create_role(RoleName="gateway", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "Application", "Value": "gateway"}])
    ce = session.client("ce", region_name="us-east-1", endpoint_url=emulator)
    expected: dict[str, Decimal] = {}
    first = _tenant_client(sts, "bedrock-runtime", emulator, "t0000")
    keys = {t["TagKey"] for t in ce.list_cost_allocation_tags()["CostAllocationTags"]}
    assert {"iamPrincipal/Tenant", "iamPrincipal/Application"} <= keys, "principal tag keys are known to Billing"
    ce.update_cost_allocation_tags_status(
        CostAllocationTagsStatus=[{"TagKey": k, "Status": "Active"} for k in ("iamPrincipal/Tenant", "iamPrincipal/Application")]
    )
    for i in range(1000):
        tenant = f"t{i:04d}"
        runtime = first if i == 0 else _tenant_client(sts, "bedrock-runtime", emulator, tenant)
        usage = runtime.converse(
            modelId="eu.anthropic.claude-sonnet-4-6",
            messages=[{"role": "user", "content": [{"text": f"Spend of {tenant}?"}]}],
            inferenceConfig={"maxTokens": 20 + i % 50},
        )["usage"]
        expected[tenant] = _cost(usage)
    sim.advance(25 * 3600)
    today = dt.datetime.fromisoformat(sim.clock()["now"]).date()
    query: dict[str, Any] = {
        "TimePeriod": {"Start": str(today - dt.timedelta(days=3)), "End": str(today + dt.timedelta(days=1))},
        "Granularity": "MONTHLY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "TAG", "Key": "iamPrincipal/Tenant"}],
    }
    billed: dict[str, Decimal] = {}
    while True:
        page = ce.get_cost_and_usage(**query)
        for period in page["ResultsByTime"]:
            for group in period["Groups"]:
                key = group["Keys"][0].split("$", 1)[1]
                billed[key] = billed.get(key, Decimal(0)) + Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
        if not page.get("NextPageToken"):
            break
        query["NextPageToken"] = page["NextPageToken"]
    assert len(billed) == 1000 and "" not in billed, "every call carries its tenant"
    for tenant, cost in expected.items():
        assert abs(billed[tenant] - cost) < Decimal("1e-9"), tenant
    by_app = ce.get_cost_and_usage(**{**query, "GroupBy": [{"Type": "TAG", "Key": "iamPrincipal/Application"}]})
    groups = {g["Keys"][0]: g for p in by_app["ResultsByTime"] for g in p["Groups"]}
    assert set(groups) == {"iamPrincipal/Application$gateway"}, "the role's own tag reaches every session"


def test_source_identity_and_tags_in_cloudtrail(session, emulator) -> None:
    iam, sts = session.client("iam", endpoint_url=emulator), session.client("sts", endpoint_url=emulator)
    iam.create_role(RoleName="gateway", AssumeRolePolicyDocument=TRUST)
    runtime = _tenant_client(sts, "bedrock-runtime", emulator, "acme")
    runtime.converse(modelId="eu.anthropic.claude-sonnet-4-6", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    trail = session.client("cloudtrail", endpoint_url=emulator)
    converse = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Converse"}])["Events"]
    identity = json.loads(converse[0]["CloudTrailEvent"])["userIdentity"]
    assert identity["sessionContext"]["sourceIdentity"] == "acme"
    assumed = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AssumeRole"}])["Events"]
    assert assumed, "AssumeRole is logged"


def test_role_chaining_keeps_transitive_tags_and_source_identity(session, emulator) -> None:
    iam, sts = session.client("iam", endpoint_url=emulator), session.client("sts", endpoint_url=emulator)
    iam.create_role(RoleName="gateway", AssumeRolePolicyDocument=TRUST)
    iam.create_role(RoleName="worker", AssumeRolePolicyDocument=TRUST)
    parent = _tenant_client(sts, "sts", emulator, "acme", TransitiveTagKeys=["Tenant"])
    assert parent.get_caller_identity()["Arn"] == "arn:aws:sts::123456789012:assumed-role/gateway/acme"
    chained = parent.assume_role(RoleArn="arn:aws:iam::123456789012:role/worker", RoleSessionName="step-2")
    assert chained["SourceIdentity"] == "acme", "a source identity is fixed once set"
    creds = chained["Credentials"]
    worker = _SHARED.client(
        "bedrock-runtime",
        endpoint_url=emulator,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    worker.converse(modelId="eu.anthropic.claude-sonnet-4-6", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    from aipctl_sim import telemetry

    ce = session.client("ce", region_name="us-east-1", endpoint_url=emulator)
    assert "iamPrincipal/Tenant" in {t["TagKey"] for t in ce.list_cost_allocation_tags()["CostAllocationTags"]}
    rows = telemetry.store().query("SELECT principal_arn, source_identity, principal_tags FROM calls")
    assert rows == [("arn:aws:sts::123456789012:assumed-role/worker/step-2", "acme", '{"Tenant": "acme"}')]


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ([{"Key": f"k{i}", "Value": "v"} for i in range(51)], "less than or equal to 50"),
        ([{"Key": "Tenant", "Value": "a"}, {"Key": "tenant", "Value": "b"}], "Duplicate tag keys found"),
    ],
)
def test_session_tags_are_validated_as_sts_does(session, emulator, tags: list[dict[str, str]], message: str) -> None:
    session.client("iam", endpoint_url=emulator).create_role(RoleName="gateway", AssumeRolePolicyDocument=TRUST)
    with pytest.raises(ClientError) as exc:
        session.client("sts", endpoint_url=emulator).assume_role(
            RoleArn="arn:aws:iam::123456789012:role/gateway", RoleSessionName="probe", Tags=tags
        )
    assert exc.value.response["Error"]["Code"] == "ValidationError" and message in exc.value.response["Error"]["Message"]
