"""The runnable examples, as a user runs them: their calls reach the AIP (CloudTrail) at a non-zero,
correct cost (recomputed here from the catalog's prices)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

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
