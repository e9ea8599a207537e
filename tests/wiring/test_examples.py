"""The runnable examples, as a user runs them: their calls reach the AIP (CloudTrail) at a non-zero,
correct cost (recomputed here from the catalog's prices)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
from tests.conftest import ROOT, aipctl_subprocess_env

CATALOG = {m["modelId"]: m for m in json.loads(Path(ROOT / "src/aipctl_sim/bedrock/catalog.json").read_text())["models"]}


def test_boto3_example_routes_through_the_aip_and_prices_it(cli, workdir: Path, session, emulator) -> None:
    from aipctl.inventory import example_inventory

    (workdir / "aipctl.yaml").write_text(example_inventory())
    assert cli("apply", "--yes").code == 0
    env = aipctl_subprocess_env(
        AWS_ENDPOINT_URL=emulator,
        AWS_ACCESS_KEY_ID=SIM_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SIM_SECRET_KEY,
        AWS_REGION="eu-central-1",
        AWS_DEFAULT_REGION="eu-central-1",
    )
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples/boto3_converse.py"), "open-webui"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    trail = session.client("cloudtrail", endpoint_url=emulator)
    for event_name in ("Converse", "ConverseStream"):
        event = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": event_name}])["Events"][0]
        assert json.loads(event["CloudTrailEvent"])["requestParameters"]["modelId"] == result["aip_arn"]
    price = CATALOG["anthropic.claude-sonnet-4-6"]["prices"]["regional"]  # eu. profile: regional price
    usage = result["converse_usage"]
    expected = (
        Decimal(str(price["input"])) * usage["inputTokens"] + Decimal(str(price["output"])) * usage["outputTokens"]
    ) / 1_000_000
    assert Decimal(result["converse_cost_usd"]) == expected > 0
    assert Decimal(result["stream_cost_usd"]) > 0 and Decimal(result["embedding_cost_usd"]) > 0


@pytest.fixture(autouse=True)
def _no_lookup_limit(sim) -> None:
    sim.set_settings(cloudtrail_lookup_rps=0)  # the 2 requests/s limit is tested in tests/sim/test_cloudtrail.py


def _run_example(name: str, emulator: str, caller: str) -> dict:
    env = aipctl_subprocess_env(
        AWS_ENDPOINT_URL=emulator,
        AWS_ACCESS_KEY_ID=SIM_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SIM_SECRET_KEY,
        AWS_REGION="eu-central-1",
        AWS_DEFAULT_REGION="eu-central-1",
    )
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), caller], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_langchain_and_langgraph_example(cli, workdir: Path, session, emulator) -> None:
    from aipctl.inventory import example_inventory

    (workdir / "aipctl.yaml").write_text(example_inventory())
    assert cli("apply", "--yes").code == 0
    result = _run_example("langchain_langgraph.py", emulator, "mcp-hosted")
    assert result["tool_call"] == "team_spend" and result["streamed_chars"] > 0 and result["graph_messages"] == 3
    events = session.client("cloudtrail", endpoint_url=emulator).lookup_events(MaxResults=50)["Events"]
    runtime = [json.loads(e["CloudTrailEvent"]) for e in events if e["EventName"] in ("Converse", "ConverseStream")]
    assert len(runtime) == result["llm_calls"] == 5, "invoke, tool call, stream, and the graph's two nodes"
    assert {e["requestParameters"]["modelId"] for e in runtime} == {result["aip_arn"]}
    # independent check of the cost: the emulator's recorded usage of those calls × the catalog price
    from aipctl_sim import telemetry

    rows = telemetry.store().query("SELECT input_tokens, output_tokens FROM calls WHERE aip_arn = ?", (result["aip_arn"],))
    price = CATALOG["anthropic.claude-sonnet-4-6"]["prices"]["regional"]
    expected = sum(Decimal(str(price["input"])) * i + Decimal(str(price["output"])) * o for i, o in rows) / 1_000_000
    assert Decimal(result["cost_usd"]) == expected > 0


def test_strands_agent_example(cli, workdir: Path, session, emulator) -> None:
    from aipctl.inventory import example_inventory

    (workdir / "aipctl.yaml").write_text(example_inventory())
    assert cli("apply", "--yes").code == 0
    result = _run_example("strands_agent.py", emulator, "receptionist")
    events = session.client("cloudtrail", endpoint_url=emulator).lookup_events(MaxResults=50)["Events"]
    runtime = [json.loads(e["CloudTrailEvent"]) for e in events if e["EventName"] in ("Converse", "ConverseStream")]
    assert len(runtime) == 2, "the tool call and the final answer"
    assert {e["requestParameters"]["modelId"] for e in runtime} == {result["aip_arn"]}
    from aipctl_sim import telemetry

    rows = telemetry.store().query("SELECT input_tokens, output_tokens FROM calls WHERE aip_arn = ?", (result["aip_arn"],))
    price = CATALOG["anthropic.claude-haiku-4-5-20251001-v1:0"]["prices"]["regional"]
    expected = sum(Decimal(str(price["input"])) * i + Decimal(str(price["output"])) * o for i, o in rows) / 1_000_000
    assert Decimal(result["cost_usd"]) == expected > 0


def test_litellm_sdk_example_prices_the_aip_like_its_model(cli, workdir: Path, session, emulator) -> None:
    from aipctl.inventory import example_inventory

    (workdir / "aipctl.yaml").write_text(example_inventory())
    assert cli("apply", "--yes").code == 0
    result = _run_example("litellm_sdk.py", emulator, "open-webui")
    arn = result["model"].removeprefix("bedrock/converse/")
    event = session.client("cloudtrail", endpoint_url=emulator).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Converse"}]
    )["Events"][0]
    assert json.loads(event["CloudTrailEvent"])["requestParameters"]["modelId"] == arn
    usage = result["usage"]
    price = CATALOG["anthropic.claude-sonnet-4-6"]["prices"]["regional"]
    expected = (
        Decimal(str(price["input"])) * usage["prompt_tokens"] + Decimal(str(price["output"])) * usage["completion_tokens"]
    ) / 1_000_000
    assert result["litellm_cost_usd"] == pytest.approx(float(expected)) and result["litellm_cost_usd"] > 0
