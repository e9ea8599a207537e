"""resolve / describe / attach / for_tenant and `aipctl wire`, against the emulator with real boto3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import aipctl
from aipctl.wiring import Resolver, UnknownCaller, UnknownModelForCaller
from tests.conftest import MINIMAL_INVENTORY, REGION


@pytest.fixture
def applied(cli, sim, workdir: Path) -> dict[str, str]:
    sim.set_settings(cloudtrail_lookup_rps=0)  # these tests read CloudTrail after every call; the limit is tested elsewhere
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0
    return {(r["caller"], r["alias"]): r["arn"] for r in cli("list", "--json").json}


@pytest.fixture
def resolver(session, emulator) -> Resolver:
    return Resolver(session, region=REGION, endpoint_url=emulator, environ={})


def _last_model_id(session, emulator) -> str:
    events = session.client("cloudtrail", endpoint_url=emulator).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Converse"}], MaxResults=1
    )["Events"]
    return json.loads(events[0]["CloudTrailEvent"])["requestParameters"]["modelId"]


MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]


def test_resolve_from_live_tags_env_and_describe(applied, resolver) -> None:
    assert resolver.resolve("chat", "sonnet") == applied[("chat", "sonnet")]
    assert resolver.resolve("batch") == applied[("batch", "embed")], "single model: alias optional"
    with pytest.raises(aipctl.UsageError):
        resolver.resolve("chat")
    with pytest.raises(UnknownCaller):
        resolver.resolve("nobody", "sonnet")
    env = Resolver(environ={"AIPCTL_CALLER": "chat", "BEDROCK_AIP_ARN_SONNET": "arn:from:env"})
    assert env.resolve("chat", "sonnet") == "arn:from:env", "the environment wins, without any AWS call"
    info = resolver.describe(applied[("chat", "haiku")].rsplit("/", 1)[1])
    assert (info.caller, info.alias, info.base_model, info.source.geo) == (
        "chat",
        "haiku",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        "eu",
    )


def test_attach_routes_every_way_of_naming_the_model(applied, resolver, session, emulator) -> None:
    runtime = aipctl.attach(session.client("bedrock-runtime", endpoint_url=emulator), "chat", resolver=resolver)
    sonnet = applied[("chat", "sonnet")]
    for model_id in (
        "sonnet",
        "eu.anthropic.claude-sonnet-4-6",
        "anthropic.claude-sonnet-4-6",
        sonnet,
        f"arn:aws:bedrock:{REGION}:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-6",
    ):
        runtime.converse(modelId=model_id, messages=MESSAGES)
        assert _last_model_id(session, emulator) == sonnet, model_id
    with pytest.raises(UnknownModelForCaller) as exc:
        runtime.converse(modelId="amazon.nova-pro-v1:0", messages=MESSAGES)
    assert "would bypass its AIPs" in str(exc.value)
    lenient = aipctl.attach(session.client("bedrock-runtime", endpoint_url=emulator), "chat", strict=False, resolver=resolver)
    lenient.converse(modelId="amazon.nova-lite-v1:0", messages=MESSAGES)
    assert _last_model_id(session, emulator) == "amazon.nova-lite-v1:0"


def test_for_tenant_binds_a_client_and_refuses_strangers(applied, resolver, session, emulator) -> None:
    client = aipctl.for_tenant("batch", session=session, resolver=resolver)
    body = client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "x"}))
    assert json.loads(body["body"].read())["embedding"]
    with pytest.raises(UnknownCaller) as exc:
        aipctl.for_tenant("acme", session=session, resolver=resolver)
    assert "known: batch, chat" in str(exc.value)
    model = aipctl.for_tenant("chat", framework="langchain", alias="haiku", resolver=resolver)
    assert model.model_id == applied[("chat", "haiku")] and model.provider == "anthropic"
    assert model.base_model_id == "anthropic.claude-haiku-4-5-20251001-v1:0"
    assert model.invoke("hello").usage_metadata["output_tokens"] > 0
    strands_model = aipctl.for_tenant("batch", framework="strands", session=session, resolver=resolver)
    assert strands_model.config["model_id"] == applied[("batch", "embed")]
    assert aipctl.for_tenant("chat", framework="litellm", alias="sonnet", resolver=resolver)["model"] == (
        f"bedrock/converse/{applied[('chat', 'sonnet')]}"
    )
    with pytest.raises(aipctl.UsageError):
        aipctl.for_tenant("chat", framework="crewai", resolver=resolver)


def test_wire_formats(cli, applied, session, emulator) -> None:
    env = cli("wire", "--caller", "chat").out
    assert "AIPCTL_CALLER=chat" in env and f"BEDROCK_AIP_ARN_SONNET={applied[('chat', 'sonnet')]}" in env
    assert "BEDROCK_AIP_ARN=" not in env, "two models: no single-model variable"
    assert f"BEDROCK_AIP_ARN={applied[('batch', 'embed')]}" in cli("wire", "--caller", "batch").out
    rows = cli("wire", "--format", "json").json
    assert {(r["caller"], r["alias"], r["arn"]) for r in rows} == {(c, a, arn) for (c, a), arn in applied.items()}
    import yaml

    litellm = yaml.safe_load(cli("wire", "--format", "litellm", "--caller", "chat").out)["model_list"]
    assert {m["model_name"]: m["litellm_params"]["model"] for m in litellm} == {
        "sonnet": f"bedrock/converse/{applied[('chat', 'sonnet')]}",
        "haiku": f"bedrock/converse/{applied[('chat', 'haiku')]}",
    }
    assert litellm[0]["model_info"]["base_model"] == "bedrock/eu.anthropic.claude-sonnet-4-6"
    dry = cli("wire", "--format", "ssm", "--dry-run")
    assert f"/aipctl/chat/sonnet = {applied[('chat', 'sonnet')]}" in dry.out
    assert "ParameterNotFound" not in dry.err
    ssm = session.client("ssm", endpoint_url=emulator)
    assert not ssm.describe_parameters()["Parameters"], "dry run writes nothing"
    unconfirmed = cli("wire", "--format", "ssm")
    assert unconfirmed.code == 2 and "pass --yes" in unconfirmed.err, "writing SSM re-points running callers: it asks"
    assert f"/aipctl/chat/sonnet: (new) -> {applied[('chat', 'sonnet')]}" in unconfirmed.err
    assert not ssm.describe_parameters()["Parameters"], "nothing written without --yes"
    assert "wrote /aipctl/chat/sonnet" in cli("wire", "--format", "ssm", "--yes").out
    assert "unchanged /aipctl/chat/sonnet" in cli("wire", "--format", "ssm").out, "nothing to change: nothing to ask"
    assert ssm.get_parameter(Name="/aipctl/chat/haiku")["Parameter"]["Value"] == applied[("chat", "haiku")]
    assert cli("wire", "--caller", "nobody").code == 2


def test_resolve_falls_back_to_ssm(applied, cli, session, emulator) -> None:
    # A resolver scoped to another inventory finds no tagged AIPs: only SSM can answer.
    blind = Resolver(session, region=REGION, endpoint_url=emulator, environ={}, inventory="another")
    with pytest.raises(UnknownCaller):
        blind.resolve("chat", "haiku")
    assert "wrote /aipctl/chat/haiku" in cli("wire", "--format", "ssm", "--yes").out
    assert blind.resolve("chat", "haiku") == applied[("chat", "haiku")]
