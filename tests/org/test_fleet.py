"""One inventory over an organization of 5 accounts × 2 Regions: plan, apply, list, failures, prune."""

from __future__ import annotations

import json
from typing import Any

from tests.org.conftest import REGIONS, Org

CALLERS = """\
  webui:
    owner: platform
    environment: production
    models: [sonnet]
    account: [prod, staging]
    region: [eu-central-1, us-east-1]
  batch:
    owner: data
    environment: production
    models: [sonnet, nova]
    account: team-a
  reports:
    owner: finance
    environment: production
    models: [nova]
    account: payer
    region: us-east-1
"""


def _aips(org: Org, alias: str, region: str) -> dict[str, dict[str, Any]]:
    bedrock = org.client(alias, "bedrock", region)
    found = bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    return {p["inferenceProfileName"]: p for p in found}


def test_one_inventory_is_applied_in_every_account_and_region_it_names(org: Org, cli: Any, workdir: Any) -> None:
    (workdir / "org.yaml").write_text(org.inventory(CALLERS))
    plan = cli("plan", "-f", "org.yaml", "--json")
    assert plan.code == 0, plan.err
    groups = {(g["account"], g["region"]): g for g in plan.json["groups"]}
    assert len(groups) == 10 and plan.json["failed"] == []
    assert plan.json["summary"]["create"] == 7  # webui 2 accounts × 2 Regions, batch 2 models, reports 1
    assert groups[("prod", "us-east-1")]["account_id"] == org.ids["prod"]

    applied = cli("apply", "-f", "org.yaml", "--yes")
    assert applied.code == 0, applied.err + applied.out
    assert "10 of 10 account(s) × Region(s) applied" in applied.out

    for alias in ("prod", "staging"):
        for region in REGIONS:
            aip = _aips(org, alias, region)["webui-sonnet"]
            assert f":{org.ids[alias]}:" in aip["inferenceProfileArn"] and f":{region}:" in aip["inferenceProfileArn"]
            geo = "eu" if region.startswith("eu") else "us"  # the alias's profile, in the Region's geography
            assert aip["models"][0]["modelArn"].split("/")[-1] == "anthropic.claude-sonnet-4-6"
            source = org.client(alias, "bedrock", region).get_inference_profile(
                inferenceProfileIdentifier=aip["inferenceProfileArn"]
            )
            assert source["inferenceProfileArn"] and len(source["models"]) >= 1
            tags = org.client(alias, "bedrock", region).list_tags_for_resource(resourceARN=aip["inferenceProfileArn"])["tags"]
            assert {"key": "aipctl:source", "value": f"{geo}.anthropic.claude-sonnet-4-6"} in tags
    assert set(_aips(org, "team-a", "eu-central-1")) == {"batch-sonnet", "batch-nova"}
    assert _aips(org, "team-a", "us-east-1") == {}
    assert set(_aips(org, "payer", "us-east-1")) == {"reports-nova"}
    assert _aips(org, "team-b", "eu-central-1") == {} and _aips(org, "payer", "eu-central-1") == {}

    listed = cli("list", "-f", "org.yaml", "--json")
    assert listed.code == 0, listed.err
    rows = {(r["caller"], r["alias"], r["account"], r["region"]) for r in listed.json}
    assert ("webui", "sonnet", "staging", "us-east-1") in rows and ("reports", "nova", "payer", "us-east-1") in rows
    assert len(rows) == 7 and all(r["account_id"] == org.ids[r["account"]] for r in listed.json)

    again = cli("plan", "-f", "org.yaml", "--json", "--detailed-exitcode")
    changing = [(g["account"], g["region"], g["plan"]) for g in again.json["groups"] if g["plan"]["has_changes"]]
    assert again.code == 0, changing  # converged everywhere
    assert again.json["summary"]["no-op"] == 7


def test_an_account_that_cannot_be_reached_does_not_block_the_others(org: Org, cli: Any, workdir: Any) -> None:
    broken = '  ghost: {id: "999988887777", role: OrganizationAccountAccessRole, regions: [eu-central-1]}\n'
    callers = CALLERS + "  orphaned:\n    owner: x\n    environment: dev\n    models: [nova]\n    account: ghost\n"
    (workdir / "org.yaml").write_text(org.inventory(callers, extra_accounts=broken))
    applied = cli("apply", "-f", "org.yaml", "--yes", "--json")
    assert applied.code != 0
    out = applied.json
    assert out["failed"] == ["ghost (999988887777) eu-central-1"]
    ghost = next(g for g in out["groups"] if g["account"] == "ghost")
    assert "AccessDenied" in ghost["error"] and "sts:AssumeRole" in ghost["error"]
    assert set(_aips(org, "team-a", "eu-central-1")) == {"batch-sonnet", "batch-nova"}
    assert "webui-sonnet" in _aips(org, "staging", "us-east-1")
    assert "1 change(s) or account(s)" in applied.err


def test_prune_acts_only_in_the_accounts_and_regions_the_inventory_names(org: Org, cli: Any, workdir: Any) -> None:
    (workdir / "org.yaml").write_text(org.inventory(CALLERS))
    assert cli("apply", "-f", "org.yaml", "--yes").code == 0
    # The same inventory's marker on AIPs in a Region and an account it does not name: never aipctl's to touch.
    marker = [{"key": "aipctl:managed", "value": "org"}, {"key": "aipctl:caller", "value": "old"}]
    source = "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-pro-v1:0"
    elsewhere = org.client("prod", "bedrock", "eu-west-1").create_inference_profile(
        inferenceProfileName="old-nova", modelSource={"copyFrom": source}, tags=marker
    )
    organizations = org.client("payer", "organizations", "us-east-1")
    sandbox = organizations.create_account(Email="sandbox@example.com", AccountName="sandbox")["CreateAccountStatus"]
    org.ids["sandbox"] = sandbox["AccountId"]
    outside = org.client("sandbox", "bedrock", "eu-central-1").create_inference_profile(
        inferenceProfileName="old-nova",
        modelSource={"copyFrom": source.replace("eu-west-1", "eu-central-1")},
        tags=marker,
    )
    (workdir / "org.yaml").write_text(org.inventory(CALLERS.replace("[prod, staging]", "prod")))
    pruned = cli("apply", "-f", "org.yaml", "--yes", "--prune", "--json")
    assert pruned.code == 0, pruned.err
    assert _aips(org, "staging", "eu-central-1") == {} and _aips(org, "staging", "us-east-1") == {}
    assert "webui-sonnet" in _aips(org, "prod", "us-east-1")
    assert _aips(org, "prod", "eu-west-1")["old-nova"]["inferenceProfileArn"] == elsewhere["inferenceProfileArn"]
    assert _aips(org, "sandbox", "eu-central-1")["old-nova"]["inferenceProfileArn"] == outside["inferenceProfileArn"]
    deleted = [c["name"] for g in pruned.json["groups"] for c in g["plan"]["changes"] if c["action"] == "delete"]
    assert sorted(deleted) == ["webui-sonnet", "webui-sonnet"]  # staging's two, nothing else


def test_inventory_mistakes_about_accounts_name_file_and_line(cli: Any, workdir: Any) -> None:
    (workdir / "bad.yaml").write_text(
        "region: eu-central-1\nmodels: {nova: amazon.nova-pro-v1:0}\n"
        'accounts:\n  prod: {id: 111122223333, regions: [eu-central-1]}\n  dev: {id: "12345"}\n'
        "callers:\n  a: {owner: o, environment: e, models: [nova], account: [prod, qa], region: us-east-1}\n"
        "  b: {owner: o, environment: e, models: [nova]}\n"
    )
    result = cli("plan", "-f", "bad.yaml")
    assert result.code != 0 and "Traceback" not in result.err
    assert "bad.yaml:5: accounts.dev.id: '12345' is not an AWS account id" in result.err
    (workdir / "bad.yaml").write_text(
        "region: eu-central-1\nmodels: {nova: amazon.nova-pro-v1:0, opus: eu.anthropic.claude-opus-4-6-v1}\n"
        'accounts:\n  prod: {id: 111122223333, regions: [eu-central-1, sa-east-1]}\n  dev: {id: "222233334444"}\n'
        "callers:\n  a: {owner: o, environment: e, models: [nova], account: [prod, qa], region: us-east-1}\n"
        "  b: {owner: o, environment: e, models: [nova]}\n"
        "  c: {owner: o, environment: e, models: [opus], account: prod, region: sa-east-1}\n"
    )
    result = cli("plan", "-f", "bad.yaml")
    assert result.code != 0 and "Traceback" not in result.err
    assert "bad.yaml:7: callers.a.account[1]: unknown account 'qa' (defined: prod, dev)" in result.err
    assert "bad.yaml:7: callers.a.region[0]: account 'prod' manages eu-central-1, sa-east-1; add us-east-1" in result.err
    assert "bad.yaml:8: callers.b: name the caller's account: (one of prod, dev)" in result.err
    opus = "'eu.anthropic.claude-opus-4-6-v1'"
    assert f"bad.yaml:9: callers.c.models[0]: no geography's profile of {opus} serves sa-east-1" in result.err


def test_a_caller_in_two_accounts_sees_both_cost_lines_in_the_consolidated_report(
    org: Org, cli: Any, workdir: Any, sim: Any
) -> None:
    (workdir / "org.yaml").write_text(org.inventory(CALLERS))
    assert cli("apply", "-f", "org.yaml", "--yes").code == 0
    calls = {("prod", "eu-central-1"): 3, ("staging", "us-east-1"): 2, ("team-a", "eu-central-1"): 1}
    for (alias, region), count in calls.items():
        name = "webui-sonnet" if alias != "team-a" else "batch-nova"
        arn = _aips(org, alias, region)[name]["inferenceProfileArn"]
        runtime = org.client(alias, "bedrock-runtime", region)
        for i in range(count):
            runtime.converse(modelId=arn, messages=[{"role": "user", "content": [{"text": f"question {i} " * 40}]}])
    sim.advance(2 * 86400)  # past the billing lag

    report = cli("report", "-f", "org.yaml", "--since", "3d", "--json")
    assert report.code == 0, report.err
    rows = {r["caller"]: r for r in report.json["callers"] if r["tenant"] is None}
    webui = {line["account"]: line for line in rows["webui"]["accounts"]}
    assert set(webui) == {"prod", "staging"}
    assert webui["prod"]["regions"] == ["eu-central-1", "us-east-1"] and webui["prod"]["account_id"] == org.ids["prod"]
    assert webui["prod"]["billed_usd"] > 0 and webui["staging"]["billed_usd"] > 0
    assert webui["prod"]["billed_usd"] > webui["staging"]["billed_usd"]  # 3 calls against 2 of the same size
    assert round(webui["prod"]["billed_usd"] + webui["staging"]["billed_usd"], 6) == round(rows["webui"]["aip_billed_usd"], 6)
    assert webui["prod"]["estimated_usd"] > 0 and webui["staging"]["estimated_usd"] > 0
    assert [line["account"] for line in rows["batch"]["accounts"]] == ["team-a"]
    assert rows["batch"]["accounts"][0]["billed_usd"] > 0 and rows["reports"]["aip_billed_usd"] == 0
    assert rows["webui"]["invocations"] == 5  # CloudWatch of both accounts, both Regions

    shown = cli("report", "-f", "org.yaml", "--since", "3d", "--html", "org.html")
    assert shown.code == 0, shown.err
    assert "webui" in shown.out and f"prod ({org.ids['prod']})" in shown.out and "staging" in shown.out
    _check_accounts_table(workdir / "org.html", webui, org)


def _check_accounts_table(page_path: Any, webui: dict[str, Any], org: Org) -> None:
    """The dashboard's "Per account" table, read in headless Chromium: a row per caller × account, totals per account."""
    from tests.report.test_dashboard import CHROMIUM

    if CHROMIUM is None:
        return  # the dashboard itself is checked in tests/report/test_dashboard.py (CI installs Chromium)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("http*://**", lambda route: route.abort())
        page.goto(page_path.as_uri())
        rows = [r.split("\t") for r in page.locator("#accounts tbody tr").all_inner_texts()]
        totals = [r.split("\t") for r in page.locator("#accounts tfoot tr").all_inner_texts()]
        browser.close()
    webui_rows = {r[1]: r for r in rows if r[0] == "webui"}
    assert set(webui_rows) == {f"prod ({org.ids['prod']})", f"staging ({org.ids['staging']})"}
    assert webui_rows[f"prod ({org.ids['prod']})"][2] == "eu-central-1, us-east-1"
    assert [r[0] for r in rows].count("batch") == 1
    by_account = {r[1]: r for r in totals}
    assert len(totals) == len(org.ids)  # every account of the inventory, even one without cost
    prod_total = float(by_account[f"prod ({org.ids['prod']})"][3].lstrip("$").replace(",", ""))
    assert abs(prod_total - webui["prod"]["billed_usd"]) < 1e-4  # webui is the only caller billed in prod


def test_aipctls_own_policy_may_assume_only_the_roles_accounts_names(org: Org, cli: Any, workdir: Any) -> None:
    (workdir / "org.yaml").write_text(org.inventory(CALLERS))
    policy = cli("iam", "policy", "plan", "-f", "org.yaml", "--json")
    assert policy.code == 0, policy.err
    assume = [s for s in policy.json["Statement"] if "sts:AssumeRole" in s["Action"]]
    assert len(assume) == 1 and assume[0]["Action"] == ["sts:AssumeRole"]
    members = sorted(f"arn:aws:iam::{org.ids[a]}:role/OrganizationAccountAccessRole" for a in org.ids if a != "payer")
    assert assume[0]["Resource"] == members  # the management account needs no role: aipctl's own credentials
    watch = cli("iam", "policy", "guard watch", "-f", "org.yaml", "--json")
    assert [s["Resource"] for s in watch.json["Statement"] if "sts:AssumeRole" in s["Action"]] == [members]
    ingest = cli("iam", "policy", "cur setup", "-f", "org.yaml", "--json")  # one account's: no role to assume
    assert ingest.code == 0 and not [s for s in ingest.json["Statement"] if "sts:AssumeRole" in s["Action"]]


def test_iam_render_attaches_a_callers_policy_in_every_account_it_runs_in_and_nowhere_else(
    org: Org, cli: Any, workdir: Any
) -> None:
    with_identity = CALLERS.replace(
        "    account: [prod, staging]\n", '    account: [prod, staging]\n    identities: ["arn:aws:iam::*:role/webui-task"]\n', 1
    )
    (workdir / "org.yaml").write_text(org.inventory(with_identity))
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
        }
    )
    for alias in ("prod", "staging", "team-a"):  # team-a has a role of that name too, but webui does not run there
        org.client(alias, "iam").create_role(RoleName="webui-task", AssumeRolePolicyDocument=trust)
    assert cli("apply", "-f", "org.yaml", "--yes").code == 0

    rendered = cli("iam", "render", "-f", "org.yaml", "--caller", "webui", "--json")
    assert rendered.code == 0, rendered.err
    allow = next(st for st in rendered.json["webui"]["Statement"] if st["Sid"] == "InvokeOwnAips")
    expected = sorted(
        _aips(org, alias, region)["webui-sonnet"]["inferenceProfileArn"] for alias in ("prod", "staging") for region in REGIONS
    )
    assert allow["Resource"] == expected  # its AIPs in both accounts and both Regions, one policy

    attached = cli("iam", "render", "-f", "org.yaml", "--caller", "webui", "--attach", "--yes", "--json")
    assert attached.code == 0, attached.err
    assert sorted(attached.json["principals"]["webui"]) == sorted(
        f"arn:aws:iam::{org.ids[alias]}:role/webui-task" for alias in ("prod", "staging")
    )
    for alias, present in (("prod", True), ("staging", True), ("team-a", False)):
        names = org.client(alias, "iam").list_role_policies(RoleName="webui-task")["PolicyNames"]
        assert ("aipctl-aip-only-webui" in names) is present, alias

    detached = cli("iam", "render", "-f", "org.yaml", "--caller", "webui", "--detach", "--yes")
    assert detached.code == 0, detached.err
    assert all(not org.client(a, "iam").list_role_policies(RoleName="webui-task")["PolicyNames"] for a in ("prod", "staging"))


def test_the_cloudformation_path_makes_each_placements_stacks_through_its_role(org: Org, cli: Any, workdir: Any) -> None:
    (workdir / "org.yaml").write_text(org.inventory(CALLERS))
    applied = cli("apply", "-f", "org.yaml", "--yes", "--via", "cloudformation", "--json")
    assert applied.code == 0, applied.err
    for alias, region in (("prod", "us-east-1"), ("staging", "eu-central-1"), ("team-a", "eu-central-1")):
        stacks = org.client(alias, "cloudformation", region).describe_stacks()["Stacks"]
        assert [s["StackStatus"] for s in stacks] == ["CREATE_COMPLETE"], (alias, region)
    assert org.client("team-b", "cloudformation", "eu-central-1").describe_stacks()["Stacks"] == []
    assert "webui-sonnet" in _aips(org, "staging", "us-east-1")
    again = cli("plan", "-f", "org.yaml", "--via", "cloudformation", "--json", "--detailed-exitcode")
    assert again.code == 0, [g["plan"]["stacks"] for g in again.json["groups"] if g["plan"]["has_changes"]]


def test_wire_gives_each_account_and_region_its_own_arns(org: Org, cli: Any, workdir: Any) -> None:
    (workdir / "org.yaml").write_text(org.inventory(CALLERS))
    assert cli("apply", "-f", "org.yaml", "--yes").code == 0
    rows = cli("wire", "-f", "org.yaml", "--format", "json")
    assert rows.code == 0, rows.err
    webui = {(r["account"], r["region"]): r["arn"] for r in rows.json if r["caller"] == "webui"}
    assert set(webui) == {(a, r) for a in ("prod", "staging") for r in REGIONS}
    assert webui[("staging", "us-east-1")] == _aips(org, "staging", "us-east-1")["webui-sonnet"]["inferenceProfileArn"]

    ambiguous = cli("wire", "-f", "org.yaml", "--caller", "webui")
    assert ambiguous.code == 2 and "in 4 accounts × Regions" in ambiguous.err and "--account" in ambiguous.err
    env = cli("wire", "-f", "org.yaml", "--caller", "webui", "--account", "staging", "--region", "us-east-1")
    assert env.code == 0, env.err
    assert f"BEDROCK_AIP_ARN={webui[('staging', 'us-east-1')]}" in env.out.replace('"', "").replace("export ", "")

    ssm = cli("wire", "-f", "org.yaml", "--format", "ssm", "--caller", "webui", "--yes")
    assert ssm.code == 0, ssm.err
    for (alias, region), arn in webui.items():
        store = org.client(alias, "ssm", region)
        assert store.get_parameter(Name="/aipctl/webui/sonnet")["Parameter"]["Value"] == arn
    nowhere = cli("wire", "-f", "org.yaml", "--account", "nope")
    assert nowhere.code == 2 and "no account × Region of org.yaml matches" in nowhere.err


def test_verify_reads_every_accounts_cloudtrail_and_names_the_bypass_where_it_happened(org: Org, cli: Any, workdir: Any) -> None:
    import json

    trust = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    )
    sessions = {}
    for alias in ("prod", "staging"):
        org.client(alias, "iam").create_role(RoleName="webui-task", AssumeRolePolicyDocument=trust)
        role = f"arn:aws:iam::{org.ids[alias]}:role/webui-task"
        creds = org.client(alias, "sts").assume_role(RoleArn=role, RoleSessionName="task")["Credentials"]
        sessions[alias] = creds
    callers = CALLERS.replace(
        "    account: [prod, staging]\n", '    account: [prod, staging]\n    identities: ["arn:aws:iam::*:role/webui-task"]\n'
    )
    (workdir / "org.yaml").write_text(org.inventory(callers))
    assert cli("apply", "-f", "org.yaml", "--yes").code == 0

    def runtime(alias: str, region: str) -> Any:
        import boto3

        c = sessions[alias]
        return boto3.client(
            "bedrock-runtime",
            endpoint_url=org.endpoint,
            region_name=region,
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        )

    message = [{"role": "user", "content": [{"text": "hello"}]}]
    arn = _aips(org, "prod", "eu-central-1")["webui-sonnet"]["inferenceProfileArn"]
    for _ in range(3):
        runtime("prod", "eu-central-1").converse(modelId=arn, messages=message)
    for _ in range(2):  # straight to the model in staging: a bypass there
        runtime("staging", "us-east-1").converse(modelId="us.anthropic.claude-sonnet-4-6", messages=message)

    result = cli("verify", "-f", "org.yaml", "--since", "1d", "--json")
    assert "Traceback" not in result.err and result.out, result.err
    webui = next(c for c in result.json["callers"] if c["caller"] == "webui")
    assert (webui["aip_calls"], webui["bypass_calls"], webui["verdict"]) == (3, 2, "bypassing")
    where = {p["placement"]: (p["aip_calls"], p["bypass_calls"]) for p in webui["placements"]}
    assert where == {"prod eu-central-1": (3, 0), "staging us-east-1": (0, 2)}
    assert result.code != 0  # a caller below the coverage threshold fails verify
    shown = cli("verify", "-f", "org.yaml", "--since", "1d")
    assert "Traceback" not in shown.err and "webui" in shown.out + shown.err


def test_advise_looks_at_every_accounts_aips(org: Org, cli: Any, workdir: Any, sim: Any) -> None:
    (workdir / "org.yaml").write_text(org.inventory(CALLERS))
    assert cli("apply", "-f", "org.yaml", "--yes").code == 0
    sim.advance(8 * 86400)  # a week and a day without a call
    result = cli("advise", "-f", "org.yaml", "--since", "7d", "--json")
    assert result.code == 0, result.err
    idle = {a["aip"].split(":")[3:5][1] + " " + a["aip"].split(":")[3] for a in result.json if a["kind"] == "idle"}
    assert f"{org.ids['staging']} us-east-1" in idle and f"{org.ids['team-a']} eu-central-1" in idle
    assert f"{org.management} us-east-1" in idle and len(idle) == 6  # every account × Region with AIPs


def test_a_brake_reaches_every_account_and_region_of_its_caller(org: Org, cli: Any, workdir: Any) -> None:
    """A caller placed in two accounts × two Regions is braked in all four (and released in all four); the others are
    untouched; an account it cannot reach is named, the rest braked anyway, and the exit code says so."""
    (workdir / "org.yaml").write_text(org.inventory(CALLERS))
    assert cli("apply", "-f", "org.yaml", "--yes").code == 0
    braked = cli("brake", "webui", "-f", "org.yaml", "--reason", "runaway", "--json")
    assert braked.code == 1, "no anti-bypass policy is attached: the brake is recorded but IAM denies nothing yet"
    assert sorted(braked.json["placements"]) == sorted(
        f"{alias} ({org.ids[alias]}) {region}" for alias in ("prod", "staging") for region in REGIONS
    )
    assert braked.json["action"] == "braked" and braked.json["failed"] == [] and len(braked.json["aips"]) == 4
    for alias in ("prod", "staging"):
        for region in REGIONS:
            arn = _aips(org, alias, region)["webui-sonnet"]["inferenceProfileArn"]
            tags = {
                t["key"]: t["value"] for t in org.client(alias, "bedrock", region).list_tags_for_resource(resourceARN=arn)["tags"]
            }
            assert "aipctl:brake" in tags and "runaway" in tags["aipctl:brake"], (alias, region)
    batch = _aips(org, "team-a", "eu-central-1")["batch-sonnet"]["inferenceProfileArn"]
    untouched = org.client("team-a", "bedrock").list_tags_for_resource(resourceARN=batch)["tags"]
    assert "aipctl:brake" not in {t["key"] for t in untouched}, "the other callers keep working"
    released = cli("release", "webui", "-f", "org.yaml", "--json")
    assert released.code == 0 and released.json["action"] == "released" and len(released.json["placements"]) == 4
    arn = _aips(org, "prod", "us-east-1")["webui-sonnet"]["inferenceProfileArn"]
    assert "aipctl:brake" not in {
        t["key"] for t in org.client("prod", "bedrock", "us-east-1").list_tags_for_resource(resourceARN=arn)["tags"]
    }

    broken = '  ghost: {id: "999988887777", role: OrganizationAccountAccessRole, regions: [eu-central-1, us-east-1]}\n'
    (workdir / "ghost.yaml").write_text(
        org.inventory(CALLERS.replace("account: [prod, staging]", "account: [prod, staging, ghost]"), extra_accounts=broken)
    )
    partial = cli("brake", "webui", "-f", "ghost.yaml", "--reason", "runaway")
    assert partial.code == 1 and "ghost (999988887777) eu-central-1" in partial.err and "Traceback" not in partial.err
    assert "braked" in partial.out, "the reachable placements were braked anyway"


def test_guard_watch_sums_a_callers_spend_over_its_accounts_and_brakes_it_everywhere(org: Org, cli: Any, workdir: Any) -> None:
    """One call in prod is under the budget; the same call in staging takes the caller's organization-wide spend past
    it: the watch sees both accounts and brakes the caller in all four of its placements."""
    ask = [{"role": "user", "content": [{"text": "x" * 4000}]}]

    def call(alias: str, region: str) -> None:
        arn = _aips(org, alias, region)["webui-sonnet"]["inferenceProfileArn"]
        org.client(alias, "bedrock-runtime", region).converse(modelId=arn, messages=ask)

    (workdir / "org.yaml").write_text(org.inventory(CALLERS))
    assert cli("apply", "-f", "org.yaml", "--yes").code == 0
    call("prod", "eu-central-1")
    first = cli("guard", "watch", "--once", "--source", "cloudwatch", "--dry-run", "-f", "org.yaml", "--json")
    assert first.code == 0, first.err
    one = {r["caller"]: r for r in first.json["callers"]}["webui"]["spent_usd"]
    assert one > 0
    budget = round(one * 1.5, 6)
    budgeted = CALLERS.replace(
        "    account: [prod, staging]\n",
        f"    account: [prod, staging]\n    budget: {{monthly_usd: {budget}, alert_at: [100], brake_at: 100}}\n"
        '    identities: ["arn:aws:iam::*:role/webui-task"]\n',
    )
    (workdir / "org.yaml").write_text(org.inventory(budgeted))
    call("staging", "us-east-1")
    advised = cli("advise", "-f", "org.yaml", "--since", "7d", "--json")  # before the brake: the budget is near
    assert advised.code == 0, advised.err
    near = [a for a in advised.json if a["kind"] == "budget"]
    assert [a["caller"] for a in near] == ["webui"], "advise sums the caller's spend over its accounts"
    assert abs(near[0]["evidence"]["month_to_date_usd"] - 2 * one) <= 0.01 * one
    watched = cli("guard", "watch", "--once", "--source", "cloudwatch", "-f", "org.yaml", "--json")
    assert watched.code == 0, watched.err
    row = {r["caller"]: r for r in watched.json["callers"]}["webui"]
    assert abs(row["spent_usd"] - 2 * one) <= 0.01 * one, "both accounts' spend, summed"
    assert row["braked"] and ("webui", "brake") in [(e["caller"], e["kind"]) for e in watched.json["events"]]
    for alias in ("prod", "staging"):
        for region in REGIONS:
            arn = _aips(org, alias, region)["webui-sonnet"]["inferenceProfileArn"]
            tags = org.client(alias, "bedrock", region).list_tags_for_resource(resourceARN=arn)["tags"]
            assert "aipctl:brake" in {t["key"] for t in tags}, (alias, region)
    assert {r["caller"]: r for r in watched.json["callers"]}["batch"]["braked"] is False


def test_invocation_logging_is_set_up_in_every_account_and_region_with_a_bucket_each(org: Org, cli: Any, workdir: Any) -> None:
    """Bedrock logs only to a bucket of its own account and Region: a bucket name with {account} and {region} gives
    every placement its own, created and pointed at there; a plain name stays in the home placement."""
    logging = 'logging:\n  s3: {bucket: "aipctl-logs-{account}-{region}", prefix: raw}\n'
    (workdir / "org.yaml").write_text(org.inventory(CALLERS).replace("callers:\n", logging + "callers:\n", 1))
    applied = cli("apply", "-f", "org.yaml", "--yes", "--json")
    assert applied.code == 0, applied.err
    for alias in ("payer", "prod", "staging", "team-a"):
        for region in REGIONS:
            config = org.client(alias, "bedrock", region).get_model_invocation_logging_configuration()["loggingConfig"]
            bucket = f"aipctl-logs-{org.ids[alias]}-{region}"
            assert config["s3Config"] == {"bucketName": bucket, "keyPrefix": "raw"}, (alias, region)
            assert org.client(alias, "s3", region).head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    arn = _aips(org, "staging", "us-east-1")["webui-sonnet"]["inferenceProfileArn"]
    org.client("staging", "bedrock-runtime", "us-east-1").converse(
        modelId=arn, messages=[{"role": "user", "content": [{"text": "logged where it ran"}]}]
    )
    s3 = org.client("staging", "s3", "us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=f"aipctl-logs-{org.ids['staging']}-us-east-1").get("Contents", [])]
    assert keys and all(k.startswith(f"raw/AWSLogs/{org.ids['staging']}/BedrockModelInvocationLogs/us-east-1/") for k in keys)
    again = cli("plan", "-f", "org.yaml", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err

    (workdir / "bad.yaml").write_text(
        org.inventory(CALLERS).replace("callers:\n", 'logging:\n  s3: {bucket: "logs-{acct}"}\ncallers:\n', 1)
    )
    bad = cli("plan", "-f", "bad.yaml")
    assert bad.code == 2 and "bad.yaml:" in bad.err and "{account} and {region}" in bad.err and "Traceback" not in bad.err


def test_region_models_name_another_model_where_the_geography_rule_does_not_fit(org: Org, cli: Any, workdir: Any) -> None:
    """`region_models` overrides an alias in one Region (here: nova through its us. profile in us-east-1 instead of the
    foundation model); every other Region keeps the rule. Mistakes name file and line."""
    callers = (
        "  batch:\n    owner: data\n    environment: production\n    models: [sonnet, nova]\n    account: team-a\n"
        "    region: [eu-central-1, us-east-1]\n"
    )
    text = org.inventory(callers).replace(
        "accounts:\n", "region_models:\n  us-east-1: {nova: us.amazon.nova-pro-v1:0}\naccounts:\n", 1
    )
    (workdir / "org.yaml").write_text(text)
    applied = cli("apply", "-f", "org.yaml", "--yes")
    assert applied.code == 0, applied.err
    listed = {(r["alias"], r["region"]): r for r in cli("list", "-f", "org.yaml", "--json").json}
    assert listed[("nova", "us-east-1")]["model_source"] == "us.amazon.nova-pro-v1:0"
    assert listed[("nova", "eu-central-1")]["model_source"] == "amazon.nova-pro-v1:0"
    assert listed[("sonnet", "us-east-1")]["model_source"] == "us.anthropic.claude-sonnet-4-6", "the rule elsewhere"

    for bad, where, says in (
        ("  ap-south-1: {nova: amazon.nova-pro-v1:0}\n", "region_models.ap-south-1", "not ap-south-1"),
        ("  us-east-1: {opus: us.anthropic.claude-opus-4-6-v1}\n", "region_models.us-east-1.opus", "not a model alias"),
    ):
        (workdir / "bad.yaml").write_text(
            org.inventory(callers).replace("accounts:\n", "region_models:\n" + bad + "accounts:\n", 1)
        )
        result = cli("plan", "-f", "bad.yaml")
        assert result.code == 2 and where in result.err and says in result.err and "Traceback" not in result.err, result.err


def test_meter_reads_every_accounts_logs_and_reconciles_with_the_consolidated_cur(
    org: Org, cli: Any, workdir: Any, sim: Any
) -> None:
    """`meter ingest --from-logging` fills one ledger from each account × Region's log bucket (through its role); the
    management account's CUR 2.0 export bills every member, so reconcile compares the two per caller and day."""
    logging = 'logging:\n  s3: {bucket: "aipctl-logs-{account}-{region}", prefix: raw}\n'
    (workdir / "org.yaml").write_text(org.inventory(CALLERS).replace("callers:\n", logging + "callers:\n", 1))
    assert cli("apply", "-f", "org.yaml", "--yes").code == 0
    setup = cli("cur", "setup", "--yes", "--json")
    assert setup.code == 0, setup.err
    calls = {("prod", "eu-central-1"): 3, ("staging", "us-east-1"): 2, ("team-a", "eu-central-1"): 1}
    for (alias, region), count in calls.items():
        name = "webui-sonnet" if alias != "team-a" else "batch-nova"
        arn = _aips(org, alias, region)[name]["inferenceProfileArn"]
        runtime = org.client(alias, "bedrock-runtime", region)
        for i in range(count):
            runtime.converse(modelId=arn, messages=[{"role": "user", "content": [{"text": f"question {i} " * 40}]}])
    sim.advance(2 * 86400)  # past the billing lag

    ingested = cli("meter", "ingest", "--from-logging", "-f", "org.yaml", "--json")
    assert ingested.code == 0, ingested.err
    assert ingested.json["new_records"] == 6 and ingested.json["ledger_records"] == 6
    rows = {r["caller"]: r["calls"] for r in cli("meter", "query", "--by", "caller", "--json").json}
    assert rows == {"webui": 5, "batch": 1}, "every account's calls, attributed by its own AIPs"
    again = cli("meter", "ingest", "--from-logging", "-f", "org.yaml", "--json")
    assert again.json["new_records"] == 0, "idempotent across accounts too"
    billed = cli("meter", "ingest", setup.json["source"], "-f", "org.yaml", "--json")
    assert billed.code == 0 and billed.json["cur"]["lines"] > 0, billed.err
    checked = cli("reconcile", "-f", "org.yaml", "--since", "3d", "--watermark", "24h", "--json")
    assert checked.code == 0, checked.err
    assert {r["caller"] for r in checked.json} >= {"webui", "batch"}
    webui = [r for r in checked.json if r["caller"] == "webui"]
    assert sum(r["metered_usd"] for r in webui) > 0 and sum(r["billed_usd"] for r in webui) > 0, checked.json
    assert all(r["ok"] for r in checked.json), checked.json
    assert cli("meter", "ingest", "-f", "org.yaml").code == 2, "a SOURCE or --from-logging"


def test_budgets_are_made_in_the_management_account_where_they_see_the_whole_bill(org: Org, cli: Any, workdir: Any) -> None:
    budgeted = CALLERS.replace(
        "    account: [prod, staging]\n", "    account: [prod, staging]\n    budget: {monthly_usd: 75, alert_at: [80]}\n"
    ).replace("    account: team-a\n", "    account: team-a\n    budget: {monthly_usd: 20}\n")
    (workdir / "org.yaml").write_text(org.inventory(budgeted))
    applied = cli("apply", "-f", "org.yaml", "--yes")
    assert applied.code == 0, applied.err

    def budgets(alias: str) -> dict[str, Any]:
        found = org.client(alias, "budgets", "us-east-1").describe_budgets(AccountId=org.ids[alias]).get("Budgets", [])
        return {b["BudgetName"]: b for b in found}

    payer = budgets("payer")
    assert {b["CostFilters"]["TagKeyValue"][0] for b in payer.values()} == {"user:Application$webui", "user:Application$batch"}
    assert {b["BudgetLimit"]["Amount"] for b in payer.values()} == {"75.00", "20.00"}
    assert all(budgets(alias) == {} for alias in ("prod", "staging", "team-a")), "no budget in a member account"
    for alias in ("prod", "staging"):  # the budgeted caller's AIPs are watched where they run
        for region in REGIONS:
            alarms = org.client(alias, "cloudwatch", region).describe_alarms(AlarmNamePrefix="aipctl-org-webui-")["MetricAlarms"]
            assert [a["AlarmName"] for a in alarms] == ["aipctl-org-webui-sonnet-spike"], (alias, region)
    assert (
        org.client("payer", "cloudwatch", REGIONS[0]).describe_alarms(AlarmNamePrefix="aipctl-org-webui-")["MetricAlarms"] == []
    )
    assert cli("plan", "-f", "org.yaml", "--detailed-exitcode").code == 0, "converged"


def test_sim_organization_makes_the_member_accounts_an_inventory_names(cli: Any, workdir: Any) -> None:
    made = cli("sim", "organization", "prod", "staging", "--json")
    assert made.code == 0, made.err
    again = cli("sim", "organization", "prod", "staging", "team-a", "--json")  # kept, one added
    assert again.json["accounts"]["prod"] == made.json["accounts"]["prod"] and len(set(again.json["accounts"].values())) == 3
    block = cli("sim", "organization", "prod", "staging")
    assert (
        block.code == 0 and f'prod: {{id: "{made.json["accounts"]["prod"]}", role: OrganizationAccountAccessRole}}' in block.out
    )
    (workdir / "org.yaml").write_text(
        "name: org\nregion: eu-central-1\nmodels: {sonnet: eu.anthropic.claude-sonnet-4-6}\n"
        + block.out
        + "callers:\n  webui: {owner: platform, environment: production, models: [sonnet], account: [prod, staging]}\n"
    )
    applied = cli("apply", "-f", "org.yaml", "--yes")
    assert applied.code == 0, applied.err
    listed = cli("list", "-f", "org.yaml", "--json")
    assert sorted((r["account"], r["name"]) for r in listed.json) == [("prod", "webui-sonnet"), ("staging", "webui-sonnet")]
    refused = cli("sim", "organization", "bad alias")
    assert refused.code == 2 and "account alias" in refused.err
