"""The report on both planes (issue 13.6): per caller and per tenant, the bypasser priced by principal,
and the untagged remainder split into "known principal, no AIP" and "unknown principal".

Everything goes through real boto3 clients against the emulator; the figures compared come from
Cost Explorer answers the test reads itself.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aipctl.inventory import load_inventory
from aipctl.sessions import TenantSessions

INVENTORY = """\
name: saas
region: eu-central-1
models:
  sonnet: eu.anthropic.claude-sonnet-4-6
callers:
  gateway:
    owner: saas-team
    environment: production
    models: [sonnet]
    identities: ["arn:aws:iam::*:role/gateway"]
    tenants:
      acme: {Plan: gold}
      globex:
      initech:
  chat:
    owner: chat-team
    environment: production
    models: [sonnet]
    identities: ["arn:aws:iam::*:role/chat-task"]
  sidecar:
    owner: ops
    environment: production
    attribution: principal
    models: [sonnet]
    identities: ["arn:aws:iam::*:role/sidecar"]
  legacy:
    owner: data-team
    environment: production
    models: [sonnet]
    identities: ["arn:aws:iam::*:role/legacy-job"]
"""
MESSAGES = [{"role": "user", "content": [{"text": "What does our SaaS cost per tenant?"}]}]
SONNET = "eu.anthropic.claude-sonnet-4-6"


def _role_session(session: Any, emulator: str, role: str) -> Any:
    import boto3

    arn = session.client("iam", endpoint_url=emulator).get_role(RoleName=role)["Role"]["Arn"]
    creds = session.client("sts", endpoint_url=emulator).assume_role(RoleArn=arn, RoleSessionName=role)["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="eu-central-1",
    )


def _aips(session: Any, emulator: str) -> dict[str, str]:
    """AIP name -> ARN, as ListInferenceProfiles answers."""
    summaries = session.client("bedrock", endpoint_url=emulator).list_inference_profiles(typeEquals="APPLICATION")
    return {p["inferenceProfileName"]: p["inferenceProfileArn"] for p in summaries["inferenceProfileSummaries"]}


def _converse(client_session: Any, emulator: str, model: str, times: int) -> None:
    runtime = client_session.client("bedrock-runtime", endpoint_url=emulator)
    for i in range(times):
        runtime.converse(modelId=model, messages=MESSAGES, inferenceConfig={"maxTokens": 30 + i})


def test_report_rows_per_caller_and_tenant_and_the_untagged_split(
    cli, sim, session, emulator: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = session.client("iam", endpoint_url=emulator)
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    for role in ("gateway", "chat-task", "sidecar", "legacy-job", "stranger"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    tenants = TenantSessions(load_inventory(workdir / "aipctl.yaml"), session=session, endpoint_url=emulator)
    # The tenant tag is a session tag: Billing knows the key once a session carried it, and only then can
    # it be activated (not retroactively). So the gateway's sessions exist before apply activates the keys.
    acme_session, globex_session = tenants.session("gateway", "acme"), tenants.session("gateway", "globex")
    applied = cli("apply", "--yes", "--json")
    assert applied.code == 0, applied.err
    assert "iamPrincipal/Tenant" in applied.json["result"]["cost_tags"]["activated"]
    aips = _aips(session, emulator)
    assert sorted(aips) == ["chat-sonnet", "gateway-sonnet", "legacy-sonnet"], "a principal-only caller gets no AIP"

    _converse(acme_session, emulator, aips["gateway-sonnet"], 4)
    _converse(globex_session, emulator, aips["gateway-sonnet"], 2)
    _converse(_role_session(session, emulator, "chat-task"), emulator, aips["chat-sonnet"], 3)
    _converse(_role_session(session, emulator, "sidecar"), emulator, SONNET, 2)
    _converse(_role_session(session, emulator, "legacy-job"), emulator, SONNET, 2)  # a bypasser: its AIP unused
    _converse(_role_session(session, emulator, "stranger"), emulator, SONNET, 1)  # nobody's
    sim.advance(2 * 86400)  # past Cost Explorer's lag

    trace = workdir / "calls.trace"
    monkeypatch.setenv("AIPCTL_TRACE_CALLS", str(trace))
    report = cli("report", "--since", "3d", "--json")
    monkeypatch.delenv("AIPCTL_TRACE_CALLS")
    assert report.code == 0, report.err
    # one query serves both planes (by principal x AIP tag), one the tenants: no separate AIP-plane query
    assert trace.read_text().splitlines().count("ce GetCostAndUsage") == 2
    body = report.json
    rows = {(r["caller"], r["tenant"]): r for r in body["callers"]}
    assert set(rows) == {
        ("gateway", None),
        ("gateway", "acme"),
        ("gateway", "globex"),
        ("gateway", "initech"),
        ("chat", None),
        ("sidecar", None),
        ("legacy", None),
    }
    order = [(r["caller"], r["tenant"]) for r in body["callers"]]
    assert order.index(("gateway", "acme")) == order.index(("gateway", None)) + 1, "tenants follow their caller"

    ce = session.client("ce", endpoint_url=emulator)
    days = body["period"]

    def by_tags(*keys: str) -> dict[tuple[str, ...], Decimal]:
        answer = ce.get_cost_and_usage(
            TimePeriod={"Start": days["start"], "End": days["end"]},
            Granularity="MONTHLY",
            Metrics=["UnblendedCost"],
            GroupBy=[{"Type": "TAG", "Key": k} for k in keys],
        )
        out: dict[tuple[str, ...], Decimal] = {}
        for period in answer["ResultsByTime"]:
            for group in period["Groups"]:
                key = tuple(k.split("$", 1)[1] for k in group["Keys"])
                out[key] = out.get(key, Decimal(0)) + Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
        return out

    tenant_bill = by_tags("iamPrincipal/Application", "iamPrincipal/Tenant")
    acme, globex = rows[("gateway", "acme")], rows[("gateway", "globex")]
    assert acme["billed_usd"] == round(float(tenant_bill[("gateway", "acme")]), 6) > 0
    assert globex["billed_usd"] == round(float(tenant_bill[("gateway", "globex")]), 6) > 0
    assert acme["billed_usd"] > globex["billed_usd"], "4 calls cost more than 2"
    assert rows[("gateway", "initech")]["billed_usd"] == 0.0, "a declared tenant without calls has a row, at zero"
    gateway = rows[("gateway", None)]
    assert gateway["billed_usd"] == gateway["aip_billed_usd"] == gateway["principal_billed_usd"]
    assert abs(gateway["billed_usd"] - acme["billed_usd"] - globex["billed_usd"]) < 1e-6, "tenants add up to their caller"

    planes = by_tags("iamPrincipal/Application", "Application")
    sidecar, legacy, chat = rows[("sidecar", None)], rows[("legacy", None)], rows[("chat", None)]
    assert sidecar["attribution"] == "principal" and sidecar["aip_billed_usd"] == 0.0
    assert sidecar["billed_usd"] == round(float(planes[("sidecar", "")]), 6) > 0, "billed by principal: no AIP needed"
    assert legacy["aip_billed_usd"] == 0.0 and legacy["outside_aips_usd"] == round(float(planes[("legacy", "")]), 6) > 0
    assert chat["outside_aips_usd"] == 0.0 and chat["billed_usd"] == chat["principal_billed_usd"] > 0

    aip_plane = by_tags("Application")  # the query the report no longer sends: the planes' grouping, summed, is it
    for caller in ("gateway", "chat", "legacy", "sidecar"):
        assert rows[(caller, None)]["aip_billed_usd"] == round(float(aip_plane.get((caller,), Decimal(0))), 6)
    assert body["untagged_usd"] == round(float(aip_plane[("",)]), 6) > 0

    split = body["untagged_split"]
    assert split["known_principal_no_aip_usd"] == {"legacy": legacy["outside_aips_usd"]}, "the bypasser, priced"
    assert split["unknown_principal_usd"] == round(float(planes[("", "")]), 6) > 0, "the stranger"
    assert abs(body["untagged_usd"] - split["unknown_principal_usd"] - legacy["outside_aips_usd"] - sidecar["billed_usd"]) < 1e-6

    text = cli("report", "--since", "3d")
    assert text.code == 0, text.err
    assert "└ tenant acme" in text.out and "by principal" in text.out
    assert "by the callers' own principals outside their AIPs (legacy" in text.err


def test_verify_reports_coverage_per_identity_and_per_tenant(cli, sim, session, emulator: str, workdir: Path) -> None:
    sim.set_settings(cloudtrail_lookup_rps=0)
    iam = session.client("iam", endpoint_url=emulator)
    for role in ("gateway", "sidecar"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    assert cli("apply", "--yes").code == 0
    aip = _aips(session, emulator)["gateway-sonnet"]
    tenants = TenantSessions(load_inventory(workdir / "aipctl.yaml"), session=session, endpoint_url=emulator)
    _converse(tenants.session("gateway", "acme"), emulator, aip, 2)
    _converse(tenants.session("gateway", "globex"), emulator, SONNET, 1)  # this tenant's code skips the AIP
    _converse(_role_session(session, emulator, "sidecar"), emulator, SONNET, 1)

    result = cli("verify", "--since", "1d", "--json")
    assert result.code == 1, "the gateway is below full coverage"
    rows = {r["caller"]: r for r in result.json["callers"]}
    gateway = rows["gateway"]
    assert gateway["aip_calls"] == 2 and gateway["bypass_calls"] == 1
    assert gateway["identities"] == [
        {"identity": "arn:aws:iam::123456789012:role/gateway", "aip_calls": 2, "bypass_calls": 1, "coverage": 0.6667}
    ]
    assert {t["tenant"]: t["coverage"] for t in gateway["tenants"]} == {"acme": 1.0, "globex": 0.0}
    sidecar = rows["sidecar"]
    assert sidecar["verdict"] == "ok (billed by principal)" and sidecar["coverage"] == 1.0 and sidecar["principal_calls"] == 1


def test_one_tenant_of_a_shared_role_is_braked_and_the_others_keep_working(cli, session, emulator: str, workdir: Path) -> None:
    from botocore.exceptions import ClientError

    iam = session.client("iam", endpoint_url=emulator)
    iam.create_role(RoleName="gateway", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    assert cli("apply", "--yes").code == 0
    attached = cli("iam", "render", "--caller", "gateway", "--attach", "--yes")
    assert attached.code == 0, attached.err
    aip = _aips(session, emulator)["gateway-sonnet"]
    tenants = TenantSessions(load_inventory(workdir / "aipctl.yaml"), session=session, endpoint_url=emulator)
    acme = tenants.session("gateway", "acme").client("bedrock-runtime", endpoint_url=emulator)
    globex = tenants.session("gateway", "globex").client("bedrock-runtime", endpoint_url=emulator)

    braked = cli("brake", "gateway", "--tenant", "acme", "--json")
    assert braked.code == 0, braked.err
    assert braked.json["tenant"] == "acme" and braked.json["action"] == "braked" and braked.json["uncovered"] == []
    with pytest.raises(ClientError) as refused:
        acme.converse(modelId=aip, messages=MESSAGES)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException" and "DenyBrakedTenants" in str(refused.value)
    assert globex.converse(modelId=aip, messages=MESSAGES)["usage"]["outputTokens"] > 0, "the other tenants keep working"
    assert cli("brake", "gateway", "--tenant", "globex", "--json").json["action"] == "braked"
    tags = {
        t["key"]: t["value"]
        for t in session.client("bedrock", endpoint_url=emulator).list_tags_for_resource(resourceARN=aip)["tags"]
    }
    assert tags["aipctl:braked-tenants"] == " acme globex "
    assert [c for c in cli("plan", "--json").json["changes"] if c["action"] == "retag"] == []

    assert cli("release", "gateway", "--tenant", "acme").code == 0
    assert acme.converse(modelId=aip, messages=MESSAGES)["usage"]["outputTokens"] > 0
    with pytest.raises(ClientError):
        globex.converse(modelId=aip, messages=MESSAGES)
    assert cli("brake", "gateway", "--tenant", "nobody").code == 2
