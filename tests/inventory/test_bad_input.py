"""Every invalid inventory: exit code 2, a message naming file:line and the field, nothing changed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import MINIMAL_INVENTORY

BASE = """\
name: test
region: eu-central-1
models:
  sonnet: eu.anthropic.claude-sonnet-4-6
  embed: amazon.titan-embed-text-v2:0
callers:
  chat:
    owner: platform-team
    environment: production
    models: [sonnet]
"""


def _with_caller(body: str) -> str:
    return BASE + textwrap.indent(textwrap.dedent(body), "  ")


CASES = [
    # (id, inventory text, expected line, expected fragments of the message)
    ("malformed-yaml", "region: eu-central-1\nmodels: {sonnet: [unclosed\n", 3, ["malformed YAML"]),
    ("tab-indentation", "region: eu-central-1\nmodels:\n\tsonnet: x\n", 3, ["malformed YAML"]),
    ("not-a-mapping", "- just\n- a list\n", 1, ["must be a YAML mapping"]),
    ("empty-file", "", 1, ["must be a YAML mapping"]),
    ("missing-region", BASE.replace("region: eu-central-1\n", ""), 1, ["region", "required field is missing"]),
    ("bad-region", BASE.replace("eu-central-1", "europe"), 2, ["region", "not an AWS Region"]),
    ("unknown-top-field", BASE + "colour: blue\n", 11, ["colour", "unknown field"]),
    (
        "unknown-caller-field",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  ownr: y\n"),
        15,
        ["callers.api.ownr", "unknown field"],
    ),
    ("no-models", "name: test\nregion: eu-central-1\nmodels: {}\ncallers: {}\n", 3, ["models"]),
    (
        "unknown-alias",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet, opus]\n"),
        14,
        ["callers.api.models[1]", "unknown model alias 'opus'", "defined: embed, sonnet"],
    ),
    ("alias-twice", _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet, sonnet]\n"), 14, ["listed twice"]),
    ("empty-model-list", _with_caller("api:\n  owner: x\n  environment: prod\n  models: []\n"), 14, ["callers.api.models"]),
    (
        "duplicate-caller",
        BASE + "  chat:\n    owner: y\n    environment: prod\n    models: [sonnet]\n",
        11,
        ["callers.chat", "duplicate key (first defined on line 7)"],
    ),
    ("duplicate-alias", BASE.replace("  embed: amazon", "  sonnet: amazon"), 5, ["models.sonnet", "duplicate key"]),
    ("bad-caller-name", _with_caller("-api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n"), 11, ["caller name '-api'"]),
    (
        "caller-double-separator",
        _with_caller("a--b:\n  owner: x\n  environment: prod\n  models: [sonnet]\n"),
        11,
        ["caller name 'a--b'"],
    ),
    ("bad-alias-name", BASE.replace("  embed:", "  em bed:"), 5, ["model alias 'em bed'"]),
    (
        "name-too-long",
        _with_caller(f"{'x' * 60}:\n  owner: x\n  environment: prod\n  models: [sonnet]\n"),
        14,
        ["67 characters", "at most 64"],
    ),
    (
        "name-collision",
        BASE.replace("models:\n", "models:\n  b-c: eu.anthropic.claude-sonnet-4-6\n  c: eu.anthropic.claude-sonnet-4-6\n", 1)
        + "  a-b:\n    owner: x\n    environment: prod\n    models: [c]\n"
        + "  a:\n    owner: x\n    environment: prod\n    models: [b-c]\n",
        20,
        ["collides with caller 'a-b' model 'c'"],
    ),
    (
        "aws-tag-prefix",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tags: {'aws:team': x}\n"),
        15,
        ["callers.api.tags.aws:team", "reserved by AWS"],
    ),
    (
        "aipctl-tag-prefix",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tags: {'aipctl:x': y}\n"),
        15,
        ["reserved for aipctl"],
    ),
    (
        "standard-tag-override",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tags: {Owner: y}\n"),
        15,
        ["'Owner' is set by aipctl"],
    ),
    (
        "bad-tag-chars",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tags: {Team: 'a,b'}\n"),
        15,
        ["tag value may only contain"],
    ),
    (
        "tag-key-too-long",
        _with_caller(f"api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tags: {{{'k' * 129}: v}}\n"),
        15,
        ["1-128 characters"],
    ),
    (
        "bad-owner-chars",
        _with_caller("api:\n  owner: 'team#1'\n  environment: prod\n  models: [sonnet]\n"),
        12,
        ["callers.api.owner", "tag value may only contain"],
    ),
    (
        "too-many-tags",
        _with_caller(
            "api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tags:\n" + "".join(f"    T{i}: v\n" for i in range(44))
        ),
        15,
        ["51 tags per AIP", "at most 50"],
    ),
    (
        "copy-from-aip",
        BASE.replace(
            "amazon.titan-embed-text-v2:0", "arn:aws:bedrock:eu-central-1:123456789012:application-inference-profile/abc123"
        ),
        5,
        ["cannot copy from another application inference profile"],
    ),
    (
        "arn-region-mismatch",
        BASE.replace("amazon.titan-embed-text-v2:0", "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"),
        5,
        ["Region 'us-east-1'", "inventory's region is 'eu-central-1'"],
    ),
    (
        "not-a-model-id",
        BASE.replace("amazon.titan-embed-text-v2:0", "titan embeddings"),
        5,
        ["neither a system-defined profile id"],
    ),
    (
        "wrong-arn-type",
        BASE.replace("amazon.titan-embed-text-v2:0", "arn:aws:bedrock:eu-central-1:123456789012:custom-model/abc"),
        5,
        ["not 'custom-model'"],
    ),
    (
        "bad-identity",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  identities: [open-webui-task]\n"),
        15,
        ["must be an IAM/STS ARN pattern"],
    ),
    (
        "bad-budget",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  budget: {monthly_usd: -5}\n"),
        15,
        ["callers.api.budget.monthly_usd"],
    ),
    (
        "bad-limits-type",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  limits: {rpm: many}\n"),
        15,
        ["callers.api.limits.rpm"],
    ),
    ("bad-cost-tag", BASE + "cost_tags: [Application, 'aws:createdBy']\n", 11, ["cost_tags[1]", "reserved by AWS"]),
    ("bad-inventory-name", BASE.replace("name: test", "name: 'my inventory!'"), 1, ["inventory name"]),
    ("version-unsupported", "version: 2\n" + BASE, 1, ["version"]),
    (
        "bad-attribution",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  attribution: tags\n"),
        15,
        ["callers.api.attribution", "'profile', 'principal' or 'both'"],
    ),
    (
        "tenants-without-role",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tenants: {acme: }\n"),
        15,
        ["callers.api.tenants", "give the caller a role identity"],
    ),
    (
        "tenants-on-profile-plane",
        _with_caller(
            "api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  attribution: profile\n"
            "  identities: ['arn:aws:iam::*:role/gateway']\n  tenants: {acme: }\n"
        ),
        17,
        ["only the principal plane bills"],
    ),
    (
        "bad-tenant-name",
        _with_caller(
            "api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n"
            "  identities: ['arn:aws:iam::*:role/gateway']\n  tenants: {'a b': }\n"
        ),
        16,
        ["callers.api.tenants.a b", "STS session name"],
    ),
    (
        "tenant-sets-tenant-tag",
        _with_caller(
            "api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n"
            "  identities: ['arn:aws:iam::*:role/gateway']\n  tenants:\n    acme: {Tenant: other}\n"
        ),
        17,
        ["callers.api.tenants.acme.Tenant", "set by aipctl for every tenant"],
    ),
    (
        "wildcard-identity",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  identities: ['arn:aws:iam::*:role/*']\n"),
        15,
        ["callers.api.identities[0]", "wildcard", "allow_wildcard: true"],
    ),
    (
        "overlapping-identities",
        BASE.replace("    models: [sonnet]\n", "    models: [sonnet]\n    identities: ['arn:aws:iam::*:role/shared-task']\n")
        + "  batch:\n    owner: x\n    environment: prod\n    models: [embed]\n"
        "    identities: ['arn:aws:sts::*:assumed-role/shared-task/*']\n",
        16,
        ["callers.batch.identities[0]", "overlaps", "of caller 'chat' (bad.yaml:11)", "one caller only"],
    ),
    (
        "billion-laughs",
        'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n'
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n",
        1,
        ["anchors and aliases", "not allowed"],
    ),
    ("merge-key", BASE + "defaults: &d {owner: x}\n", 11, ["anchors and aliases"]),
    (
        "newline-in-tag",
        _with_caller('api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tags: {Team: "a\\nForged: line"}\n'),
        15,
        ["callers.api.tags.Team", "control character U+000A"],
    ),
    (
        "bidi-override",
        _with_caller('api:\n  owner: "x\\u202eevil"\n  environment: prod\n  models: [sonnet]\n'),
        12,
        ["callers.api.owner", "U+202E"],
    ),
    (
        "octal-tag-value",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tags: {CostCenter: 0755}\n"),
        15,
        ["callers.api.tags.CostCenter", "read as the number 493", "quote it ('0755')"],
    ),
    (
        "yaml11-boolean",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tags: {Billable: on}\n"),
        15,
        ["callers.api.tags.Billable", "unquoted 'on' is read as True"],
    ),
    (
        "sexagesimal",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tags: {Window: 1:30}\n"),
        15,
        ["read as the number 90"],
    ),
    (
        "unquoted-date",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tags: {Since: 2026-01-01}\n"),
        15,
        ["read as a date"],
    ),
    (
        "bad-tenant-tag",
        _with_caller("api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  tenant_tag: 'aws:tenant'\n"),
        15,
        ["callers.api.tenant_tag", "reserved by AWS"],
    ),
]


@pytest.mark.parametrize("text,line,fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_inventory_is_refused_with_location(
    cli, bedrock, workdir: Path, text: str, line: int, fragments: list[str]
) -> None:
    (workdir / "bad.yaml").write_text(text)
    result = cli("apply", "-f", "bad.yaml", "--yes")
    assert result.code == 2, result.err
    assert f"bad.yaml:{line}:" in result.err, result.err
    for fragment in fragments:
        assert fragment in result.err, result.err
    assert "Traceback" not in result.err
    assert bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"] == []


def test_at_least_25_distinct_bad_input_cases() -> None:
    assert len({c[0] for c in CASES}) >= 25


def test_all_problems_are_reported_at_once(cli, workdir: Path) -> None:
    text = _with_caller("api:\n  owner: 'a#'\n  environment: prod\n  models: [nope]\n")
    (workdir / "bad.yaml").write_text(text)
    result = cli("plan", "-f", "bad.yaml")
    assert result.code == 2
    assert "2 problems" in result.err
    assert result.err.index("bad.yaml:12:") < result.err.index("bad.yaml:14:")


def test_missing_inventory_file_points_to_init(cli) -> None:
    result = cli("plan", "-f", "nope.yaml")
    assert result.code == 2
    assert "inventory file 'nope.yaml' not found" in result.err
    assert "aipctl init" in result.err


def test_unknown_model_source_is_caught_before_creating_anything(cli, bedrock, workdir: Path) -> None:
    text = MINIMAL_INVENTORY.replace("eu.anthropic.claude-sonnet-4-6", "eu.anthropic.claude-sonet-4-6")
    (workdir / "aipctl.yaml").write_text(text)
    result = cli("apply", "--yes")
    assert result.code == 2, result.err
    assert (
        "aipctl.yaml:4: models.sonnet: system-defined inference profile 'eu.anthropic.claude-sonet-4-6' does not exist"
        in result.err
    )
    assert "did you mean 'eu.anthropic.claude-sonnet-4-6'" in result.err
    assert bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"] == []


def test_region_flag_must_agree_with_inventory(cli, bedrock, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    result = cli("--region", "us-east-1", "apply", "--yes")
    assert result.code == 2
    assert "differs from the inventory's region eu-central-1" in result.err
    assert bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"] == []


def test_apply_without_yes_off_terminal_changes_nothing(cli, bedrock, workdir: Path) -> None:
    (workdir / "aipctl.yaml").write_text(MINIMAL_INVENTORY)
    result = cli("apply")
    assert result.code == 2
    assert "pass --yes" in result.err
    assert bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"] == []


def test_a_billion_laughs_fails_fast_and_a_huge_file_is_refused_unread(cli, bedrock, workdir: Path) -> None:
    import time

    laughs = next(c[1] for c in CASES if c[0] == "billion-laughs")
    (workdir / "laughs.yaml").write_text(laughs)
    started = time.monotonic()
    result = cli("plan", "-f", "laughs.yaml")
    assert result.code == 2 and time.monotonic() - started < 1.0, "refused before any expansion"
    (workdir / "huge.yaml").write_text(BASE + "# " + "x" * (5 << 20) + "\n")
    huge = cli("plan", "-f", "huge.yaml")
    assert huge.code == 2 and "huge.yaml:1:" in huge.err and "at most 4 MB" in huge.err and "Traceback" not in huge.err


def test_wildcards_are_allowed_when_the_caller_says_so(cli, workdir: Path) -> None:
    body = _with_caller(
        "api:\n  owner: x\n  environment: prod\n  models: [sonnet]\n  allow_wildcard: true\n"
        "  identities: ['arn:aws:iam::*:role/batch-*']\n"
    )
    (workdir / "ok.yaml").write_text(body)
    assert cli("plan", "-f", "ok.yaml").code == 0
    (workdir / "quoted.yaml").write_text(
        BASE.replace("    models: [sonnet]\n", "    models: [sonnet]\n    tags: {CostCenter: '0755'}\n")
    )
    assert cli("plan", "-f", "quoted.yaml").code == 0, "a quoted value is what it looks like"
