"""Anti-bypass IAM, the emergency brake, guard watch, and budgets/alarms planned with the AIPs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from benchmarks.guard import assumed_runtime
from tests.conftest import REGION
from tests.sim.test_mantle import _signed_messages

INVENTORY = """\
name: guards
region: eu-central-1
models:
  sonnet: eu.anthropic.claude-sonnet-4-6
  haiku: eu.anthropic.claude-haiku-4-5-20251001-v1:0
alerts:
  sns_topic_arn: arn:aws:sns:eu-central-1:123456789012:finops
  emails: [finops@example.com]
callers:
  acme:
    owner: saas-team
    environment: production
    models: [sonnet]
    identities: ["arn:aws:iam::*:role/acme-task"]
    budget: {monthly_usd: 0.01, alert_at: [50, 100], brake_at: 100}
    limits: {rpm: 600, tpm: 400000, daily_usd: 40}
    tier: gold
  globex:
    owner: saas-team
    environment: production
    models: [haiku]
    identities: ["arn:aws:iam::*:role/globex-task"]
"""
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
SYSTEM_PROFILE = "eu.anthropic.claude-sonnet-4-6"


@pytest.fixture
def guarded(cli, sim, session, emulator, workdir: Path) -> dict[str, Any]:
    sim.set_settings(cloudtrail_lookup_rps=0)
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    session.client("sns", endpoint_url=emulator).create_topic(Name="finops")
    iam = session.client("iam", endpoint_url=emulator)
    trust = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    )
    for role in ("acme-task", "globex-task", "unrelated-role"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    applied = cli("apply", "--yes", "--json")
    assert applied.code == 0, applied.err
    arns = {(r["caller"], r["alias"]): r["arn"] for r in cli("list", "--json").json}
    return {"arns": arns, "iam": iam}


@pytest.fixture
def braking(cli, guarded) -> dict[str, Any]:
    """The guarded account with the anti-bypass policy attached once (by someone with IAM rights): from then
    on a brake is a tag write."""
    attached = cli("iam", "render", "--attach", "--yes")
    assert attached.code == 0, attached.err
    return guarded


def _runtime_as(role: str, session, emulator: str) -> Any:
    return assumed_runtime(session, emulator, role)


def _denied(runtime: Any, model_id: str) -> bool:
    try:
        runtime.converse(modelId=model_id, messages=MESSAGES)
        return False
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDeniedException", exc
        return True


def test_iam_render_attach_refuses_bypass_and_keeps_the_wired_path(cli, guarded, session, emulator) -> None:
    arns = guarded["arns"]
    rendered = cli("iam", "render", "--json")
    assert rendered.code == 0, rendered.err
    assert set(rendered.json) == {"acme", "globex"}
    acme = rendered.json["acme"]
    assert acme["Statement"][0]["Resource"] == [arns[("acme", "sonnet")]]
    assert acme["Statement"][2]["Condition"] == {"StringNotEquals": {"bedrock:InferenceProfileArn": [arns[("acme", "sonnet")]]}}
    refused = cli("iam", "render", "--attach")
    assert refused.code == 2 and "--yes" in refused.err
    attached = cli("iam", "render", "--attach", "--yes", "--json")
    assert attached.code == 0, attached.err
    assert attached.json["principals"]["acme"] == ["arn:aws:iam::123456789012:role/acme-task"]
    assert guarded["iam"].list_role_policies(RoleName="unrelated-role")["PolicyNames"] == [], "only matching roles touched"
    acme_rt = _runtime_as("acme-task", session, emulator)
    assert acme_rt.converse(modelId=arns[("acme", "sonnet")], messages=MESSAGES)["usage"]["inputTokens"] > 0
    assert _denied(acme_rt, "amazon.nova-lite-v1:0"), "direct foundation model"
    assert _denied(acme_rt, SYSTEM_PROFILE), "system-defined profile"
    assert _denied(acme_rt, arns[("globex", "haiku")]), "another caller's AIP"
    # the wired client (attach) keeps working under the policy
    import aipctl
    from aipctl.wiring import Resolver

    wired = aipctl.attach(acme_rt, "acme", resolver=Resolver(session, region=REGION, endpoint_url=emulator, environ={}))
    assert wired.converse(modelId=SYSTEM_PROFILE, messages=MESSAGES)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert cli("iam", "render", "--detach", "--yes").code == 0
    assert not _denied(acme_rt, SYSTEM_PROFILE)


def test_brake_and_release_are_idempotent_and_visible(cli, braking, session, emulator) -> None:
    arns = braking["arns"]
    acme_rt, globex_rt = _runtime_as("acme-task", session, emulator), _runtime_as("globex-task", session, emulator)
    first = cli("brake", "acme", "--reason", "runaway loop (ticket #42)", "--json")
    assert first.code == 0, first.err
    assert first.json["action"] == "braked" and first.json["principals"] == ["arn:aws:iam::123456789012:role/acme-task"]
    assert _denied(acme_rt, arns[("acme", "sonnet")])
    assert not _denied(globex_rt, arns[("globex", "haiku")]), "other callers are not affected"
    again = cli("brake", "acme", "--json").json
    assert again["action"] == "unchanged" and again["reason"] == "runaway loop ticket no. 42"
    listed = {r["caller"]: r for r in cli("list", "--json").json}
    assert listed["acme"]["brake"].endswith("runaway loop ticket no. 42") and listed["globex"]["brake"] is None
    assert cli("plan", "--json").json["has_changes"] is False, "the brake tag is not drift"
    assert "braked" in cli("list").out or "runaway" in cli("list").out
    released = cli("release", "acme", "--json").json
    assert released["action"] == "released"
    assert not _denied(acme_rt, arns[("acme", "sonnet")])
    assert cli("release", "acme", "--json").json["action"] == "unchanged"
    unknown = cli("brake", "nobody")
    assert unknown.code == 2 and "unknown caller 'nobody'" in unknown.err


def test_guard_watch_alerts_brakes_and_releases_next_month(cli, braking, sim, session, emulator) -> None:
    arns = braking["arns"]
    acme_rt = _runtime_as("acme-task", session, emulator)
    quiet = cli("guard", "watch", "--once", "--source", "cloudwatch", "--json")
    assert quiet.code == 0, quiet.err
    assert quiet.json["events"] == []
    spent = 0
    while True:  # spend past the $0.01 budget
        acme_rt.converse(modelId=arns[("acme", "sonnet")], messages=[{"role": "user", "content": [{"text": "x" * 4000}]}])
        spent += 1
        row = cli("guard", "watch", "--once", "--source", "cloudwatch", "--dry-run", "--json").json["callers"][0]
        if row["percent"] >= 100:
            break
        assert spent < 50
    result = cli("guard", "watch", "--once", "--source", "cloudwatch", "--json").json
    kinds = [(e["caller"], e["kind"]) for e in result["events"]]
    assert ("acme", "brake") in kinds and ("acme", "alert") in kinds
    alert = next(e for e in result["events"] if e["kind"] == "alert")
    assert re.search(r"\(\$0\.\d{4} month to date\)", alert["message"]), "a $0.01 budget's spend is not rounded away"
    brake_tag = {r["caller"]: r for r in cli("list", "--json").json}["acme"]["brake"]
    assert re.search(r"\d+ pct of the USD 0\.01 monthly budget \(?USD 0\.\d{4} month to date", brake_tag), brake_tag
    assert _denied(acme_rt, arns[("acme", "sonnet")]), "the next call after the pass is refused"
    assert cli("guard", "watch", "--once", "--source", "cloudwatch", "--json").json["events"] == [], "alerts go out once"
    # a new month: the guard's own brake is released
    import datetime as dt

    current = dt.datetime.fromisoformat(sim.clock()["now"].replace("Z", "+00:00"))
    next_month = (current.replace(day=28) + dt.timedelta(days=4)).replace(day=1, hour=0, minute=5)
    sim.advance((next_month - current).total_seconds())
    released = cli("guard", "watch", "--once", "--source", "cloudwatch", "--json").json
    assert ("acme", "release") in [(e["caller"], e["kind"]) for e in released["events"]]
    assert not _denied(acme_rt, arns[("acme", "sonnet")])


def test_a_release_until_keeps_guard_watch_from_braking_again(cli, braking, sim, session, emulator) -> None:
    """Issue 17.5: after a manual release the next pass re-braked at once. `release --until` snoozes the guard
    (alerts still go out), list/report show it, the time ends it, and a manual brake ends it earlier."""
    import datetime as dt

    arns = braking["arns"]
    acme_rt = _runtime_as("acme-task", session, emulator)
    for _ in range(50):
        acme_rt.converse(modelId=arns[("acme", "sonnet")], messages=[{"role": "user", "content": [{"text": "x" * 4000}]}])
        if cli("guard", "watch", "--once", "--source", "cloudwatch", "--dry-run", "--json").json["callers"][0]["percent"] >= 100:
            break
    assert ("acme", "brake") in [(e["caller"], e["kind"]) for e in cli("guard", "watch", "--once", "--json").json["events"]]
    assert cli("release", "acme", "--until", "yesterday").code == 2, "a time it cannot read is refused"
    assert cli("release", "acme", "--until", "40d").code == 2, "a snooze must end within a month"
    before = dt.datetime.fromisoformat(sim.clock()["now"].replace("Z", "+00:00")).replace(microsecond=0)
    released = cli("release", "acme", "--until", "6h", "--json")
    assert released.code == 0, released.err
    until = released.json["released_until"]
    after = dt.datetime.fromisoformat(sim.clock()["now"].replace("Z", "+00:00"))
    assert (
        before + dt.timedelta(hours=6) <= dt.datetime.fromisoformat(until.replace("Z", "+00:00")) <= after + dt.timedelta(hours=6)
    )
    passes = cli("guard", "watch", "--once", "--source", "cloudwatch", "--json").json
    assert [e for e in passes["events"] if e["kind"] == "brake"] == [], "no re-brake before the time"
    assert passes["callers"][0]["released_until"] == until and not passes["callers"][0]["braked"]
    assert not _denied(acme_rt, arns[("acme", "sonnet")])
    assert {r["caller"]: r for r in cli("list", "--json").json}["acme"]["released_until"] == until
    report = cli("report", "--since", "1d", "--json").json
    assert report["released_until"] == {"acme": until}
    assert any("released by hand until" in w for w in report["warnings"])
    sim.advance(6 * 3600 + 60)
    again = cli("guard", "watch", "--once", "--source", "cloudwatch", "--json").json
    assert ("acme", "brake") in [(e["caller"], e["kind"]) for e in again["events"]], "after the time the guard brakes"
    assert cli("release", "acme", "--until", "2h").code == 0
    assert cli("brake", "acme", "--reason", "by hand").code in (0, 1)
    listed = {r["caller"]: r for r in cli("list", "--json").json}["acme"]
    assert listed["released_until"] is None and listed["brake"], "a manual brake ends the release"


def test_budgets_and_alarms_follow_the_inventory(cli, guarded, session, emulator, workdir: Path) -> None:
    budgets = session.client("budgets", endpoint_url=emulator, region_name="us-east-1")
    budget = budgets.describe_budget(AccountId="123456789012", BudgetName="aipctl-guards-acme")["Budget"]
    assert budget["CostFilters"] == {"TagKeyValue": ["user:Application$acme"]} and budget["BudgetLimit"]["Amount"] == "0.01"
    notes = budgets.describe_notifications_for_budget(AccountId="123456789012", BudgetName="aipctl-guards-acme")["Notifications"]
    assert sorted(n["Threshold"] for n in notes) == [50.0, 100.0]
    alarms = {
        a["AlarmName"]: a
        for a in session.client("cloudwatch", endpoint_url=emulator).describe_alarms(AlarmNamePrefix="aipctl-guards-")[
            "MetricAlarms"
        ]
    }
    assert set(alarms) == {
        "aipctl-guards-acme-sonnet-invocations",
        "aipctl-guards-acme-sonnet-tokens",
        "aipctl-guards-acme-sonnet-spike",
    }
    invocations = alarms["aipctl-guards-acme-sonnet-invocations"]
    assert (
        invocations["Threshold"] == 600
        and invocations["Dimensions"][0]["Value"] == guarded["arns"][("acme", "sonnet")].rsplit("/", 1)[1]
    )
    assert invocations["AlarmActions"] == ["arn:aws:sns:eu-central-1:123456789012:finops"]
    assert cli("plan", "--json").json["has_changes"] is False, "budgets and alarms converge"
    (workdir / "aipctl.yaml").write_text(
        INVENTORY.replace("monthly_usd: 0.01", "monthly_usd: 250").replace("rpm: 600", "rpm: 900")
    )
    planned = cli("plan", "--json").json
    assert {(g["kind"], g["action"], g["name"]) for g in planned["guards"]} == {
        ("budget", "update", "aipctl-guards-acme"),
        ("alarm", "update", "aipctl-guards-acme-sonnet-invocations"),
    }
    assert cli("apply", "--yes").code == 0
    assert (
        budgets.describe_budget(AccountId="123456789012", BudgetName="aipctl-guards-acme")["Budget"]["BudgetLimit"]["Amount"]
        == "250.00"
    )
    # a budget left the inventory: kept until --prune
    (workdir / "aipctl.yaml").write_text(
        INVENTORY.replace("    budget: {monthly_usd: 0.01, alert_at: [50, 100], brake_at: 100}\n", "")
    )
    orphaned = cli("plan", "--json").json
    assert [g["name"] for g in orphaned["guard_orphans"]] == ["aipctl-guards-acme"]
    assert cli("apply", "--yes", "--prune").code == 0
    names = [b["BudgetName"] for b in budgets.describe_budgets(AccountId="123456789012").get("Budgets", [])]
    assert "aipctl-guards-acme" not in names


@pytest.mark.parametrize("source", ["ledger", "cost-explorer"])
def test_guard_watch_from_the_ledger_and_from_cost_explorer(source: str, cli, braking, sim, session, emulator, target) -> None:
    from aipctl.aws.s3logs import InvocationLogs

    log_uri = InvocationLogs(target).enable("guard-logs", "raw")
    acme_rt = _runtime_as("acme-task", session, emulator)
    for _ in range(12):  # well past the $0.01 budget
        acme_rt.converse(
            modelId=braking["arns"][("acme", "sonnet")], messages=[{"role": "user", "content": [{"text": "x" * 4000}]}]
        )
    args = ["guard", "watch", "--once", "--source", source, "--json"]
    if source == "ledger":
        args += ["--ingest", log_uri]
    else:
        sim.advance(25 * 3600)  # Cost Explorer shows usage a day late
    result = cli(*args)
    assert result.code == 0, result.err
    assert result.json["source"] == source
    row = next(r for r in result.json["callers"] if r["caller"] == "acme")
    assert row["percent"] >= 100 and row["braked"] is True
    assert _denied(acme_rt, braking["arns"][("acme", "sonnet")])


def test_an_undeliverable_alert_does_not_stop_the_brake(cli, braking, session, emulator, workdir: Path) -> None:
    sns = session.client("sns", endpoint_url=emulator)
    sns.delete_topic(TopicArn="arn:aws:sns:eu-central-1:123456789012:finops")
    acme_rt = _runtime_as("acme-task", session, emulator)
    for _ in range(12):
        acme_rt.converse(
            modelId=braking["arns"][("acme", "sonnet")], messages=[{"role": "user", "content": [{"text": "x" * 4000}]}]
        )
    result = cli("guard", "watch", "--once", "--source", "cloudwatch", "--state-file", "state/guard.json", "--json")
    assert result.code == 0, result.err
    alerts = [e for e in result.json["events"] if e["kind"] == "alert"]
    assert alerts and all("not delivered" in e["message"] and e["delivered_to"] is None for e in alerts)
    assert ("acme", "brake") in [(e["caller"], e["kind"]) for e in result.json["events"]]
    assert json.loads((workdir / "state/guard.json").read_text())["alerted"]


def test_a_retag_keeps_the_brake_recorded(cli, braking, bedrock, workdir: Path) -> None:
    """A retag sets the inventory's tags and removes stale ones, but never aipctl's state tags."""
    assert cli("brake", "acme", "--reason", "runaway").code == 0
    (workdir / "aipctl.yaml").write_text(
        INVENTORY.replace(
            "owner: saas-team\n    environment: production\n    models: [sonnet]",
            "owner: billing-team\n    environment: production\n    models: [sonnet]",
        )
    )
    planned = cli("plan", "--json").json
    assert [c["action"] for c in planned["changes"] if c["caller"] == "acme"] == ["retag"]
    assert cli("apply", "--yes").code == 0
    tags = {t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=braking["arns"][("acme", "sonnet")])["tags"]}
    assert tags["Owner"] == "billing-team"
    assert tags["aipctl:brake"].endswith("runaway"), "the brake is still recorded on the AIP"
    assert {r["caller"]: r["brake"] for r in cli("list", "--json").json}["acme"] is not None


def _assumed_session(session, emulator: str, role: str) -> Any:
    import boto3

    creds = session.client("sts", endpoint_url=emulator).assume_role(
        RoleArn=f"arn:aws:iam::123456789012:role/{role}", RoleSessionName=role
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


def test_a_braked_caller_is_refused_on_every_route_and_the_others_keep_working(cli, braking, session, emulator) -> None:
    """The brake is a tag write (no IAM write at run time); with the anti-bypass policy attached once, every
    route of the braked caller is denied — its AIP, streams, InvokeModel, the system profile directly, the
    OpenAI-compatible API with a Bedrock API key — and aipctl.attach refuses in-process. Globex keeps working."""
    import openai
    from aws_bedrock_token_generator import BedrockTokenGenerator
    from botocore.config import Config
    from botocore.credentials import Credentials

    import aipctl
    from aipctl.wiring import Resolver
    from aipctl_sim import telemetry

    arns = braking["arns"]
    acme = _assumed_session(session, emulator, "acme-task")
    raw = acme.client("bedrock-runtime", endpoint_url=emulator, config=Config(retries={"total_max_attempts": 1}))
    wired_globex = aipctl.attach(
        _runtime_as("globex-task", session, emulator),
        "globex",
        resolver=Resolver(session, region=REGION, endpoint_url=emulator, environ={}),
    )
    frozen = acme.get_credentials().get_frozen_credentials()
    api_key = BedrockTokenGenerator().get_token(Credentials(frozen.access_key, frozen.secret_key, frozen.token), REGION)
    keyed = openai.OpenAI(base_url=f"{emulator}/openai/v1", api_key=api_key, max_retries=0)
    braked = cli("brake", "acme", "--reason", "runaway", "--json")
    assert braked.code == 0, braked.err
    assert braked.json["uncovered"] == [] and braked.json["principals"] == ["arn:aws:iam::123456789012:role/acme-task"]

    aip = arns[("acme", "sonnet")]
    routes = {
        "converse on its AIP": lambda: raw.converse(modelId=aip, messages=MESSAGES),
        "converse-stream on its AIP": lambda: list(raw.converse_stream(modelId=aip, messages=MESSAGES)["stream"]),
        "invoke-model on its AIP": lambda: raw.invoke_model(
            modelId=aip,
            body=json.dumps(
                {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
            ),
        ),
        "the system profile directly": lambda: raw.converse(modelId=SYSTEM_PROFILE, messages=MESSAGES),
        "a batch inference job on its AIP": lambda: acme.client("bedrock", endpoint_url=emulator).create_model_invocation_job(
            jobName="sneaky",
            roleArn="arn:aws:iam::123456789012:role/acme-task",
            modelId=aip,
            inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://anything/in.jsonl"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://anything/out/"}},
        ),
    }
    for name, call in routes.items():
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException", name
        assert wired_globex.converse(modelId="haiku", messages=MESSAGES)["usage"]["outputTokens"] > 0, "globex keeps working"
    with pytest.raises(openai.PermissionDeniedError):
        keyed.chat.completions.create(model=aip, messages=[{"role": "user", "content": "hi"}])

    wired_acme = aipctl.attach(raw, "acme", resolver=Resolver(session, region=REGION, endpoint_url=emulator, environ={}))
    before = len(telemetry.store().query("SELECT 1 FROM calls"))
    with pytest.raises(aipctl.BrakeEngaged) as engaged:
        wired_acme.converse(modelId="sonnet", messages=MESSAGES)
    assert engaged.value.reason == "runaway" and "aipctl release acme" in (engaged.value.hint or "")
    assert len(telemetry.store().query("SELECT 1 FROM calls")) == before, "refused before the request left the process"

    assert cli("release", "acme").code == 0
    fresh = acme.client("bedrock-runtime", endpoint_url=emulator, config=Config(retries={"total_max_attempts": 1}))
    assert fresh.converse(modelId=aip, messages=MESSAGES)["usage"]["outputTokens"] > 0
    assert _denied(fresh, SYSTEM_PROFILE), "released, it is still held to its AIPs"


def test_a_brake_without_the_anti_bypass_policy_says_what_is_missing(cli, guarded, session, emulator) -> None:
    import aipctl
    from aipctl.wiring import Resolver

    result = cli("brake", "acme", "--reason", "runaway")
    assert result.code == 1
    assert "IAM denies nothing yet for arn:aws:iam::123456789012:role/acme-task" in result.err
    assert "aipctl iam render --caller acme --attach --yes" in result.err and "Traceback" not in result.err
    wired = aipctl.attach(
        _runtime_as("acme-task", session, emulator),
        "acme",
        resolver=Resolver(session, region=REGION, endpoint_url=emulator, environ={}),
    )
    with pytest.raises(aipctl.BrakeEngaged):
        wired.converse(modelId="sonnet", messages=MESSAGES)
    listed = {r["caller"]: r["brake"] for r in cli("list", "--json").json}
    assert listed["acme"] is not None, "the brake is recorded all the same"


def test_anti_bypass_closes_retagging_and_self_made_profiles(cli, braking, session, emulator) -> None:
    """A restricted caller cannot move its cost (retag its AIP), make or delete profiles; aipctl still brakes."""
    acme = _assumed_session(session, emulator, "acme-task")
    control = acme.client("bedrock", endpoint_url=emulator)
    aip = braking["arns"][("acme", "sonnet")]
    attempts = {
        "TagResource": lambda: control.tag_resource(resourceARN=aip, tags=[{"key": "Application", "value": "globex"}]),
        "UntagResource": lambda: control.untag_resource(resourceARN=aip, tagKeys=["Application"]),
        "CreateInferenceProfile": lambda: control.create_inference_profile(
            inferenceProfileName="mine",
            modelSource={"copyFrom": f"arn:aws:bedrock:{REGION}:123456789012:inference-profile/{SYSTEM_PROFILE}"},
        ),
        "DeleteInferenceProfile": lambda: control.delete_inference_profile(inferenceProfileIdentifier=aip),
    }
    for name, attempt in attempts.items():
        with pytest.raises(ClientError) as refused:
            attempt()
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException", name
    tags = {
        t["key"]: t["value"]
        for t in session.client("bedrock", endpoint_url=emulator).list_tags_for_resource(resourceARN=aip)["tags"]
    }
    assert tags["Application"] == "acme", "the cost line did not move"
    frozen = acme.get_credentials().get_frozen_credentials()
    mantle = _signed_messages(
        emulator,
        Credentials(frozen.access_key, frozen.secret_key, frozen.token),
        {"model": SYSTEM_PROFILE, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert mantle.status == 403 and "DenyBedrockMantle" in mantle.data.decode(), "bedrock-mantle is closed too"
    assert cli("brake", "acme").code == 0 and cli("release", "acme").code == 0, "aipctl's own credentials still tag"
    rendered = cli("iam", "render", "--caller", "acme", "--json").json["acme"]
    sids = {s["Sid"] for s in rendered["Statement"]}
    assert {"DenyBedrockMantle", "DenyLongTermApiKeys", "DenyCreatingBedrockApiKeys", "DenyBatchAndOwnProfiles"} <= sids


def test_iam_render_scp_covers_what_identity_policies_cannot(cli, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    result = cli("iam", "render", "--scp", "--exempt", "arn:aws:iam::*:role/aipctl-operator", "--json")
    assert result.code == 0, result.err
    statements = {s["Sid"]: s for s in result.json["Statement"]}
    assert set(statements) == {
        "ModelsOnlyThroughAips",
        "NoBedrockMantle",
        "NoBedrockApiKeys",
        "NoLongTermBedrockApiKeys",
        "NoRetaggingAips",
    }
    models = statements["ModelsOnlyThroughAips"]["Condition"]["ArnNotLike"]
    assert models["bedrock:InferenceProfileArn"] == "arn:aws:bedrock:*:*:application-inference-profile/*"
    assert models["aws:PrincipalArn"] == ["arn:aws:iam::*:role/aipctl-operator"], "exempt merged into the same operator"
    assert all(s["Effect"] == "Deny" for s in statements.values())
    assert cli("iam", "render", "--scp", "--exempt", "operator").code == 2
    assert "no --exempt principal" in cli("iam", "render", "--scp").err


@pytest.mark.parametrize(
    "reason,kept",
    [
        ("spent $1,812.40 of $800 (101.5%)", "spent USD 1812.40 of USD 800 101.5 pct"),
        ("Q&A bot over €5", "Q and A bot over EUR 5"),
        ("newline\nand\ttab", "newline and tab"),
    ],
)
def test_brake_reasons_keep_their_meaning_in_tag_characters(reason: str, kept: str) -> None:
    """Tag values cannot hold $ or % (issue 17.5: the watch's "101.5% of $800" came out as "101.5 of 800")."""
    from aipctl.inventory import rules

    value = rules.brake_tag("2026-12-02T21:00:00Z", reason)
    assert rules.check_tag_value(value) is None
    assert rules.parse_brake_tag(value) == ("2026-12-02T21:00:00Z", kept)


def test_verify_counts_denied_calls_apart(cli, braking, sim, session, emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17.4: a braked caller's refused calls were counted "via AIP", and a refused direct call as a bypass."""
    monkeypatch.setenv("AIPCTL_CLOUDTRAIL_RPS", "0")
    sim.set_settings(cloudtrail_lookup_rps=0)
    arns = braking["arns"]
    acme_rt = _runtime_as("acme-task", session, emulator)
    acme_rt.converse(modelId=arns[("acme", "sonnet")], messages=MESSAGES)
    assert cli("brake", "acme", "--reason", "verify test").code == 0
    assert _denied(acme_rt, arns[("acme", "sonnet")]) and _denied(acme_rt, arns[("acme", "sonnet")])
    assert _denied(acme_rt, SYSTEM_PROFILE), "the anti-bypass policy refuses the direct call"
    sim.advance(600)
    result = cli("verify", "--since", "1d", "--json")
    assert result.code == 0, "refused calls are not a bypass"
    acme = {r["caller"]: r for r in result.json["callers"]}["acme"]
    assert (acme["aip_calls"], acme["bypass_calls"], acme["denied_calls"], acme["blocked_bypass_calls"]) == (1, 0, 3, 1)
    assert (acme["errors"], acme["failed_calls"], acme["coverage"], acme["verdict"]) == (3, 0, 1.0, "ok")
    assert result.json["sources"] == ["cloudtrail"] and result.json["period"]["start"] < result.json["period"]["end"]
    table = cli("verify", "--since", "1d")
    assert "3 (1 bypass)" in table.out


def test_verify_sees_mantle_calls_and_bearer_tokens_per_identity(cli, guarded, session, emulator, monkeypatch) -> None:
    """Issue 14: bedrock-mantle's calls are CloudTrail data events (only trails get them) and count as bypass
    calls; every identity using a Bedrock API key is named, a long-term key loudly."""
    import openai
    from aws_bedrock_token_generator import BedrockTokenGenerator

    from tests.sim.test_mantle import MANTLE_SELECTORS

    monkeypatch.setenv("AIPCTL_CLOUDTRAIL_RPS", "0")
    blind = cli("verify", "--since", "1d", "--json")
    assert blind.json["mantle"] == {"visible": False, "error": None, "calls": 0, "trails": []}
    assert "bedrock-mantle's calls are not visible" in cli("verify", "--since", "1d").err

    s3, trails = session.client("s3", endpoint_url=emulator), session.client("cloudtrail", endpoint_url=emulator)
    s3.create_bucket(Bucket="audit-trail", CreateBucketConfiguration={"LocationConstraint": REGION})
    trails.create_trail(Name="audit", S3BucketName="audit-trail", IsMultiRegionTrail=True)
    trails.put_event_selectors(TrailName="audit", AdvancedEventSelectors=MANTLE_SELECTORS)
    trails.start_logging(Name="audit")

    acme = _assumed_session(session, emulator, "acme-task")
    frozen = acme.get_credentials().get_frozen_credentials()
    credentials = Credentials(frozen.access_key, frozen.secret_key, frozen.token)
    on_mantle = _signed_messages(
        emulator, credentials, {"model": SYSTEM_PROFILE, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert on_mantle.status == 200, on_mantle.data
    short_term = BedrockTokenGenerator().get_token(credentials, REGION)
    keyed = openai.OpenAI(base_url=f"{emulator}/openai/v1", api_key=short_term, max_retries=0)
    keyed.chat.completions.create(model=guarded["arns"][("acme", "sonnet")], messages=[{"role": "user", "content": "hi"}])
    iam = guarded["iam"]
    iam.create_user(UserName="intern")
    secret = iam.create_service_specific_credential(UserName="intern", ServiceName="bedrock.amazonaws.com")
    long_term = openai.OpenAI(
        base_url=f"{emulator}/openai/v1",
        api_key=secret["ServiceSpecificCredential"]["ServiceCredentialSecret"],
        max_retries=0,
        default_headers={"X-Aipctl-Sim-Region": REGION},
    )
    long_term.chat.completions.create(model=SYSTEM_PROFILE, messages=[{"role": "user", "content": "hi"}])

    result = cli("verify", "--since", "1d", "--json")
    assert result.code == 1, "acme's mantle call is a bypass"
    report = result.json
    assert report["sources"] == ["cloudtrail", "cloudtrail-data-events"]
    assert report["mantle"]["visible"] is True and report["mantle"]["calls"] == 1
    assert [t["name"] for t in report["mantle"]["trails"]] == ["audit"]
    found = {c["caller"]: c for c in report["callers"]}["acme"]
    assert (found["aip_calls"], found["bypass_calls"], found["mantle_calls"]) == (1, 1, 1)
    assert found["bypass_models"] == {f"bedrock-mantle:{SYSTEM_PROFILE}": 1}
    assert found["bearer_token_calls"] == {"SHORT_TERM": 1} and found["verdict"] == "bypassing"
    bearer = {b["identity"]: b for b in report["bearer_tokens"]}
    intern = bearer["arn:aws:iam::123456789012:user/intern"]
    assert (intern["caller"], intern["long_term_calls"], intern["short_term_calls"]) == (None, 1, 0)
    assert intern["endpoints"] == {"bedrock-runtime": 1}
    role = bearer["arn:aws:iam::123456789012:role/acme-task"]
    assert (role["caller"], role["short_term_calls"], role["long_term_calls"]) == ("acme", 1, 0)
    assert "arn:aws:iam::123456789012:user/intern" in {u["identity"] for u in report["unknown"]}
    text = cli("verify", "--since", "1d")
    assert "acme made 1 calls on bedrock-mantle" in text.err.replace("\n", " ")
    assert "long-term Bedrock API key 1 times" in text.err.replace("\n", " ")
    assert "not visible" not in text.err
