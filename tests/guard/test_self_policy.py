"""`aipctl iam policy` covers every AWS call each command really makes (traced against the emulator)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aipctl.aws.permissions import iam_action
from aipctl.guard.selfpolicy import COMMAND_CALLS, actions_of
from aipctl.inventory import parse_inventory
from tests.guard.test_iam_and_brake import INVENTORY


def test_every_command_policy_resolves(cli, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    for command in COMMAND_CALLS:
        assert actions_of(command), command
    whole = cli("iam", "policy", "--json")
    assert whole.code == 0 and set(whole.json) == set(COMMAND_CALLS)
    one = cli("iam", "policy", "brake", "--json").json
    actions = [a for statement in one["Statement"] for a in statement["Action"]]
    assert "bedrock:TagResource" in actions and "iam:GetRolePolicy" in actions
    assert not [a for a in actions if a.startswith(("iam:Put", "iam:Delete"))], "the brake writes no IAM"
    assert cli("iam", "policy", "nonsense").code == 2


COMMANDS = [
    ("apply", ["apply", "--yes"]),
    ("plan", ["plan"]),
    ("list", ["list"]),
    ("tags status", ["tags", "status"]),
    ("wire", ["wire", "--format", "ssm", "--yes"]),
    ("discover", ["discover", "--since", "1d"]),
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
    ("prices refresh", ["prices", "refresh"]),
    ("advise", ["advise", "--since", "1d", "--coverage"]),
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


LOADED = parse_inventory(INVENTORY, "aipctl.yaml")
#: Actions with which a holder could give itself more than the policy grants.
ESCALATING = re.compile(
    r"^(iam:(Put|Attach|Create|Update|Add|Set|Pass|Delete|Detach|Tag|Untag|Upload|Remove).*|iam:\*|sts:AssumeRole|\*)$"
)


@pytest.mark.parametrize("command", sorted(COMMAND_CALLS))
def test_policy_documents_are_valid_iam(command: str) -> None:
    from aipctl.guard.selfpolicy import policy_for

    document = policy_for(command, LOADED)
    assert document["Version"] == "2012-10-17"
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow" and statement["Sid"].isalnum()
        assert all(":" in action and " " not in action for action in statement["Action"])


@pytest.mark.parametrize("command", sorted(COMMAND_CALLS))
def test_no_policy_lets_its_holder_escalate(command: str) -> None:
    """Read the policies: nothing that changes IAM (or passes or assumes roles) on "*", and the brake,
    the release and the budget watch change no IAM at all."""
    from aipctl.guard.selfpolicy import policy_for

    statements = policy_for(command, LOADED)["Statement"]
    for statement in statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        escalating = [a for a in statement["Action"] if ESCALATING.match(a)]
        if "*" in resources:
            assert escalating == [], f"{command}: {escalating} on *"
        elif escalating:
            assert all(r.startswith("arn:aws:iam::") and (":role/" in r or ":user/" in r) for r in resources), resources
            assert not any(
                a in ("iam:PassRole", "sts:AssumeRole") or a.startswith(("iam:Create", "iam:Attach")) for a in escalating
            )
    if command in ("brake", "release", "guard watch"):
        assert not [a for s in statements for a in s["Action"] if a.startswith("iam:") and ESCALATING.match(a)]
    tagging = [s for s in statements if any(a in ("iam:TagRole", "iam:TagUser") for a in s["Action"])]
    for statement in tagging:
        keys = statement["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]
        assert "Application" in keys and "aipctl:keys" in keys and "Admin" not in keys


def test_iam_writes_need_an_inventory(cli, workdir: Path) -> None:
    refused = cli("iam", "policy", "apply")
    assert refused.code == 2 and "only on the inventory's principals" in refused.err
    assert cli("iam", "policy", "brake", "--json").code == 0, "the brake writes no IAM: no inventory needed"
    (workdir / "aipctl.yaml").write_text(INVENTORY)
    scoped = cli("iam", "policy", "iam render", "--json").json
    writes = next(s for s in scoped["Statement"] if "iam:PutRolePolicy" in s["Action"])
    assert writes["Resource"] == ["arn:aws:iam::*:role/acme-task", "arn:aws:iam::*:role/globex-task"]


def test_apply_writes_buckets_only_on_the_inventorys_logging_bucket() -> None:
    """A bucket policy on "*" would let the holder open any bucket: apply's S3 writes name the logging bucket,
    and no policy grants iam:PassRole or creates roles (the CloudWatch delivery role needs IAM rights)."""
    from aipctl.guard.selfpolicy import LOGGING_BUCKET_WRITES, policy_for

    with_logging = parse_inventory(INVENTORY + "logging:\n  s3: {bucket: team-logs}\n", "aipctl.yaml")
    for command in ("apply", "apply --via cloudformation"):
        statements = policy_for(command, with_logging)["Statement"]
        everywhere = next(s for s in statements if s["Resource"] == "*")["Action"]
        assert not LOGGING_BUCKET_WRITES & set(everywhere)
        bucket = next(s for s in statements if s["Sid"].endswith("LoggingBucket"))
        assert bucket["Resource"] == "arn:aws:s3:::team-logs" and set(bucket["Action"]) == LOGGING_BUCKET_WRITES
        assert not [a for s in statements for a in s["Action"] if a in ("iam:PassRole", "iam:CreateRole")]
    without = policy_for("apply", LOADED)["Statement"]
    assert not [a for s in without for a in s["Action"] if a in LOGGING_BUCKET_WRITES], "no logging bucket: no S3 writes"
