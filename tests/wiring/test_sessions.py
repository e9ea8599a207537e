"""Per-tenant role sessions with session tags (issue 13.3): one AssumeRole per tenant per credential
lifetime, cached, refreshed, thread-safe; each call billed to the tenant's session."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest

from aipctl import UnknownCaller
from aipctl.inventory import parse_inventory
from aipctl.sessions import TenantSessions, tenant_tags

TENANTS = "\n".join(f"      t{i:03d}:" for i in range(100))
INVENTORY = f"""\
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
    tags: {{CostCenter: "4711"}}
    tenants:
      acme: {{Plan: gold}}
{TENANTS}
"""


@pytest.fixture
def sessions(session, emulator: str) -> TenantSessions:
    session.client("iam", endpoint_url=emulator).create_role(
        RoleName="gateway", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )
    return TenantSessions(parse_inventory(INVENTORY, "saas.yaml"), session=session, endpoint_url=emulator)


def _ask(tenant_session: Any, emulator: str) -> None:
    tenant_session.client("bedrock-runtime", endpoint_url=emulator).converse(
        modelId="eu.anthropic.claude-sonnet-4-6", messages=[{"role": "user", "content": [{"text": "hi"}]}]
    )


def test_each_call_is_billed_to_the_tenants_session_with_its_tags(sessions: TenantSessions, emulator: str) -> None:
    from aipctl_sim import telemetry

    _ask(sessions.session("gateway", "acme"), emulator)
    arn, source, tags = telemetry.store().query("SELECT principal_arn, source_identity, principal_tags FROM calls")[0]
    assert arn == "arn:aws:sts::123456789012:assumed-role/gateway/acme" and source == "acme"
    assert json.loads(tags) == {
        "Application": "gateway",
        "CostCenter": "4711",
        "Environment": "production",
        "Owner": "saas-team",
        "Plan": "gold",
        "Tenant": "acme",
    }
    assert tenant_tags(sessions.loaded, "gateway", "acme")["Tenant"] == "acme"


def test_cached_refreshed_and_one_assume_role_per_tenant(sessions: TenantSessions, emulator: str) -> None:
    first = sessions.session("gateway", "acme")
    assert sessions.session("gateway", "acme") is first and sessions.assumed == 1
    _ask(first, emulator)
    _ask(first, emulator)
    assert sessions.assumed == 1, "calls reuse the credentials"
    credentials = first.get_credentials()
    credentials._expiry_time = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)  # about to expire
    _ask(first, emulator)
    assert sessions.assumed == 2, "refreshed before expiry, by the session itself"


def test_a_hundred_tenants_from_sixteen_threads(sessions: TenantSessions) -> None:
    names = [f"t{i:03d}" for i in range(100)]
    got: dict[str, set[int]] = {n: set() for n in names}
    lock = threading.Lock()

    def work(offset: int) -> None:
        for name in names[offset:] + names[:offset]:
            made = sessions.session("gateway", name)
            with lock:
                got[name].add(id(made))

    threads = [threading.Thread(target=work, args=(i * 6,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(ids) == 1 for ids in got.values()) and sessions.assumed == 100


def test_strangers_are_refused_before_any_call(sessions: TenantSessions) -> None:
    with pytest.raises(UnknownCaller, match="no tenant 'initech'"):
        sessions.session("gateway", "initech")
    with pytest.raises(UnknownCaller, match="unknown caller"):
        sessions.session("billing", "acme")
    assert sessions.assumed == 0


def test_iam_render_trust_limits_session_tags_to_the_inventorys_keys(cli, session, emulator: str, workdir) -> None:
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    result = cli("iam", "render", "--trust", "--principal", "arn:aws:iam::123456789012:role/gateway-runtime", "--json")
    assert result.code == 0, result.err
    document = result.json["gateway"]
    assume, tag = document["Statement"]
    assert assume["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity"]
    assert assume["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/gateway-runtime"}
    assert tag["Action"] == "sts:TagSession"
    assert tag["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"] == [
        "Application",
        "CostCenter",
        "Environment",
        "Owner",
        "Plan",
        "Tenant",
    ], "exactly the keys session_for sends (acme adds Plan)"
    assert tag["Condition"]["StringEquals"] == {"aws:RequestTag/Application": "gateway"}, "a gateway bills only as itself"
    iam = session.client("iam", endpoint_url=emulator)
    iam.create_role(RoleName="gateway", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    iam.update_assume_role_policy(RoleName="gateway", PolicyDocument=json.dumps(document))  # IAM takes it
    default = cli("iam", "render", "--trust", "--json").json["gateway"]
    assert default["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert cli("iam", "render", "--trust", "--principal", "gateway-runtime").code == 2
    assert cli("iam", "render", "--principal", "arn:aws:iam::123456789012:role/x").code == 2


def test_litellm_config_carries_each_tenants_session(cli, session, emulator: str, workdir, monkeypatch) -> None:
    """`wire --format litellm` gives every tenant a deployment that assumes the caller's role as the tenant;
    LiteLLM itself (in-process, unmodified) then makes calls billed to the tenant's session with its tags."""
    import yaml

    from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
    from aipctl_sim import telemetry

    session.client("iam", endpoint_url=emulator).create_role(
        RoleName="gateway", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    assert cli("apply", "--yes").code == 0
    wired = cli("wire", "--format", "litellm")
    assert wired.code == 0, wired.err
    entries = {e["model_name"]: e for e in yaml.safe_load(wired.out)["model_list"]}
    assert len(entries) == 1 + 101, "the caller's own deployment, and one per tenant"
    acme = entries["gateway/acme/sonnet"]["litellm_params"]
    assert acme["aws_role_name"] == "arn:aws:iam::123456789012:role/gateway" and acme["aws_session_name"] == "acme"
    assert {"Key": "Tenant", "Value": "acme"} in acme["aws_session_tags"] and {"Key": "Plan", "Value": "gold"} in acme[
        "aws_session_tags"
    ]

    import litellm

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SIM_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SIM_SECRET_KEY)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    params = {k: v for k, v in acme.items()}
    answer = litellm.completion(
        **params,
        aws_bedrock_runtime_endpoint=emulator,
        aws_sts_endpoint=emulator,
        messages=[{"role": "user", "content": "hello from acme"}],
        max_tokens=50,
    )
    assert answer.usage.completion_tokens > 0
    arn, tags = telemetry.store().query("SELECT principal_arn, principal_tags FROM calls ORDER BY ts DESC LIMIT 1")[0]
    assert arn == "arn:aws:sts::123456789012:assumed-role/gateway/acme"
    assert json.loads(tags)["Tenant"] == "acme" and json.loads(tags)["Plan"] == "gold"


def test_langchain_and_strands_run_as_the_tenant(cli, sessions: TenantSessions, session, emulator: str, workdir) -> None:
    """The integrations take a tenant's session as they take any: unmodified LangChain and Strands calls
    go through the caller's AIP and are billed to the tenant's session."""
    from aipctl.integrations.langchain import chat_model
    from aipctl.integrations.strands import bedrock_model
    from aipctl.wiring import Resolver
    from aipctl_sim import telemetry

    (workdir / "aipctl.yaml").write_text(INVENTORY)
    assert cli("apply", "--yes").code == 0
    resolver = Resolver(session, region="eu-central-1", endpoint_url=emulator, environ={})
    acme = sessions.session("gateway", "acme")
    llm = chat_model("gateway", resolver=resolver, client=acme.client("bedrock-runtime", endpoint_url=emulator), max_tokens=40)
    assert llm.invoke("Which tenant is this?").content
    model = bedrock_model("gateway", resolver=resolver, session=sessions.session("gateway", "t007"), max_tokens=2000)
    from strands import Agent

    assert str(Agent(model=model, callback_handler=None)("hello from t007"))
    rows = telemetry.store().query("SELECT principal_arn, aip_arn FROM calls ORDER BY ts")
    assert [r[0].rsplit("/", 1)[-1] for r in rows] == ["acme", "t007"]
    assert all(r[1] == resolver.resolve("gateway") for r in rows), "through the caller's AIP"
