"""`aipctl iam policy` covers every AWS call each command really makes (traced against the emulator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aipctl.aws.permissions import iam_action
from aipctl.guard.selfpolicy import COMMAND_CALLS, actions_of
from tests.guard.test_iam_and_brake import INVENTORY


def test_every_command_policy_resolves(cli) -> None:
    for command in COMMAND_CALLS:
        assert actions_of(command), command
    whole = cli("iam", "policy", "--json")
    assert whole.code == 0 and set(whole.json) == set(COMMAND_CALLS)
    one = cli("iam", "policy", "brake", "--json").json
    assert "iam:PutRolePolicy" in one["Statement"][0]["Action"] and "bedrock:TagResource" in one["Statement"][0]["Action"]
    assert cli("iam", "policy", "nonsense").code == 2


COMMANDS = [
    ("apply", ["apply", "--yes"]),
    ("plan", ["plan"]),
    ("list", ["list"]),
    ("tags status", ["tags", "status"]),
    ("wire", ["wire", "--format", "ssm"]),
    ("verify", ["verify", "--since", "1d"]),
    ("report", ["report", "--since", "2d", "--coverage"]),
    ("iam render", ["iam", "render", "--attach", "--yes"]),
    ("brake", ["brake", "acme"]),
    ("release", ["release", "acme"]),
    ("guard watch", ["guard", "watch", "--once", "--source", "cloudwatch"]),
    ("meter ingest", ["meter", "ingest", "s3://trace-logs/raw", "--cloudtrail-since", "1d"]),
    ("meter athena", ["meter", "athena", "--logs", "s3://trace-logs/raw", "--run", "--output", "s3://trace-logs/athena/"]),
    ("cur setup", ["cur", "setup", "--yes"]),
    ("reconcile", ["reconcile", "--since", "2d", "--tolerance-pct", "100"]),
]


def test_traced_calls_are_covered_by_the_declared_policy(cli, sim, session, emulator, workdir: Path, monkeypatch) -> None:
    sim.set_settings(cloudtrail_lookup_rps=0)
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    session.client("sns", endpoint_url=emulator).create_topic(Name="finops")
    session.client("s3", endpoint_url=emulator).create_bucket(
        Bucket="trace-logs", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    iam = session.client("iam", endpoint_url=emulator)
    for role in ("acme-task", "globex-task"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")
    missing: dict[str, set[str]] = {}
    for name, argv in COMMANDS:
        trace = workdir / f"trace-{name.replace(' ', '-')}.txt"
        monkeypatch.setenv("AIPCTL_TRACE_CALLS", str(trace))
        result = cli(*argv)
        assert result.code == 0, f"{name}: {result.err}"
        calls = {tuple(line.split()) for line in trace.read_text().splitlines()} if trace.exists() else set()
        needed = {a for a in (iam_action(s, o) for s, o in calls) if a}
        gap = needed - set(actions_of(name))
        if gap:
            missing[name] = gap
        assert calls or name in ("tags status",), f"{name} made no traced call?"
    assert missing == {}, f"commands call AWS without the action in `aipctl iam policy`: {missing}"


@pytest.mark.parametrize("command", sorted(COMMAND_CALLS))
def test_policy_documents_are_valid_iam(command: str) -> None:
    from aipctl.guard.selfpolicy import policy_for

    document = policy_for(command)
    statement = document["Statement"][0]
    assert document["Version"] == "2012-10-17" and statement["Effect"] == "Allow"
    assert all(":" in action and " " not in action for action in statement["Action"])
    assert statement["Sid"].isalnum()
