"""LangChain, Strands and LiteLLM as they ship — no aipctl code in the client — against a real
`aipctl sim serve` process, each pointed at an AIP the way their own docs say (issue 12).

Each runs in its own process with only AWS_* settings, as a user's script would.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
from tests.conftest import AIPCTL, aipctl_subprocess_env

REGION = "eu-central-1"
SONNET_PROFILE = f"arn:aws:bedrock:{REGION}:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-6"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("served")
    proc = subprocess.Popen(
        [*AIPCTL, "--state-dir", str(state), "sim", "serve", "--port", "0"],
        env=aipctl_subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    bedrock = boto3.client(
        "bedrock", region_name=REGION, endpoint_url=url, aws_access_key_id=SIM_ACCESS_KEY, aws_secret_access_key=SIM_SECRET_KEY
    )
    aip = bedrock.create_inference_profile(inferenceProfileName="framework-probe", modelSource={"copyFrom": SONNET_PROFILE})[
        "inferenceProfileArn"
    ]
    yield {"url": url, "aip": aip}
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def _run(served: dict[str, str], code: str, tmp_path: Path) -> dict[str, Any]:
    script = tmp_path / "client.py"
    script.write_text(textwrap.dedent(code))
    env = aipctl_subprocess_env(
        AWS_ENDPOINT_URL=served["url"],
        AWS_ACCESS_KEY_ID=SIM_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SIM_SECRET_KEY,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AIP=served["aip"],
    )
    env.pop("PYTHONPATH", None)  # the script imports the library alone, nothing of aipctl
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_langchain_chat_bedrock_converse(served, tmp_path: Path) -> None:
    out = _run(
        served,
        """
        import json, os
        from langchain_aws import ChatBedrockConverse
        from langchain_core.tools import tool

        @tool
        def spend(tenant: str) -> str:
            \"\"\"Spend of a tenant.\"\"\"
            return "42 USD"

        llm = ChatBedrockConverse(model=os.environ["AIP"], provider="anthropic", region_name="eu-central-1", max_tokens=200)
        plain = llm.invoke("Which tenant spent most?")
        stopped = llm.invoke("Which tenant spent most?", stop=["log"])
        called = llm.bind_tools([spend]).invoke("What did tenant a spend?")
        streamed = "".join(str(c.content[0].get("text", "")) if c.content else "" for c in llm.stream("Which tenant spent most?"))
        print(json.dumps({
            "text": plain.text if isinstance(plain.text, str) else plain.text(),
            "usage": plain.usage_metadata,
            "stopped": stopped.response_metadata.get("stopReason"),
            "tool": called.tool_calls[0]["name"] if called.tool_calls else None,
            "streamed": len(streamed),
        }))
        """,
        tmp_path,
    )
    assert out["text"] and out["usage"]["output_tokens"] > 0 and out["streamed"] > 0
    assert out["stopped"] == "stop_sequence" and out["tool"] == "spend"


def test_strands_agent_with_a_tool(served, tmp_path: Path) -> None:
    out = _run(
        served,
        """
        import json, os
        from strands import Agent, tool
        from strands.models import BedrockModel

        @tool
        def open_slots(day: str) -> str:
            \"\"\"Free appointment slots on a day.\"\"\"
            return f"{day}: 09:30, 11:00"

        model = BedrockModel(model_id=os.environ["AIP"], region_name="eu-central-1")
        result = Agent(model=model, tools=[open_slots], callback_handler=None)("Which slots are free on Monday?")
        usage = result.metrics.accumulated_usage
        print(json.dumps({"answer": str(result), "tools": list(result.metrics.tool_metrics), "output": usage["outputTokens"]}))
        """,
        tmp_path,
    )
    assert out["answer"].strip() and out["tools"] == ["open_slots"] and out["output"] > 0


def test_litellm_completion_on_the_aip(served, tmp_path: Path) -> None:
    out = _run(
        served,
        """
        import json, os
        import litellm

        common = dict(
            model="bedrock/converse/" + os.environ["AIP"],
            aws_bedrock_runtime_endpoint=os.environ["AWS_ENDPOINT_URL"],
            aws_region_name="eu-central-1",
            messages=[{"role": "user", "content": "Which tenant spent most?"}],
            max_tokens=200,
        )
        answer = litellm.completion(**common)
        stopped = litellm.completion(**common, stop=["log"])
        print(json.dumps({
            "text": answer.choices[0].message.content,
            "completion_tokens": answer.usage.completion_tokens,
            "stopped": stopped.choices[0].finish_reason,
            "stopped_text": stopped.choices[0].message.content,
        }))
        """,
        tmp_path,
    )
    assert out["text"] and out["completion_tokens"] > 0
    assert out["stopped"] == "stop" and "log" not in out["stopped_text"]
