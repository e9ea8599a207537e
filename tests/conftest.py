"""Shared fixtures: one emulator per test session on loopback, real boto3 clients over HTTP.

Set AIPCTL_TEST_AWS_PROFILE to also run the contract tests (marker ``aws``) against real AWS.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from aipctl.aws.simctl import SimControl
from aipctl.aws.target import SIM_ACCESS_KEY, SIM_SECRET_KEY, Target, _sim_session

REGION = "eu-central-1"
ACCOUNT = "123456789012"
ROOT = Path(__file__).resolve().parents[1]
SONNET_PROFILE = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/eu.anthropic.claude-sonnet-4-6"
HAIKU_PROFILE = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0"
TITAN_MODEL = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"

MINIMAL_INVENTORY = """\
name: test
region: eu-central-1
models:
  sonnet: eu.anthropic.claude-sonnet-4-6
  haiku: eu.anthropic.claude-haiku-4-5-20251001-v1:0
  embed: amazon.titan-embed-text-v2:0
callers:
  chat:
    owner: platform-team
    environment: production
    models: [sonnet, haiku]
    identities: ["arn:aws:iam::*:role/chat-task"]
    tags: {CostCenter: "4711"}
  batch:
    owner: data-team
    environment: staging
    models: [embed]
"""


@pytest.fixture(scope="session")
def emulator() -> Iterator[str]:
    from aipctl_sim import EmulatorServer

    server = EmulatorServer(state_dir=None).start()
    yield server.endpoint_url
    server.stop()


@pytest.fixture
def sim(emulator: str) -> SimControl:
    control = SimControl(emulator)
    control.reset()
    return control


@pytest.fixture
def session(sim: SimControl) -> Any:
    return boto3.Session(aws_access_key_id=SIM_ACCESS_KEY, aws_secret_access_key=SIM_SECRET_KEY, region_name=REGION)


@pytest.fixture
def bedrock(session: Any, emulator: str) -> Any:
    return session.client("bedrock", endpoint_url=emulator)


@pytest.fixture
def target(sim: SimControl, emulator: str) -> Target:
    return Target("sim", _sim_session(), REGION, endpoint_url=emulator)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        import json

        return json.loads(self.out)


def run_cli(*args: str, endpoint: str | None = None) -> CliResult:
    """Run aipctl in-process (same code path as the console script, exit codes included)."""
    from aipctl.cli.errors import run_guarded
    from aipctl.cli.main import cli

    argv = ([f"--endpoint-url={endpoint}"] if endpoint else []) + list(args)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run_guarded(cli.main, args=argv, prog_name="aipctl")
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli(emulator: str, sim: SimControl, workdir: Path) -> Any:
    def invoke(*args: str) -> CliResult:
        return run_cli(*args, endpoint=emulator)

    return invoke


def aipctl_subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    env.update(extra)
    return env


AIPCTL = [sys.executable, "-m", "aipctl"]


def run_aipctl(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run aipctl in its own process, as a user would."""
    return subprocess.run(
        [*AIPCTL, *args], cwd=cwd, env=env or aipctl_subprocess_env(), capture_output=True, text=True, timeout=timeout
    )


ROLE_FOR_LOGS = "arn:aws:iam::123456789012:role/bedrock-logging"


def log_destinations(
    client: Any, bucket: str, prefix: str, *, log_group: str | None = None, role: str = "bedrock-logging", create: bool = True
) -> None:
    """What Bedrock checks before it takes a logging configuration: the bucket (created unless ``create`` is
    False) with a policy letting it write under ``prefix``, and for CloudWatch Logs the group and a role
    that trusts Bedrock. ``client(service)`` gives a boto3 client of the emulator."""
    from aipctl.aws.invocation_logging import bucket_statement, trust_policy
    from aipctl.aws.statements import with_statement

    s3 = client("s3")
    if create:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    policy = with_statement(None, bucket_statement(bucket, prefix, "123456789012", REGION))
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    if log_group:
        logs = client("logs")
        if not logs.describe_log_groups(logGroupNamePrefix=log_group)["logGroups"]:
            logs.create_log_group(logGroupName=log_group)
        client("iam").create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust_policy("123456789012", REGION)))


def traffic_with_logs(
    target: Target,
    session: Any,
    emulator: str,
    workdir: Path,
    *,
    bucket: str,
    prefix: str,
    days: float,
    seed: int,
    calls_per_day: int,
    log_group: str | None = None,
) -> str:
    """Apply the example inventory, log invocations to S3 (and CloudWatch Logs), drive traffic; returns the S3 URI."""
    from aipctl.inventory import example_inventory, parse_inventory
    from aipctl.plan import apply_plan, make_plan
    from aipctl.simulate.traffic import run_traffic

    log_destinations(lambda service: session.client(service, endpoint_url=emulator), bucket, prefix, log_group=log_group)
    session.client("bedrock", endpoint_url=emulator).put_model_invocation_logging_configuration(
        loggingConfig={
            "s3Config": {"bucketName": bucket, "keyPrefix": prefix},
            "textDataDeliveryEnabled": False,
            **({"cloudWatchConfig": {"logGroupName": log_group, "roleArn": ROLE_FOR_LOGS}} if log_group else {}),
        }
    )
    (workdir / "aipctl.yaml").write_text(example_inventory())
    loaded = parse_inventory(example_inventory(), "aipctl.yaml")
    apply_plan(make_plan(loaded, target), target)
    run_traffic(loaded, target, days=days, seed=seed, calls_per_day=calls_per_day)
    return f"s3://{bucket}/{prefix}"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free loopback port for the session (Debian's redis-server package)."""
    from benchmarks.guard import local_redis

    with local_redis() as url:
        if url is None:
            pytest.fail("redis-server is not installed (scripts/test.sh installs it: apt-get install redis-server)")
        yield url
