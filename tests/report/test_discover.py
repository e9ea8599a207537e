"""`aipctl discover` (issue 18, first slice): designed traffic whose right answer is known, read back from CloudTrail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.guard import assumed_runtime
from tests.conftest import MINIMAL_INVENTORY, SONNET_PROFILE

HAIKU_PROFILE = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET = "eu.anthropic.claude-sonnet-4-6"  # SONNET_PROFILE's id
ASK = [{"role": "user", "content": [{"text": "who am I?"}]}]


def test_discover_finds_every_identity_and_drafts_an_inventory_plan_accepts(cli, session, emulator, sim, workdir: Path) -> None:
    sim.set_settings(cloudtrail_lookup_rps=0)
    iam = session.client("iam", endpoint_url=emulator)
    for role in ("chat-task", "etl-job"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    iam.create_user(UserName="analyst")
    key = iam.create_access_key(UserName="analyst")["AccessKey"]
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0
    bedrock = session.client("bedrock", endpoint_url=emulator)
    aip = next(
        p["inferenceProfileArn"]
        for p in bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
        if p["inferenceProfileName"] == "chat-sonnet"
    )
    chat = assumed_runtime(session, emulator, "chat-task")
    for _ in range(3):
        chat.converse(modelId=aip, messages=ASK)  # through its AIP (tag Application=chat)
    etl = assumed_runtime(session, emulator, "etl-job")
    for model in (SONNET_PROFILE, HAIKU_PROFILE, HAIKU_PROFILE):
        etl.converse(modelId=model, messages=ASK)  # direct: system profiles, no AIP
    import boto3

    analyst = boto3.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name="eu-central-1"
    ).client("bedrock-runtime", endpoint_url=emulator)
    analyst.converse(modelId=HAIKU_PROFILE, messages=ASK)

    # the draft takes the applied inventory's name: chat-task's role already carries its marker
    found = cli("discover", "--since", "1d", "--json", "--write", "draft.yaml", "--name", "test")
    assert found.code == 0, found.err
    by_identity = {i["identity"]: i for i in found.json}
    assert set(by_identity) == {
        "arn:aws:iam::123456789012:role/chat-task",
        "arn:aws:iam::123456789012:role/etl-job",
        "arn:aws:iam::123456789012:user/analyst",
    }
    chat_row = by_identity["arn:aws:iam::123456789012:role/chat-task"]
    assert chat_row["candidate_caller"] == "chat", "named after the Application tag of the AIP it already calls"
    assert chat_row["calls"] == 3 and chat_row["via_aip"] == 3 and chat_row["aip_coverage"] == 1.0
    assert chat_row["models"] == {"eu.anthropic.claude-sonnet-4-6": 3}, "an AIP call counts as the model the AIP copies"
    etl_row = by_identity["arn:aws:iam::123456789012:role/etl-job"]
    assert etl_row["candidate_caller"] == "etl-job" and etl_row["via_aip"] == 0
    assert etl_row["models"] == {HAIKU_PROFILE: 2, SONNET: 1}, "an ARN the caller used is named by its id"
    assert by_identity["arn:aws:iam::123456789012:user/analyst"]["kind"] == "user"
    assert sum(i["calls"] for i in found.json) == 7

    draft = yaml.safe_load((workdir / "draft.yaml").read_text())
    assert set(draft["callers"]) == {"chat", "etl-job", "analyst"}
    assert draft["callers"]["etl-job"]["identities"] == ["arn:aws:iam::123456789012:role/etl-job"]
    assert draft["callers"]["analyst"]["identities"] == ["arn:aws:iam::123456789012:user/analyst"]
    assert set(draft["models"].values()) == {SONNET, HAIKU_PROFILE}
    planned = cli("plan", "-f", "draft.yaml", "--json")
    assert planned.code == 0, planned.err
    creates = {c["caller"] for c in planned.json["changes"] if c["action"] == "create"}
    assert {"etl-job", "analyst"} <= creates, "the draft plans AIPs for the callers that had none"
    before = (workdir / "draft.yaml").read_text()
    again = cli("discover", "--since", "1d", "--write", "draft.yaml")
    assert again.code == 0 and "nothing changed" in again.err, "an existing inventory is merged into, not replaced"
    assert (workdir / "draft.yaml").read_text() == before


def test_discover_with_no_calls_drafts_nothing(cli, sim, workdir: Path) -> None:
    sim.set_settings(cloudtrail_lookup_rps=0)
    empty = cli("discover", "--since", "1d", "--write", "draft.yaml")
    assert empty.code == 0 and "nothing to draft" in empty.err
    assert not (workdir / "draft.yaml").exists()
    assert cli("discover", "--since", "91d").code == 2, "CloudTrail keeps 90 days"


def test_discover_prices_each_identity_from_the_ledger(cli, target, sim, session, emulator, workdir: Path) -> None:
    """With a ledger of the invocation logs, each identity's cost is its calls' tokens at the catalog's prices."""
    from decimal import Decimal

    from aipctl_sim import telemetry
    from tests.conftest import ROOT, traffic_with_logs

    sim.set_settings(cloudtrail_lookup_rps=0)
    uri = traffic_with_logs(
        target, session, emulator, workdir, bucket="disc-logs", prefix="raw", days=0.3, seed=4, calls_per_day=40
    )
    assert cli("meter", "ingest", uri, "--ledger", "ledger.duckdb").code == 0
    found = cli("discover", "--since", "1d", "--json", "--ledger", "ledger.duckdb", "--name", "priced")
    assert found.code == 0, found.err
    catalog = {m["modelId"]: m for m in json.loads((ROOT / "src/aipctl_sim/bedrock/catalog.json").read_text())["models"]}
    expected: dict[str, Decimal] = {}
    for role, user, model, geo, tin, tout, status in telemetry.store().query(
        "SELECT role_arn, principal_arn, base_model, geo, input_tokens, output_tokens, status FROM calls"
    ):
        price = catalog[model]["prices"]["global" if geo == "global" else "regional"]
        cost = (Decimal(str(price["input"])) * tin + Decimal(str(price.get("output", 0))) * tout) / 1_000_000
        key = role or user
        expected[key] = expected.get(key, Decimal(0)) + (cost if status == "ok" else 0)
    priced = {i["identity"]: i["cost_usd"] for i in found.json}
    assert set(priced) == set(expected)
    for identity, cost in expected.items():
        assert priced[identity] == pytest.approx(float(cost), abs=1e-6), identity  # six decimals in the JSON
    assert cli("discover", "--ledger", "missing.duckdb").code == 2


def _runtime(session, emulator: str, role: str, session_name: str, agent: str = "") -> Any:
    import boto3
    from botocore.config import Config

    creds = session.client("sts", endpoint_url=emulator).assume_role(
        RoleArn=f"arn:aws:iam::123456789012:role/{role}", RoleSessionName=session_name
    )["Credentials"]
    assumed = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="eu-central-1",
    )
    return assumed.client("bedrock-runtime", endpoint_url=emulator, config=Config(user_agent_extra=agent))


def test_discover_says_what_runs_as_each_identity_and_sees_mantle(cli, session, emulator, sim, workdir: Path) -> None:
    """Lambda (exec-env in the User-Agent), EC2 (instance-id sessions), a gateway (many session names: tenants in the
    draft), and bedrock-mantle's calls once a trail records its data events."""
    from botocore.credentials import Credentials

    from tests.sim.test_mantle import MANTLE_SELECTORS, _signed_messages

    sim.set_settings(cloudtrail_lookup_rps=0)
    iam = session.client("iam", endpoint_url=emulator)
    for role in ("summarise-fn", "batch-host", "gateway", "notebook"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    _runtime(session, emulator, "summarise-fn", "summarise-fn", "exec-env/AWS_Lambda_python3.12").converse(
        modelId=HAIKU_PROFILE, messages=ASK
    )
    _runtime(session, emulator, "batch-host", "i-0123456789abcdef0").converse(modelId=SONNET_PROFILE, messages=ASK)
    for tenant in ("acme", "globex", "initech"):
        _runtime(session, emulator, "gateway", tenant).converse(modelId=HAIKU_PROFILE, messages=ASK)
    s3, trails = session.client("s3", endpoint_url=emulator), session.client("cloudtrail", endpoint_url=emulator)
    s3.create_bucket(Bucket="trail", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    trails.create_trail(Name="audit", S3BucketName="trail", IsMultiRegionTrail=True)
    trails.put_event_selectors(TrailName="audit", AdvancedEventSelectors=MANTLE_SELECTORS)
    trails.start_logging(Name="audit")
    creds = session.client("sts", endpoint_url=emulator).assume_role(
        RoleArn="arn:aws:iam::123456789012:role/notebook", RoleSessionName="nb"
    )["Credentials"]
    answer = _signed_messages(
        emulator,
        Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]),
        {"model": SONNET_PROFILE, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert answer.status == 200

    found = cli("discover", "--since", "1d", "--json", "--source", "cloudtrail", "--write", "fleet.yaml", "--name", "fleet")
    assert found.code == 0, found.err
    rows = {i["identity"].rsplit("/", 1)[-1]: i for i in found.json}
    assert {n: r["runs_as"] for n, r in rows.items()} == {
        "summarise-fn": "lambda",
        "batch-host": "ec2-instance",
        "gateway": "gateway",
        "notebook": "role",
    }
    assert rows["notebook"]["routes"] == {"bedrock-mantle": 1} and rows["notebook"]["via_aip"] == 0
    assert rows["notebook"]["sources"] == ["cloudtrail-data-events"]
    assert rows["gateway"]["sessions"] == 3 and rows["gateway"]["calls"] == 3
    draft = yaml.safe_load((workdir / "fleet.yaml").read_text())
    assert draft["callers"]["gateway"]["tenants"] == ["acme", "globex", "initech"]
    assert draft["callers"]["gateway"]["attribution"] == "both"
    assert cli("plan", "-f", "fleet.yaml").code == 0, "tenants and all, the draft plans"


def test_discover_merges_new_identities_into_a_human_edited_inventory(cli, session, emulator, sim, workdir: Path) -> None:
    sim.set_settings(cloudtrail_lookup_rps=0)
    iam = session.client("iam", endpoint_url=emulator)
    for role in ("chat-task", "newcomer"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    edited = """\
# Our Bedrock callers. Reviewed by FinOps, 2026-11.
name: merged
region: eu-central-1
models:
    fast: eu.anthropic.claude-haiku-4-5-20251001-v1:0   # the cheap one

callers:
    chat:   # the support chat
        owner: support-team
        environment: production
        models: [fast]
        identities: ["arn:aws:iam::123456789012:role/chat-task"]
"""
    (workdir / "ours.yaml").write_text(edited)
    assumed_runtime(session, emulator, "chat-task").converse(modelId=HAIKU_PROFILE, messages=ASK)
    newcomer = assumed_runtime(session, emulator, "newcomer")
    newcomer.converse(modelId=HAIKU_PROFILE, messages=ASK)
    newcomer.converse(modelId=SONNET_PROFILE, messages=ASK)

    merged = cli("discover", "--since", "1d", "--write", "ours.yaml")
    assert merged.code == 0, merged.err
    assert "appended 1 caller(s) to ours.yaml: newcomer" in merged.err.replace("\n", " ")
    text = (workdir / "ours.yaml").read_text()
    old_lines, new_lines = edited.splitlines(), text.splitlines()
    at = iter(new_lines)
    assert all(line in at for line in old_lines), "every line a human wrote is still there, in its order"
    assert "    fast: eu.anthropic.claude-haiku-4-5-20251001-v1:0   # the cheap one" in new_lines
    data = yaml.safe_load(text)
    assert data["callers"]["chat"]["owner"] == "support-team"
    assert data["callers"]["newcomer"]["identities"] == ["arn:aws:iam::123456789012:role/newcomer"]
    assert set(data["callers"]["newcomer"]["models"]) == {"fast", "claude-sonnet-4-6"}, "an existing alias is reused"
    assert data["models"]["claude-sonnet-4-6"] == SONNET
    assert "        owner: unassigned" in new_lines, "the appended caller takes the file's four-space indent"
    assert cli("plan", "-f", "ours.yaml").code == 0
    assert cli("discover", "--since", "1d", "--write", "ours.yaml").code == 0
    assert (workdir / "ours.yaml").read_text() == text, "a second run adds nothing"

    (workdir / "flow.yaml").write_text(
        "name: flow\nregion: eu-central-1\nmodels: {fast: "
        + HAIKU_PROFILE
        + "}\ncallers:\n  x:\n    owner: a\n    environment: b\n    models: [fast]\n"
    )
    refused = cli("discover", "--since", "1d", "--write", "flow.yaml")
    assert refused.code == 2 and "flow.yaml:3" in refused.err and "inline" in refused.err
    (workdir / "broken.yaml").write_text("name: broken\nregion: eu-central-1\nmodels: [\n")
    assert cli("discover", "--since", "1d", "--write", "broken.yaml").code == 2
    assert (workdir / "broken.yaml").read_text() == "name: broken\nregion: eu-central-1\nmodels: [\n", "nothing half-changed"
