"""The runnable examples, as a user runs them: their calls reach the AIP (CloudTrail) at a non-zero,
correct cost (recomputed here from the catalog's prices)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
from tests.conftest import ROOT, aipctl_subprocess_env

CATALOG = {m["modelId"]: m for m in json.loads(Path(ROOT / "src/aipctl_sim/bedrock/catalog.json").read_text())["models"]}
SONNET, HAIKU = "anthropic.claude-sonnet-4-6", "anthropic.claude-haiku-4-5-20251001-v1:0"


@pytest.fixture(autouse=True)
def example_account(cli, sim, workdir: Path) -> None:
    """The example inventory applied; the LookupEvents limit off (it is tested in tests/sim/test_cloudtrail.py)."""
    from aipctl.inventory import example_inventory

    sim.set_settings(cloudtrail_lookup_rps=0)
    (workdir / "aipctl.yaml").write_text(example_inventory())
    assert cli("apply", "--yes").code == 0


def _run_example(name: str, emulator: str, caller: str, **extra: str) -> dict[str, Any]:
    env = aipctl_subprocess_env(
        **extra,
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


def _runtime_model_ids(session: Any, emulator: str) -> list[str]:
    """The modelId of every Converse/ConverseStream call in CloudTrail, newest first."""
    events = session.client("cloudtrail", endpoint_url=emulator).lookup_events(MaxResults=50)["Events"]
    return [
        json.loads(e["CloudTrailEvent"])["requestParameters"]["modelId"]
        for e in events
        if e["EventName"] in ("Converse", "ConverseStream")
    ]


def _cost(model: str, input_tokens: int, output_tokens: int) -> Decimal:
    """The catalog's regional price (in-Region and geo profiles such as eu.)."""
    price = CATALOG[model]["prices"]["regional"]
    return (Decimal(str(price["input"])) * input_tokens + Decimal(str(price["output"])) * output_tokens) / 1_000_000


def _recorded_cost(aip_arn: str, model: str) -> Decimal:
    """Independent of aipctl's pricing code: the emulator's recorded usage on the AIP × the catalog price."""
    from aipctl_sim import telemetry

    rows = telemetry.store().query("SELECT input_tokens, output_tokens FROM calls WHERE aip_arn = ?", (aip_arn,))
    return sum((_cost(model, i, o) for i, o in rows), Decimal(0))


def test_boto3_example_routes_through_the_aip_and_prices_it(session, emulator) -> None:
    result = _run_example("boto3_converse.py", emulator, "open-webui")
    model_ids = _runtime_model_ids(session, emulator)
    assert len(model_ids) == 2 and set(model_ids) == {result["aip_arn"]}, "Converse and ConverseStream via the AIP"
    usage = result["converse_usage"]
    assert Decimal(result["converse_cost_usd"]) == _cost(SONNET, usage["inputTokens"], usage["outputTokens"]) > 0
    assert Decimal(result["stream_cost_usd"]) > 0 and Decimal(result["embedding_cost_usd"]) > 0


def test_langchain_and_langgraph_example(session, emulator) -> None:
    result = _run_example("langchain_langgraph.py", emulator, "mcp-hosted")
    assert result["tool_call"] == "team_spend" and result["streamed_chars"] > 0 and result["graph_messages"] == 3
    model_ids = _runtime_model_ids(session, emulator)
    assert len(model_ids) == result["llm_calls"] == 5, "invoke, tool call, stream, and the graph's two nodes"
    assert set(model_ids) == {result["aip_arn"]}
    assert Decimal(result["cost_usd"]) == _recorded_cost(result["aip_arn"], SONNET) > 0


def test_strands_agent_example(session, emulator) -> None:
    result = _run_example("strands_agent.py", emulator, "receptionist")
    model_ids = _runtime_model_ids(session, emulator)
    assert len(model_ids) == 2, "the tool call and the final answer"
    assert set(model_ids) == {result["aip_arn"]}
    assert Decimal(result["cost_usd"]) == _recorded_cost(result["aip_arn"], HAIKU) > 0


def test_litellm_sdk_example_prices_the_aip_like_its_model(session, emulator) -> None:
    result = _run_example("litellm_sdk.py", emulator, "open-webui")
    arn = result["model"].removeprefix("bedrock/converse/")
    assert _runtime_model_ids(session, emulator)[0] == arn
    usage = result["usage"]
    expected = _cost(SONNET, usage["prompt_tokens"], usage["completion_tokens"])
    assert result["litellm_cost_usd"] == pytest.approx(float(expected)) and result["litellm_cost_usd"] > 0


def test_litellm_prices_through_aipctls_book(session, emulator, workdir: Path) -> None:
    """LiteLLM gets aipctl's per-token prices with the arguments: a book with other prices changes its cost."""
    from aipctl.pricing import shipped_book

    book = shipped_book()
    models = json.loads(json.dumps(book.models))
    models[SONNET]["rates"] = {k: v * 2 for k, v in models[SONNET]["rates"].items()}
    models[SONNET]["regions"] = {}
    (workdir / "book.json").write_text(
        json.dumps({"format": 2, "source": "twice", "generated": book.generated, "models": models})
    )
    result = _run_example("litellm_sdk.py", emulator, "open-webui", AIPCTL_PRICES=str(workdir / "book.json"))
    usage = result["usage"]
    expected = 2 * _cost(SONNET, usage["prompt_tokens"], usage["completion_tokens"])
    assert result["litellm_cost_usd"] == pytest.approx(float(expected)) and expected > 0


def test_embeddings_go_through_the_aip_with_litellm(cli, session, emulator, monkeypatch) -> None:
    """Issue 17.7: `wire --format litellm` sent embedding aliases to the Converse route, and LiteLLM embeddings
    through an AIP failed. Bedrock takes an AIP ARN as InvokeModel's modelId for embeddings; LiteLLM needs the
    base model to pick the request body and ``model_id`` for the AIP. Both forms, the real SDK, CloudTrail."""
    import os

    import litellm
    import yaml

    from aipctl.integrations.litellm import embedding_args
    from aipctl.wiring import Resolver

    for key, value in {"AWS_ACCESS_KEY_ID": SIM_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SIM_SECRET_KEY}.items():
        monkeypatch.setenv(key, value)
    config = yaml.safe_load(cli("wire", "--format", "litellm", "--caller", "daily-briefing").out)["model_list"]
    entry = next(m for m in config if m["model_name"] == "embed")
    params = entry["litellm_params"]
    assert params["model"] == "bedrock/amazon.titan-embed-text-v2:0" and ":application-inference-profile/" in params["model_id"]
    assert entry["model_info"]["mode"] == "embedding"
    chat = next(m for m in config if m["model_name"] == "sonnet")
    assert chat["litellm_params"]["model"].startswith("bedrock/converse/arn:"), "chat stays on the Converse route"
    from_config = litellm.embedding(input=["a passage to index"], aws_bedrock_runtime_endpoint=emulator, **params)
    assert len(from_config.data[0]["embedding"]) > 0
    resolver = Resolver(session, region="eu-central-1", endpoint_url=emulator, environ=dict(os.environ))
    from_helper = litellm.embedding(input=["another passage"], **embedding_args("daily-briefing", "embed", resolver=resolver))
    assert len(from_helper.data[0]["embedding"]) > 0
    events = session.client("cloudtrail", endpoint_url=emulator).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "InvokeModel"}]
    )["Events"]
    targets = [json.loads(e["CloudTrailEvent"])["requestParameters"]["modelId"] for e in events]
    assert targets[:2] == [params["model_id"], params["model_id"]], "both calls reached the caller's embedding AIP"
