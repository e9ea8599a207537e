"""A real LiteLLM proxy process on loopback, started from `aipctl wire --format litellm`: its calls
reach the caller's AIP, and both its response-cost header and aipctl's spend callback are right."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
from tests.conftest import ROOT, aipctl_subprocess_env

CATALOG = {m["modelId"]: m for m in json.loads(Path(ROOT / "src/aipctl_sim/bedrock/catalog.json").read_text())["models"]}
MASTER_KEY = "sk-aipctl-test-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(port: int, body: dict) -> tuple[dict, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {MASTER_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return dict(response.headers), json.loads(response.read())


@pytest.fixture
def proxy(cli, sim, workdir: Path, emulator: str):
    from aipctl.inventory import example_inventory

    sim.set_settings(cloudtrail_lookup_rps=0)
    (workdir / "aipctl.yaml").write_text(example_inventory())
    assert cli("apply", "--yes").code == 0
    config = cli("wire", "--format", "litellm", "--caller", "open-webui", "--spend-callback")
    assert config.code == 0, config.err
    (workdir / "litellm.yaml").write_text(config.out)
    port = _free_port()
    spend_log = workdir / "spend.jsonl"
    env = aipctl_subprocess_env(
        AWS_ACCESS_KEY_ID=SIM_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SIM_SECRET_KEY,
        AWS_REGION="eu-central-1",
        AWS_BEDROCK_RUNTIME_ENDPOINT=emulator,
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_MASTER_KEY=MASTER_KEY,
        AIPCTL_LITELLM_SPEND_LOG=str(spend_log),
    )
    exe = str(Path(sys.executable).with_name("litellm"))
    log = (workdir / "proxy.log").open("w")
    process = subprocess.Popen(
        [exe, "--config", str(workdir / "litellm.yaml"), "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/liveliness", timeout=2)
            break
        except (urllib.error.URLError, OSError):
            if process.poll() is not None:
                pytest.fail("proxy exited: " + (workdir / "proxy.log").read_text()[-3000:])
            time.sleep(0.5)
    else:
        pytest.fail("proxy did not come up: " + (workdir / "proxy.log").read_text()[-3000:])
    yield {"port": port, "spend_log": spend_log}
    process.terminate()
    process.wait(timeout=30)
    log.close()


def test_proxy_calls_the_aip_and_prices_it(proxy, session, emulator) -> None:
    headers, body = _post(
        proxy["port"], {"model": "sonnet", "messages": [{"role": "user", "content": "hello through the proxy"}]}
    )
    usage = body["usage"]
    price = CATALOG["anthropic.claude-sonnet-4-6"]["prices"]["regional"]
    expected = (
        Decimal(str(price["input"])) * usage["prompt_tokens"] + Decimal(str(price["output"])) * usage["completion_tokens"]
    ) / 1_000_000
    cost = float(headers["x-litellm-response-cost"])
    assert cost == pytest.approx(float(expected)) and cost > 0
    event = session.client("cloudtrail", endpoint_url=emulator).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Converse"}]
    )["Events"][0]
    model_id = json.loads(event["CloudTrailEvent"])["requestParameters"]["modelId"]
    assert ":application-inference-profile/" in model_id and headers["x-litellm-model-name"] == f"bedrock/converse/{model_id}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not proxy["spend_log"].exists():
        time.sleep(0.2)
    lines = [json.loads(line) for line in proxy["spend_log"].read_text().splitlines()]
    assert lines and lines[0]["caller"] == "open-webui"
    assert lines[0]["response_cost"] == pytest.approx(cost)
