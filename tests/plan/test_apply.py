"""plan/apply against the emulator through the CLI: convergence, safety, throttling."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import MINIMAL_INVENTORY, SONNET_PROFILE


def _profiles(bedrock) -> dict[str, str]:
    summaries = bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    return {p["inferenceProfileName"]: p["inferenceProfileArn"] for p in summaries}


def _tags(bedrock, arn: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=arn)["tags"]}


def test_apply_creates_and_then_plan_is_clean(cli, bedrock, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    first = cli("plan", "--detailed-exitcode")
    assert first.code == 2
    assert "3 to create" in first.out
    applied = cli("apply", "--yes")
    assert applied.code == 0, applied.err
    assert "Apply complete: 3 create; 0 failed." in applied.out
    assert sorted(_profiles(bedrock)) == ["batch-embed", "chat-haiku", "chat-sonnet"]
    again = cli("plan", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert "No changes. 3 AIP(s) up to date." in again.out
    noop = cli("apply", "--yes")
    assert noop.code == 0 and "No changes" in noop.out


def test_a_plan_without_principals_is_clean_after_apply(cli, workdir: Path) -> None:
    """No caller names an IAM identity: no principal will ever carry the iamPrincipal/ keys, so Billing
    cannot know them and the plan must not propose them for ever (found by `bench foundation --only plan`)."""
    (workdir / "aipctl.yaml").write_text(
        "name: plain\nregion: eu-central-1\nmodels:\n  sonnet: eu.anthropic.claude-sonnet-4-6\n"
        "callers:\n  chat:\n    owner: team\n    environment: production\n    models: [sonnet]\n"
    )
    assert cli("apply", "--yes").code == 0
    again = cli("plan", "--detailed-exitcode", "--json")
    assert again.code == 0, again.out
    assert not [c for c in again.json["cost_tags"] if c["key"].startswith("iamPrincipal/")]


def test_every_command_says_where_it_acts(cli, workdir: Path, emulator: str) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    result = cli("plan")
    assert f"account 123456789012 · region eu-central-1 · endpoint {emulator}" in result.err


def test_tag_edit_retags_in_place_and_model_change_replaces(cli, bedrock, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0
    before = _profiles(bedrock)
    edited = MINIMAL_INVENTORY.replace("owner: platform-team", "owner: chat-team").replace(
        "embed: amazon.titan-embed-text-v2:0", "embed: cohere.embed-english-v3"
    )
    (workdir / "aipctl.yaml").write_text(edited)
    plan = cli("plan", "--json").json
    actions = {c["name"]: c["action"] for c in plan["changes"]}
    assert actions == {"batch-embed": "replace", "chat-haiku": "retag", "chat-sonnet": "retag"}
    assert any("ARN changes" in w for w in plan["warnings"])
    result = cli("apply", "--yes", "--json")
    assert result.code == 0, result.err
    after = _profiles(bedrock)
    assert after["chat-sonnet"] == before["chat-sonnet"]
    assert _tags(bedrock, after["chat-sonnet"])["Owner"] == "chat-team"
    assert after["batch-embed"] != before["batch-embed"]
    assert _tags(bedrock, after["batch-embed"])["aipctl:source"] == "cohere.embed-english-v3"


def test_prune_deletes_only_what_this_inventory_manages(cli, bedrock, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0
    handmade = bedrock.create_inference_profile(
        inferenceProfileName="handmade", modelSource={"copyFrom": SONNET_PROFILE}, tags=[{"key": "Application", "value": "x"}]
    )["inferenceProfileArn"]
    other = bedrock.create_inference_profile(
        inferenceProfileName="other-team",
        modelSource={"copyFrom": SONNET_PROFILE},
        tags=[{"key": "aipctl:managed", "value": "other"}],
    )["inferenceProfileArn"]
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY.split("  batch:")[0])
    kept = cli("apply", "--yes")
    assert kept.code == 0
    assert "batch-embed" in _profiles(bedrock), "no --prune: nothing deleted"
    assert "apply --prune" in kept.out and "batch-embed" in kept.out
    pruned = cli("apply", "--yes", "--prune", "--json")
    assert pruned.code == 0, pruned.err
    assert [a["name"] for a in pruned.json["result"]["applied"]] == ["batch-embed"]
    remaining = _profiles(bedrock)
    assert set(remaining) == {"chat-haiku", "chat-sonnet", "handmade", "other-team"}
    assert remaining["handmade"] == handmade and remaining["other-team"] == other


def test_unmanaged_aip_with_a_wanted_name_blocks_the_whole_apply(cli, bedrock, workdir: Path) -> None:
    bedrock.create_inference_profile(inferenceProfileName="chat-sonnet", modelSource={"copyFrom": SONNET_PROFILE})
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    result = cli("apply", "--yes")
    assert result.code == 1
    assert "AIP 'chat-sonnet'" in result.err and "not created by aipctl" in result.err
    assert set(_profiles(bedrock)) == {"chat-sonnet"}, "nothing else was created"


def test_apply_converges_under_throttling_and_server_errors(cli, bedrock, sim, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    sim.set_faults([{"service": "bedrock", "throttle_rate": 0.3, "error_rate": 0.05}])
    result = cli("apply", "--yes")
    sim.set_faults([])
    assert result.code == 0, result.err
    assert sorted(_profiles(bedrock)) == ["batch-embed", "chat-haiku", "chat-sonnet"]
    assert cli("plan", "--detailed-exitcode").code == 0


def test_600_creates_finish_under_30_percent_server_errors(cli, bedrock, sim, workdir: Path) -> None:
    """Issue 17.9: eight workers shared one client, so one botocore retry quota (500 units, 14 per retried
    5xx); at 30 % errors it ran dry and 91 of 600 creates failed unretried. Each worker has its own now."""
    callers = "".join(
        f"  app-{i:03d}:\n    owner: team-{i % 7}\n    environment: production\n    models: [sonnet, haiku]\n" for i in range(300)
    )
    head = MINIMAL_INVENTORY.split("callers:")[0]
    (workdir / "aipctl.yaml").write_text(head + "callers:\n" + callers)
    sim.set_faults([{"service": "bedrock", "error_rate": 0.3}], seed=1)
    try:
        result = cli("apply", "--yes")
    finally:
        sim.set_faults([])
    assert result.code == 0, result.err[-2000:]
    assert "Apply complete: 600 create; 0 failed." in result.out
    assert len(_all_profiles(bedrock)) == 600
    assert cli("plan", "--detailed-exitcode").code == 0


def _all_profiles(bedrock) -> list[str]:
    pages = bedrock.get_paginator("list_inference_profiles").paginate(typeEquals="APPLICATION")
    return [p["inferenceProfileName"] for page in pages for p in page["inferenceProfileSummaries"]]


def test_cost_tags_are_activated_by_apply(cli, session, emulator, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    result = cli("apply", "--yes")
    assert "Cost-allocation tags activated: Application, Owner, Environment" in result.out
    status = cli("tags", "status", "--json").json
    assert {s["key"]: s["status"] for s in status} == {
        "Application": "Active",
        "Owner": "Active",
        "Environment": "Active",
        # the principal plane's keys: no role of the inventory exists, so Billing has not seen them
        "iamPrincipal/Application": "NotFound",
        "iamPrincipal/Owner": "NotFound",
        "iamPrincipal/Environment": "NotFound",
    }


def test_tags_activate_reports_keys_billing_has_not_seen(cli, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    result = cli("tags", "activate", "--json")
    assert result.code == 1
    assert {p["key"] for p in result.json["pending"]} == {
        "Application",
        "Owner",
        "Environment",
        "iamPrincipal/Application",
        "iamPrincipal/Owner",
        "iamPrincipal/Environment",
    }


def test_list_json_has_the_documented_fields(cli, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    cli("apply", "--yes")
    rows = cli("list", "--json").json
    assert len(rows) == 3
    for row in rows:
        assert {"caller", "alias", "name", "arn", "model_source", "tags"} <= set(row)
    chat = next(r for r in rows if r["name"] == "chat-sonnet")
    assert (chat["caller"], chat["alias"], chat["model_source"]) == ("chat", "sonnet", "eu.anthropic.claude-sonnet-4-6")
    assert chat["tags"]["CostCenter"] == "4711"


def test_plan_falls_back_to_per_resource_tag_reads(cli, sim, workdir: Path, monkeypatch) -> None:
    monkeypatch.setenv("AIPCTL_MAX_ATTEMPTS", "2")
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0
    sim.set_faults([{"service": "resourcegroupstaggingapi", "error_rate": 1.0}])
    result = cli("plan", "--detailed-exitcode")
    sim.set_faults([])
    assert result.code == 0, result.out + result.err
    assert "tagging API unavailable (InternalServerException)" in result.err


def test_live_state_reads_tags_by_arn_in_batches_of_100(target, bedrock, tmp_path: Path, monkeypatch) -> None:
    """250 AIPs: their tags come from 3 GetResources calls on ARN lists (side by side), none per AIP."""
    from aipctl.aws.live import read_live_state

    made = {
        bedrock.create_inference_profile(
            inferenceProfileName=f"bulk-{i:03d}",
            modelSource={"copyFrom": SONNET_PROFILE},
            tags=[{"key": "Application", "value": f"app-{i}"}],
        )["inferenceProfileArn"]: f"app-{i}"
        for i in range(250)
    }
    trace = tmp_path / "calls"
    monkeypatch.setenv("AIPCTL_TRACE_CALLS", str(trace))
    from aipctl.aws.target import Target

    fresh = Target(target.kind, target.session, target.region, endpoint_url=target.endpoint_url)  # traced clients
    live = read_live_state(fresh)
    assert {p.arn: p.tags.get("Application") for p in live.profiles} == made
    calls = trace.read_text().splitlines()
    assert calls.count("resourcegroupstaggingapi GetResources") == 3
    assert not [c for c in calls if c.endswith("ListTagsForResource")]


def test_apply_rechecks_ownership_before_destroying(target, bedrock, workdir: Path) -> None:
    from aipctl.inventory import parse_inventory
    from aipctl.plan import Action, apply_plan, make_plan

    full = parse_inventory(MINIMAL_INVENTORY, "aipctl.yaml")
    apply_plan(make_plan(full, target), target)
    shrunk = parse_inventory(MINIMAL_INVENTORY.split("  batch:")[0], "aipctl.yaml")
    plan = make_plan(shrunk, target, prune=True)
    doomed = next(c for c in plan.changes if c.action is Action.DELETE)
    bedrock.untag_resource(resourceARN=doomed.arn, tagKeys=["aipctl:managed"])  # someone adopts it meanwhile
    report = apply_plan(plan, target)
    assert [r.change.name for r in report.failures] == ["batch-embed"]
    assert "ownership changed since the plan" in (report.failures[0].error or "")
    assert "batch-embed" in _profiles(bedrock)


def test_plan_groups_changes_per_caller_with_old_and_new_values(cli, workdir: Path) -> None:
    from tests.inventory.test_tiers import TIERED

    (workdir / "aipctl.yaml").write_text(TIERED)
    assert cli("apply", "--yes").code == 0
    before = cli("plan", "--json").json
    changed = TIERED.replace("owner: acme-inc", "owner: acme-holding").replace(
        "    tier: free\n", '    identities: ["arn:aws:iam::*:role/hobby-task"]\n    tier: enterprise\n'
    )
    (workdir / "aipctl.yaml").write_text(changed)
    text = cli("plan")
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    acme = lines.index(next(line for line in lines if line.strip().startswith("caller acme ")))
    hobbyist = lines.index(next(line for line in lines if line.strip().startswith("caller hobbyist ")))
    assert "tier enterprise" in lines[acme] and "owner acme-holding" in lines[acme]
    acme_block = lines[acme + 1 : hobbyist]
    assert any("Owner: acme-inc -> acme-holding" in line for line in acme_block), acme_block
    hobbyist_block = lines[hobbyist + 1 :]
    assert "tier enterprise" in lines[hobbyist]
    assert any("budget" in line and "create" in line for line in hobbyist_block), "the tier's budget comes with it"
    assert not any(line.strip().startswith("caller globex") for line in lines), "unchanged callers are not listed"
    assert lines[-1].endswith("; 2 caller(s) change.")
    after = cli("plan", "--json").json
    assert set(after) == set(before) and all(set(c) == set(before["changes"][0]) for c in after["changes"]), "--json unchanged"


def test_apply_refuses_to_delete_or_replace_an_aip_in_use(cli, session, emulator, bedrock, workdir: Path) -> None:
    """Issue 17.6: prune and replace looked at nothing: an AIP still being called lost its ARN under its caller."""
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0
    arns = _profiles(bedrock)
    session.client("bedrock-runtime", endpoint_url=emulator).converse(
        modelId=arns["chat-haiku"], messages=[{"role": "user", "content": [{"text": "still here"}]}]
    )
    # haiku's model changes (a replace) and batch leaves the inventory (a delete with --prune); batch was never called
    changed = MINIMAL_INVENTORY.replace(
        "haiku: eu.anthropic.claude-haiku-4-5-20251001-v1:0", "haiku: eu.anthropic.claude-sonnet-4-6"
    )
    changed = changed.split("  batch:")[0]
    (workdir / "aipctl.yaml").write_text(changed)
    plan = cli("plan", "--prune", "--json")
    assert plan.json["in_use"] == ["chat-haiku"]
    recent = {c["name"]: c["recent_calls"] for c in plan.json["changes"] if c["action"] in ("replace", "delete")}
    assert recent == {"chat-haiku": 1, "batch-embed": 0}
    assert "IN USE: 1 calls in 7 days" in cli("plan", "--prune").out + cli("plan", "--prune").err
    refused = cli("apply", "--prune", "--yes")
    assert refused.code == 2 and "chat-haiku (1 calls)" in refused.err and "nothing changed" in refused.err
    assert _profiles(bedrock) == arns, "not even the unused AIP was deleted"
    forced = cli("apply", "--prune", "--yes", "--force")
    assert forced.code == 0, forced.err
    after = _profiles(bedrock)
    assert "batch-embed" not in after and after["chat-haiku"] != arns["chat-haiku"]


def test_a_staged_replace_keeps_the_old_aip_until_the_caller_is_rewired(cli, session, emulator, bedrock, workdir: Path) -> None:
    """Issue 17.6: a replace can be staged — the new AIP beside the old, the plan naming the caller to re-wire, the old
    one deleted by a later --prune once nothing calls it any more."""
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0
    old = _profiles(bedrock)["chat-haiku"]
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    ask = [{"role": "user", "content": [{"text": "still here"}]}]
    runtime.converse(modelId=old, messages=ask)
    changed = MINIMAL_INVENTORY.replace(
        "haiku: eu.anthropic.claude-haiku-4-5-20251001-v1:0", "haiku: eu.anthropic.claude-sonnet-4-6"
    )
    (workdir / "aipctl.yaml").write_text(changed)

    planned = cli("plan", "--staged", "--json")
    assert planned.code == 0, planned.err
    assert planned.json["rewire"] == ["chat"] and planned.json["in_use"] == [], "nothing in use is touched"
    actions = {c["name"]: c["action"] for c in planned.json["changes"]}
    staged = next(n for n in actions if n.startswith("chat-haiku-s"))
    assert actions[staged] == "create" and actions["chat-haiku"] == "no-op"
    applied = cli("apply", "--staged", "--yes")
    assert applied.code == 0, applied.err
    profiles = _profiles(bedrock)
    assert profiles["chat-haiku"] == old, "the old AIP keeps serving its running caller"
    new = profiles[staged]
    tags = _tags(bedrock, new)
    assert tags["aipctl:replaces"] == "chat-haiku" and tags["aipctl:alias"] == "haiku"
    assert runtime.converse(modelId=old, messages=ask)["usage"]["outputTokens"] > 0

    wired = cli("wire", "--caller", "chat", "--format", "json")
    assert wired.code == 0, wired.err
    assert {r["alias"]: r["arn"] for r in wired.json}["haiku"] == new, "wire hands out the replacement"
    waiting = cli("plan", "--json")
    assert waiting.json["rewire"] == ["chat"] and [o["name"] for o in waiting.json["orphans"]] == ["chat-haiku"]
    assert "re-wire caller 'chat'" in cli("plan").err
    refused = cli("apply", "--prune", "--yes")
    assert refused.code == 2 and "chat-haiku (2 calls)" in refused.err, "still called within 7 days"
    done = cli("apply", "--prune", "--yes", "--force")
    assert done.code == 0, done.err
    after = _profiles(bedrock)
    assert "chat-haiku" not in after and after[staged] == new
    clean = cli("plan", "--detailed-exitcode", "--json")
    assert clean.code == 0 and clean.json["rewire"] == [], clean.out
