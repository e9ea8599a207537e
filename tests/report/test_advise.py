"""`aipctl advise` (issue 18, first slice) on designed traffic whose right answer is known."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tests.conftest import MINIMAL_INVENTORY, ROOT

CATALOG = {m["modelId"]: m for m in json.loads(Path(ROOT / "src/aipctl_sim/bedrock/catalog.json").read_text())["models"]}


def _price(model: str, tin: int, tout: int, route: str = "regional") -> Decimal:
    price = CATALOG[model]["prices"][route]  # eu. geo profiles bill at the regional price, global. at the global one
    return (Decimal(str(price["input"])) * tin + Decimal(str(price["output"])) * tout) / 1_000_000


def _to_hour(sim, hour: int) -> None:
    """Move the emulator's clock forward to the next ``hour``:00 UTC (advice reads the hour calls ran at)."""
    import datetime as dt

    now = dt.datetime.fromisoformat(sim.clock()["now"])
    target = now.replace(hour=hour, minute=5, second=0, microsecond=0)
    if target <= now:
        target += dt.timedelta(days=1)
    sim.advance((target - now).total_seconds())


def test_advise_names_idle_aips_and_short_calls_on_a_big_model(cli, session, emulator, sim, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0
    sim.advance(31 * 86400)  # the AIPs are now older than the 30-day window
    _to_hour(sim, 11)  # office hours: an interactive workload
    bedrock = session.client("bedrock", endpoint_url=emulator)
    arns = {
        p["inferenceProfileName"]: p["inferenceProfileArn"]
        for p in bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    }
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    for i in range(120):  # a classifier: a line in, a word out, on Sonnet
        runtime.converse(
            modelId=arns["chat-sonnet"],
            messages=[{"role": "user", "content": [{"text": f"label ticket {i}: printer on fire"}]}],
            inferenceConfig={"maxTokens": 20},
        )
    advice = cli("advise", "--since", "30d", "--json")
    assert advice.code == 0, advice.err
    by_kind = {(a["kind"], a["alias"]): a for a in advice.json}
    assert set(by_kind) == {("right-size", "sonnet"), ("routing", "sonnet"), ("idle", "haiku"), ("idle", "embed")}
    resize = by_kind[("right-size", "sonnet")]
    assert resize["evidence"]["sibling"] == "anthropic.claude-haiku-4-5-20251001-v1:0"
    from aipctl_sim import telemetry

    rows = telemetry.store().query(
        "SELECT sum(input_tokens), sum(output_tokens) FROM calls WHERE aip_arn = ? AND status = 'ok'", (arns["chat-sonnet"],)
    )
    tin, tout = (int(v) for v in rows[0])
    sonnet, haiku = "anthropic.claude-sonnet-4-6", "anthropic.claude-haiku-4-5-20251001-v1:0"
    saving = _price(sonnet, tin, tout) - _price(haiku, tin, tout)  # a 30-day window: per month as it is
    assert resize["monthly_saving_usd"] == round(float(saving), 4) > 0
    assert by_kind[("idle", "haiku")]["monthly_saving_usd"] == 0.0
    routing = by_kind[("routing", "sonnet")]
    global_saving = _price(sonnet, tin, tout) - _price(sonnet, tin, tout, "global")
    assert routing["monthly_saving_usd"] == round(float(global_saving), 4) > 0
    assert routing["evidence"]["global_profile"] == "global.anthropic.claude-sonnet-4-6"


def test_advise_names_a_stable_large_prompt_without_caching(cli, session, emulator, sim, workdir: Path) -> None:
    """A chat app sending the same 6,000-token system prompt on every call, with no cache point."""
    from aipctl_sim import telemetry

    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0
    sim.advance(31 * 86400)
    _to_hour(sim, 14)
    arn = next(
        p["inferenceProfileArn"]
        for p in session.client("bedrock", endpoint_url=emulator).list_inference_profiles(typeEquals="APPLICATION")[
            "inferenceProfileSummaries"
        ]
        if p["inferenceProfileName"] == "chat-haiku"
    )
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    system = [{"text": "You are the support assistant of a printer company. " * 460}]  # ~6,000 tokens
    for i in range(110):
        runtime.converse(modelId=arn, system=system, messages=[{"role": "user", "content": [{"text": f"ticket {i}"}]}])
    advice = {(a["kind"], a["alias"]): a for a in cli("advise", "--since", "30d", "--json").json}
    cache = advice[("cache", "haiku")]
    (smallest, calls) = telemetry.store().query(
        "SELECT min(input_tokens), count(*) FROM calls WHERE aip_arn = ? AND status = 'ok'", (arn,)
    )[0]
    price = CATALOG["anthropic.claude-haiku-4-5-20251001-v1:0"]["prices"]["regional"]
    p_in, p_read, p_write = (Decimal(str(price[k])) for k in ("input", "cache_read", "cache_write"))
    # every call within one hour: 12 writes (one per 5 minutes) keep the prefix cached for the other reads
    expected = (calls * smallest * (p_in - p_read) - min(calls, 12) * smallest * (p_write - p_read)) / 1_000_000
    assert cache["monthly_saving_usd"] == round(float(expected), 4) > 0
    assert cache["confidence"] == "low" and cache["evidence"]["assumed_prefix_tokens"] == smallest > 5000

    for i in range(110):  # the same traffic with a cache point: nothing left to advise on caching
        runtime.converse(
            modelId=arn,
            system=[*system, {"cachePoint": {"type": "default"}}],
            messages=[{"role": "user", "content": [{"text": f"ticket {i}"}]}],
        )
    assert ("cache", "haiku") not in {(a["kind"], a["alias"]) for a in cli("advise", "--since", "30d", "--json").json}


def test_advise_says_nothing_without_the_data(cli, session, emulator, sim, workdir: Path) -> None:
    """Fresh AIPs are not idle, and a handful of calls is no basis for a cheaper model."""
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    assert cli("apply", "--yes").code == 0
    arn = next(
        p["inferenceProfileArn"]
        for p in session.client("bedrock", endpoint_url=emulator).list_inference_profiles(typeEquals="APPLICATION")[
            "inferenceProfileSummaries"
        ]
        if p["inferenceProfileName"] == "chat-sonnet"
    )
    for _ in range(5):
        session.client("bedrock-runtime", endpoint_url=emulator).converse(
            modelId=arn, messages=[{"role": "user", "content": [{"text": "hi"}]}], inferenceConfig={"maxTokens": 5}
        )
    quiet = cli("advise", "--json")
    assert quiet.code == 0 and quiet.json == []
    (workdir / "inventory.md").write_text("# Our callers\n\nHand-written notes.\n")
    assert "updated" in cli("advise", "--markdown", "inventory.md").err
    assert "unchanged" in cli("advise", "--markdown", "inventory.md").err, "idempotent"
    text = (workdir / "inventory.md").read_text()
    assert text.startswith("# Our callers\n\nHand-written notes.") and "Nothing to advise" in text
    assert cli("advise", "--markdown", "no/such/dir/x.md").code == 2
    assert cli("advise", "--since", "2h").code == 2


NIGHTLY = MINIMAL_INVENTORY.replace(
    '    tags: {CostCenter: "4711"}\n', '    tags: {CostCenter: "4711"}\n    budget: {monthly_usd: 0.05}\n'
)


def test_a_nightly_job_is_told_to_batch_and_a_caller_near_its_budget_is_named(cli, session, emulator, sim, workdir: Path) -> None:
    from aipctl_sim import telemetry
    from tests.sim.test_prices_and_tiers import HAIKU_SERVICE, price_list

    (workdir / "aipctl.yaml").write_text(NIGHTLY)
    assert cli("apply", "--yes").code == 0
    sim.advance(31 * 86400)
    _to_hour(sim, 2)  # the nightly run
    arn = next(
        p["inferenceProfileArn"]
        for p in session.client("bedrock", endpoint_url=emulator).list_inference_profiles(typeEquals="APPLICATION")[
            "inferenceProfileSummaries"
        ]
        if p["inferenceProfileName"] == "chat-haiku"
    )
    runtime = session.client("bedrock-runtime", endpoint_url=emulator)
    for i in range(105):
        runtime.converse(modelId=arn, messages=[{"role": "user", "content": [{"text": f"summarise report {i} " * 40}]}])
    advice = {(a["kind"], a["alias"]): a for a in cli("advise", "--since", "30d", "--json").json}
    tin, tout = (
        int(v)
        for v in telemetry.store().query(
            "SELECT sum(input_tokens), sum(output_tokens) FROM calls WHERE aip_arn = ? AND status = 'ok'", (arn,)
        )[0]
    )
    pricing = session.client("pricing", region_name="us-east-1", endpoint_url=emulator)
    rates = price_list(pricing, "AmazonBedrockFoundationModels", "eu-central-1", servicename=HAIKU_SERVICE)

    def cost(kind: str) -> Decimal:
        suffix = "_Batch" if kind == "batch" else ""
        return (
            tin * rates[f"EUC1-MP:EUC1_InputTokenCount{suffix}-Units"][0]
            + tout * rates[f"EUC1-MP:EUC1_OutputTokenCount{suffix}-Units"][0]
        ) / 1_000_000

    assert cli("advise", "--since", "30d", "--markdown", "inventory.md").code == 0
    block = (workdir / "inventory.md").read_text()
    assert "| batch | chat | haiku |" in block and "| budget | chat | – |" in block
    batch = advice[("batch", "haiku")]
    assert batch["monthly_saving_usd"] == round(float(cost("standard") - cost("batch")), 4) > 0
    assert batch["evidence"]["night_calls"] == 105
    assert ("flex", "haiku") not in advice, "Claude has no flex tier; batch is the advice"
    budget = advice[("budget", "")]
    assert budget["caller"] == "chat" and budget["evidence"]["month_to_date_usd"] >= 0.04


def test_advise_from_the_ledger_names_the_tenant_the_aggregate_hides(cli, session, emulator, sim, workdir: Path) -> None:
    """A gateway's tenants share one AIP: acme sends one-line classifications, globex long documents. The AIP's
    mean input is too large for right-sizing, so the CloudWatch view advises nothing of the kind; the ledger's
    per-tenant view names acme, with a saving computed here from the emulator's own rows."""
    from aipctl.inventory import load_inventory
    from aipctl.sessions import TenantSessions
    from aipctl_sim import telemetry
    from tests.conftest import log_destinations
    from tests.report.test_principal_plane import INVENTORY, _aips

    iam = session.client("iam", endpoint_url=emulator)
    for role in ("gateway", "chat-task", "sidecar", "legacy-job"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    log_destinations(lambda service: session.client(service, endpoint_url=emulator), "tenant-logs", "bedrock")
    session.client("bedrock", endpoint_url=emulator).put_model_invocation_logging_configuration(
        loggingConfig={"s3Config": {"bucketName": "tenant-logs", "keyPrefix": "bedrock"}, "textDataDeliveryEnabled": False}
    )
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    assert cli("apply", "--yes").code == 0
    _to_hour(sim, 11)
    tenants = TenantSessions(load_inventory(workdir / "aipctl.yaml"), session=session, endpoint_url=emulator)
    aip = _aips(session, emulator)["gateway-sonnet"]
    acme = tenants.session("gateway", "acme").client("bedrock-runtime", endpoint_url=emulator)
    globex = tenants.session("gateway", "globex").client("bedrock-runtime", endpoint_url=emulator)
    document = "The quarterly contract, clause by clause. " * 700  # ~5,000 tokens
    for i in range(110):
        acme.converse(
            modelId=aip,
            messages=[{"role": "user", "content": [{"text": f"label ticket {i}: printer on fire"}]}],
            inferenceConfig={"maxTokens": 20},
        )
        globex.converse(
            modelId=aip,
            messages=[{"role": "user", "content": [{"text": f"{document} (copy {i})"}]}],
            inferenceConfig={"maxTokens": 20},
        )
    assert cli("meter", "ingest", "s3://tenant-logs/bedrock", "--ledger", "ledger.duckdb").code == 0

    plain = cli("advise", "--since", "30d", "--json")
    assert plain.code == 0, plain.err
    assert not [a for a in plain.json if a["kind"] == "right-size"], "the AIP's mean input is a document's"
    advice = cli("advise", "--since", "30d", "--json", "--ledger", "ledger.duckdb")
    assert advice.code == 0, advice.err
    tenant_rows = [a for a in advice.json if a.get("tenant")]
    assert {(a["kind"], a["caller"], a["tenant"]) for a in tenant_rows if a["kind"] == "right-size"} == {
        ("right-size", "gateway", "acme")
    }, "globex's documents are not short calls"
    resize = next(a for a in tenant_rows if a["kind"] == "right-size")
    rows = telemetry.store().query(
        "SELECT sum(input_tokens), sum(output_tokens), count(*) FROM calls WHERE aip_arn = ? AND status = 'ok' "
        "AND principal_arn LIKE '%/acme'",
        (aip,),
    )
    tin, tout, calls = (int(v) for v in rows[0])
    sonnet, haiku = "anthropic.claude-sonnet-4-6", "anthropic.claude-haiku-4-5-20251001-v1:0"
    saving = _price(sonnet, tin, tout) - _price(haiku, tin, tout)  # a 30-day window: per month as it is
    assert resize["evidence"]["calls"] == calls == 110
    assert resize["monthly_saving_usd"] == round(float(saving), 4) > 0
    assert "acme" in resize["detail"]
    text = cli("advise", "--since", "30d", "--ledger", "ledger.duckdb")
    assert "gateway/sonnet (tenant acme)" in text.out
    assert cli("advise", "--since", "30d", "--ledger", "missing.duckdb").code == 2
