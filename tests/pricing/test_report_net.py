"""The report's deviation means something now: the estimate (CloudWatch tokens × the price book) and the
emulator's bill (its own Price List, tiers and the account's discount) agree where they should and differ where
real bills do; the inventory's ``pricing:`` terms give net figures beside list ones."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REGION

INVENTORY = """\
name: net
region: eu-central-1
models:
  haiku: eu.anthropic.claude-haiku-4-5-20251001-v1:0
  nova: amazon.nova-pro-v1:0
callers:
  chat:
    owner: web-team
    environment: production
    models: [haiku]
  jobs:
    owner: data-team
    environment: production
    models: [nova]
pricing:
  discount_pct: 12.5
"""
# ~20,000 input tokens a call: cents, so the report's six decimals do not blur a 10 % discount
MESSAGES = [{"role": "user", "content": [{"text": "Summarise the nightly run. " * 3000}]}]


@pytest.fixture
def billed(cli: Any, sim: Any, session: Any, emulator: str, workdir: Any) -> dict[str, dict[str, Any]]:
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    assert cli("apply", "--yes").code == 0
    assert cli("tags", "activate").code in (0, 1)  # 1: activated, but billing has not seen the keys yet
    sim.set_settings(billing_discount_pct=10, billing_credits_usd=0.05)
    arns = {
        p["inferenceProfileName"]: p["inferenceProfileArn"]
        for p in session.client("bedrock", endpoint_url=emulator).list_inference_profiles(typeEquals="APPLICATION")[
            "inferenceProfileSummaries"
        ]
    }
    runtime = session.client("bedrock-runtime", region_name=REGION, endpoint_url=emulator)
    for _ in range(3):
        runtime.converse(modelId=arns["chat-haiku"], messages=MESSAGES)
        runtime.converse(modelId=arns["jobs-nova"], messages=MESSAGES, serviceTier={"type": "flex"})
    sim.advance(2 * 86400)
    report = cli("report", "--since", "3d", "--json")
    assert report.code == 0, report.err
    ce = session.client("ce", region_name="us-east-1", endpoint_url=emulator)
    return {"callers": {c["caller"]: c for c in report.json["callers"]}, "report": report.json, "ce": ce, "sim": sim}


def test_estimate_and_bill_agree_on_list_price_and_differ_on_the_flex_tier(billed: dict[str, Any]) -> None:
    chat, jobs = billed["callers"]["chat"], billed["callers"]["jobs"]
    assert chat["billed_usd"] > 0 and chat["deviation"] == 0.0, "the same list prices on both sides"
    # CloudWatch has no tier: the estimate prices flex calls at the standard rate, twice what flex bills
    assert jobs["deviation"] == pytest.approx(1.0, abs=1e-3)
    assert any("flex/priority tier, which CloudWatch does not report" in r for r in jobs["deviation_reasons"])
    assert chat["deviation_reasons"] == [], "no deviation, nothing to explain"


def test_net_figures_from_the_bill_and_from_the_inventory_terms(billed: dict[str, Any]) -> None:
    chat = billed["callers"]["chat"]
    assert chat["billed_net_usd"] == pytest.approx(chat["billed_usd"] * 0.90, rel=1e-4), "the account's 10 %"
    assert chat["estimated_net_usd"] == pytest.approx(chat["estimated_usd"] * 0.875, rel=1e-4), "the inventory's 12.5 %"
    assert chat["net_deviation"] == pytest.approx(0.875 / 0.90 - 1, abs=1e-3), "the inventory states the wrong discount"
    pricing = billed["report"]["pricing"]
    assert pricing["terms"]["discount_pct"] == 12.5 and "Price List" in pricing["book"]["source"]
    assert billed["report"]["total_billed_net_usd"] == pytest.approx(
        sum(c["billed_net_usd"] for c in billed["callers"].values()), rel=1e-6
    )


def test_pricing_terms_name_known_models(cli: Any, workdir: Any) -> None:
    (workdir / "aipctl.yaml").write_text(INVENTORY.replace("discount_pct: 12.5", "models: {sonet: {discount_pct: 20}}"))
    bad = cli("plan")
    assert bad.code != 0 and "aipctl.yaml:" in bad.err and "unknown model alias 'sonet'" in bad.err
    (workdir / "aipctl.yaml").write_text(INVENTORY.replace("discount_pct: 12.5", "discount_pct: 100"))
    assert "less than 100" in cli("plan").err


def test_credits_do_not_hide_usage(billed: dict[str, Any]) -> None:
    """The emulated account has $0.05 of credits a month: Cost Explorer nets them off when asked for every
    record type; the report asks for usage only, so each caller's line is its usage."""
    import datetime as dt

    today = dt.datetime.fromisoformat(billed["sim"].clock()["now"]).date()
    window = {"Start": str(today - dt.timedelta(days=3)), "End": str(today + dt.timedelta(days=1))}

    def total(**extra: Any) -> float:
        answer = billed["ce"].get_cost_and_usage(TimePeriod=window, Granularity="MONTHLY", Metrics=["UnblendedCost"], **extra)
        return sum(float(r["Total"]["UnblendedCost"]["Amount"]) for r in answer["ResultsByTime"])

    usage = total(Filter={"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Usage"]}})
    credits = total(Filter={"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Credit"]}})
    assert credits == pytest.approx(-min(0.05, usage), rel=1e-6) and total() == pytest.approx(usage + credits, abs=1e-9)
    reported = sum(c["billed_usd"] for c in billed["callers"].values())
    assert reported == pytest.approx(usage, rel=1e-4), "credits do not net a caller's usage away"


def test_a_model_the_book_lacks_is_a_named_gap_not_zero(
    cli: Any, sim: Any, session: Any, emulator: str, workdir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from aipctl.pricing import shipped_book

    book = shipped_book()
    raw = {"format": 2, "source": "a book without Nova Pro", "generated": book.generated, "models": dict(book.models)}
    del raw["models"]["amazon.nova-pro-v1:0"]
    (workdir / "book.json").write_text(json.dumps(raw))
    monkeypatch.setenv("AIPCTL_PRICES", str(workdir / "book.json"))
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    assert cli("apply", "--yes").code == 0
    runtime = session.client("bedrock-runtime", region_name=REGION, endpoint_url=emulator)
    arn = next(
        p["inferenceProfileArn"]
        for p in session.client("bedrock", endpoint_url=emulator).list_inference_profiles(typeEquals="APPLICATION")[
            "inferenceProfileSummaries"
        ]
        if p["inferenceProfileName"] == "jobs-nova"
    )
    runtime.converse(modelId=arn, messages=MESSAGES)
    sim.advance(2 * 86400)
    report = cli("report", "--since", "3d", "--json")
    assert report.code == 0, report.err
    gaps = report.json["pricing"]["gaps"]
    assert gaps == ["no price for amazon.nova-pro-v1:0: its calls are not in the estimate"]
    assert report.json["pricing"]["book"]["source"] == "a book without Nova Pro"
    jobs = next(c for c in report.json["callers"] if c["caller"] == "jobs")
    assert jobs["estimated_usd"] == 0 and jobs["invocations"] == 1, "counted, not priced"
    assert jobs["billed_usd"] > 0 and jobs["deviation"] == -1.0, "the bill has what the book cannot price"
    assert jobs["deviation_reasons"] == [
        "nova: the price book has no price for amazon.nova-pro-v1:0, so the estimate leaves its calls out"
    ]


def test_a_batch_job_on_an_aip_is_billed_to_its_caller_and_explained(
    cli: Any, sim: Any, session: Any, emulator: str, workdir: Any
) -> None:
    import json

    from tests.sim.test_batch_inference import TRUST, _record

    (workdir / "aipctl.yaml").write_text(INVENTORY)
    assert cli("apply", "--yes").code == 0
    assert cli("tags", "activate").code in (0, 1)
    s3 = session.client("s3", endpoint_url=emulator)
    s3.create_bucket(Bucket="nightly", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="nightly", Key="in.jsonl", Body="\n".join(_record(n, "Summarise. " * 400) for n in range(3)).encode())
    role = session.client("iam", endpoint_url=emulator).create_role(
        RoleName="batch-role", AssumeRolePolicyDocument=json.dumps(TRUST)
    )["Role"]["Arn"]
    bedrock = session.client("bedrock", endpoint_url=emulator)
    arn = next(
        p["inferenceProfileArn"]
        for p in bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
        if p["inferenceProfileName"] == "chat-haiku"
    )
    bedrock.create_model_invocation_job(
        jobName="nightly",
        roleArn=role,
        modelId=arn,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://nightly/in.jsonl"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://nightly/out/"}},
    )
    sim.advance(2 * 86400)
    report = cli("report", "--since", "3d", "--json")
    assert report.code == 0, report.err
    chat = next(c for c in report.json["callers"] if c["caller"] == "chat")
    assert chat["billed_usd"] > 0 and chat["invocations"] == 0 and chat["deviation"] == -1.0, "billed under the AIP's tag"
    assert (
        "billed usage without calls in CloudWatch for its AIPs (batch jobs, or calls outside the AIPs)"
        in chat["deviation_reasons"]
    )
