"""The command line as users run it: `aipctl sim serve` in its own process, the AWS CLI, --target aws."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY
from tests.conftest import AIPCTL, MINIMAL_INVENTORY, aipctl_subprocess_env, run_aipctl, run_cli


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `aipctl sim serve` process on a free port."""
    state = tmp_path_factory.mktemp("serve")
    proc = subprocess.Popen(
        [*AIPCTL, "--state-dir", str(state), "sim", "serve", "--port", "0"],
        env=aipctl_subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert (state / "sim" / "state.pkl").exists(), "serve saves its state when stopped"


def _aws_env(url: str) -> dict[str, str]:
    return aipctl_subprocess_env(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID=SIM_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SIM_SECRET_KEY,
        AWS_DEFAULT_REGION="eu-central-1",
        AWS_REGION="eu-central-1",
    )


def _aws_cli() -> str:
    return shutil.which("aws") or str(Path(sys.executable).with_name("aws"))


def _aws(served: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The unmodified AWS CLI (from PyPI) against the served emulator, JSON output."""
    return subprocess.run(
        [_aws_cli(), *args, "--output", "json"], env=_aws_env(served), capture_output=True, text=True, timeout=120
    )


def test_target_aws_honours_aws_endpoint_url(served: str, tmp_path: Path) -> None:
    """`--target aws` against `aipctl sim serve` runs the real-AWS code path end to end."""
    (tmp_path / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    env = _aws_env(served)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_aipctl("--target", "aws", *args, cwd=tmp_path, env=env)

    applied = run("apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert f"aws · account 123456789012 · region eu-central-1 · endpoint {served}" in applied.stderr
    listed = json.loads(run("list", "--json").stdout)
    assert sorted(r["name"] for r in listed) == ["batch-embed", "chat-haiku", "chat-sonnet"]

    # unmodified AWS CLI sees the same AIPs
    aws = _aws(served, "bedrock", "list-inference-profiles", "--type-equals", "APPLICATION")
    assert aws.returncode == 0, aws.stderr
    names = sorted(p["inferenceProfileName"] for p in json.loads(aws.stdout)["inferenceProfileSummaries"])
    assert names == ["batch-embed", "chat-haiku", "chat-sonnet"]
    arn = next(r["arn"] for r in listed if r["name"] == "chat-sonnet")
    tags = _aws(served, "bedrock", "list-tags-for-resource", "--resource-arn", arn)
    assert {"key": "Application", "value": "chat"} in json.loads(tags.stdout)["tags"]
    status = _aws(served, "ce", "list-cost-allocation-tags", "--region", "us-east-1")
    assert status.returncode == 0, status.stderr
    assert {t["TagKey"] for t in json.loads(status.stdout)["CostAllocationTags"] if t["Status"] == "Active"} >= {"Application"}


def test_runbook_queries_with_the_aws_cli(served: str, tmp_path: Path) -> None:
    """Phase 4 steps 4.3/4.4 with the unmodified AWS CLI: converse through an AIP, find it in CloudTrail."""

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return _aws(served, *args)

    created = aws(
        "bedrock",
        "create-inference-profile",
        "--inference-profile-name",
        "runbook-sonnet",
        "--model-source",
        "copyFrom=arn:aws:bedrock:eu-central-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-6",
    )
    assert created.returncode == 0, created.stderr
    arn = json.loads(created.stdout)["inferenceProfileArn"]
    answer = aws("bedrock-runtime", "converse", "--model-id", arn, "--messages", '[{"role":"user","content":[{"text":"hello"}]}]')
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["usage"]["inputTokens"] == 5
    lookup = aws(
        "cloudtrail",
        "lookup-events",
        "--lookup-attributes",
        "AttributeKey=EventName,AttributeValue=Converse",
        "--max-results",
        "5",
        "--query",
        "Events[].CloudTrailEvent",
    )
    assert lookup.returncode == 0, lookup.stderr
    model_ids = [json.loads(e)["requestParameters"]["modelId"] for e in json.loads(lookup.stdout)]
    assert arn in model_ids

    # 4.5: tag the AIP, activate the tag, use it, wait out the billing lag, query like the runbook
    assert aws("bedrock", "tag-resource", "--resource-arn", arn, "--tags", "key=Application,value=runbook").returncode == 0
    activated = aws(
        "ce",
        "update-cost-allocation-tags-status",
        "--region",
        "us-east-1",
        "--cost-allocation-tags-status",
        '[{"TagKey":"Application","Status":"Active"}]',
    )
    assert json.loads(activated.stdout)["Errors"] == []
    assert (
        aws(
            "bedrock-runtime", "converse", "--model-id", arn, "--messages", '[{"role":"user","content":[{"text":"hi"}]}]'
        ).returncode
        == 0
    )
    today = run_cli("sim", "clock", "--endpoint", served).out.strip()[:10]
    assert run_cli("sim", "clock", "advance", "2d", "--endpoint", served).code == 0
    import datetime as dt

    end = (dt.date.fromisoformat(today) + dt.timedelta(days=2)).isoformat()
    costs = aws(
        "ce",
        "get-cost-and-usage",
        "--region",
        "us-east-1",
        "--time-period",
        f"Start={today},End={end}",
        "--granularity",
        "DAILY",
        "--metrics",
        "UnblendedCost",
        "UsageQuantity",
        "--filter",
        '{"Dimensions":{"Key":"SERVICE","Values":["Claude Sonnet 4.6 (Amazon Bedrock Edition)"]}}',
        "--group-by",
        "Type=TAG,Key=Application",
    )
    assert costs.returncode == 0, costs.stderr
    keys = {g["Keys"][0] for r in json.loads(costs.stdout)["ResultsByTime"] for g in r["Groups"]}
    assert "Application$runbook" in keys


def test_sim_control_commands_against_a_running_server(served: str, tmp_path: Path) -> None:
    clock = run_cli("sim", "clock", "--endpoint", served, "--json")
    assert clock.code == 0, clock.err
    advanced = run_cli("sim", "clock", "advance", "2d", "--endpoint", served, "--json")
    assert advanced.json["offset_s"] - clock.json["offset_s"] == 172800
    assert run_cli("sim", "faults", "set", "--service", "bedrock", "--throttle-rate", "0.5", "--endpoint", served).code == 0
    faults = run_cli("sim", "faults", "show", "--endpoint", served).json
    assert faults == [
        {
            "service": "bedrock",
            "operation": "*",
            "throttle_rate": 0.5,
            "error_rate": 0.0,
            "latency_ms": 0.0,
            "rate_per_s": 0.0,
            "burst": 0.0,
        }
    ]
    assert run_cli("sim", "faults", "clear", "--endpoint", served).code == 0
    assert run_cli("sim", "faults", "show", "--endpoint", served).json == []
    shown = run_cli("sim", "settings", "--endpoint", served).json
    assert shown == {
        "billing_lag_hours": 24.0,
        "ce_page_groups": 1000,
        "cloudtrail_lookup_rps": 2.0,
        "log_delivery_delay_s": 0.0,
        "billing_discount_pct": 0.0,
        "batch_job_seconds": 0.0,
        "billing_credits_usd": 0.0,
        "default_region": "eu-central-1",
    }
    changed = run_cli("sim", "settings", "--billing-lag-hours", "0", "--endpoint", served).json
    assert changed["billing_lag_hours"] == 0.0
    delayed = run_cli("sim", "settings", "--log-delivery-delay", "30", "--endpoint", served).json
    assert delayed["log_delivery_delay_s"] == 30.0
    assert run_cli("sim", "settings", "--log-delivery-delay", "0", "--endpoint", served).code == 0
    assert run_cli("sim", "settings", "--billing-lag-hours", "24", "--endpoint", served).code == 0


def test_sim_clock_on_embedded_state_persists(tmp_path: Path) -> None:

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_aipctl(*args, cwd=tmp_path)

    before = json.loads(run("sim", "clock", "--json").stdout)["offset_s"]
    assert run("sim", "clock", "advance", "1d12h").returncode == 0
    after = json.loads(run("sim", "clock", "--json").stdout)["offset_s"]
    assert after - before == 129600


@pytest.mark.parametrize("text", ["2x", "", "d2", "1.5.3d"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    result = run_cli("sim", "clock", "advance", text, "--endpoint", "http://127.0.0.1:9")
    assert result.code == 2
    assert "cannot read duration" in result.err


def test_help_is_fast_and_lists_commands() -> None:
    done = subprocess.run([*AIPCTL, "--help"], env=aipctl_subprocess_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for command in ("init", "plan", "apply", "list", "tags", "cfn", "sim", "demo"):
        assert f"  {command} " in done.stdout
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from aipctl.cli.main import cli; "
            "sys.argv=['aipctl','--help']\ntry: cli.main()\nexcept SystemExit: pass\n"
            "print(','.join(m for m in ('boto3','moto','aipctl_sim','rich','pydantic') if m in sys.modules), file=sys.stderr)",
        ],
        env=aipctl_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.stderr.strip() == "", f"--help imported heavy modules: {imported.stderr}"


def test_unreachable_endpoint_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    monkeypatch.setitem(os.environ, "AIPCTL_MAX_ATTEMPTS", "1")
    result = run_cli("--endpoint-url", "http://127.0.0.1:9", "plan")
    assert result.code == 1
    assert "cannot reach" in result.err and "Traceback" not in result.err


def test_profile_is_rejected_for_the_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    result = run_cli("--profile", "prod", "plan")
    assert result.code == 2 and "--profile applies to --target aws" in result.err


def test_demo_runs_phase_4_end_to_end(tmp_path: Path) -> None:
    demo_dir = tmp_path / "d"
    demo = run_aipctl("demo", "--dir", str(demo_dir), cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "receptionist" in demo.stdout and "bypassing" in demo.stdout
    assert (demo_dir / "caller-inventory.md").read_text().count("<!-- aipctl:report:begin -->") == 1
    assert "plotly" in (demo_dir / "aipctl-report.html").read_text()
    env = aipctl_subprocess_env(AIPCTL_CLOUDTRAIL_RPS="0")
    plan = run_aipctl("plan", "--detailed-exitcode", cwd=demo_dir, env=env)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    verified = run_aipctl("verify", "--since", "5d", "--json", cwd=demo_dir, env=env)
    assert verified.returncode == 1, "the demo leaves one caller un-switched"
    coverage = {r["caller"]: r["coverage"] for r in json.loads(verified.stdout)["callers"]}
    assert coverage["receptionist"] == 0.0 and coverage["open-webui"] == 1.0
    report = json.loads(run_aipctl("report", "--since", "5d", "--top", "3", "--json", cwd=demo_dir, env=env).stdout)
    assert {"caller", "billed_usd", "estimated_usd"} <= set(report["callers"][0]) and report["untagged_usd"] > 0
    assert "reconcile: " in demo.stderr and "all within tolerance" in demo.stderr
    full = json.loads(run_aipctl("report", "--since", "5d", "--json", cwd=demo_dir, env=env).stdout)
    assert set(full["untagged_split"]["known_principal_no_aip_usd"]) == {"receptionist"}, "the bypasser, priced by principal"
    reconciled = run_aipctl("reconcile", "--since", "5d", "--watermark", "24h", "--json", cwd=demo_dir, env=env)
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert {r["billed_source"] for r in json.loads(reconciled.stdout)} == {"cur"}
