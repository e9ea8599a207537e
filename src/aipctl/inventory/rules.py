"""AWS naming and tagging rules that the inventory is checked against before any API call.

They mirror the constraints of the Bedrock API (see ``shared/AWS-FACTS.md``) so that a bad inventory
fails with a file:line message instead of a half-applied plan.
"""

from __future__ import annotations

import re

#: InferenceProfileName: 1–64 chars, ``([0-9a-zA-Z][ _-]?)+``.
PROFILE_NAME_RE = re.compile(r"^([0-9a-zA-Z][ _-]?)+$")
PROFILE_NAME_MAX = 64
#: description: 1–200 chars, ``([0-9a-zA-Z:.][ _-]?)+``.
DESCRIPTION_RE = re.compile(r"^([0-9a-zA-Z:.][ _-]?)+$")
DESCRIPTION_MAX = 200
#: Callers and aliases become parts of profile names and environment variable names.
IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|[-_](?=[A-Za-z0-9]))*$")
#: Letters, digits, the space and ``. : / = + @ - _`` (AWS's tag pattern, without line breaks: a newline
#: in a value could forge lines of a plan or a report).
TAG_CHARS_RE = re.compile(r"^[\w .:/=+@-]*$", re.ASCII)
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
MAX_TAGS_PER_RESOURCE = 50
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")

#: Prefixes of system-defined (cross-Region) inference profile ids.
GEO_PREFIXES = ("us", "us-gov", "eu", "apac", "jp", "au", "ca", "global")
#: The source Regions of each geography's system-defined profiles (Bedrock user guide, "Supported Regions and
#: models for inference profiles"); the emulator's catalog has the same (tests/test_architecture.py).
GEO_REGIONS: dict[str, tuple[str, ...]] = {
    "us": ("us-east-1", "us-east-2", "us-west-1", "us-west-2"),
    "us-gov": ("us-gov-east-1", "us-gov-west-1"),
    "eu": ("eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3"),
    "apac": (
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "me-central-1",
    ),
    "jp": ("ap-northeast-1", "ap-northeast-3"),
    "au": ("ap-southeast-2", "ap-southeast-4"),
    "ca": ("ca-central-1", "ca-west-1"),
}
#: Which geography serves a Region when the model alias names another (jp and au are subsets of apac).
_PRIMARY_GEOS = ("us", "us-gov", "eu", "apac", "ca")


def system_profile_in(profile_id: str, region: str) -> str | None:
    """The system-defined profile id of ``profile_id``'s model that ``region`` can call: the same id when its
    geography serves the Region (or it is ``global.``), else the Region's own geography's (``eu.x`` in
    us-east-1 is ``us.x``). None: no geography serves the Region."""
    geo, _, model = profile_id.partition(".")
    if geo == "global" or region in GEO_REGIONS.get(geo, ()):
        return profile_id
    for other in _PRIMARY_GEOS:
        if region in GEO_REGIONS[other]:
            return f"{other}.{model}"
    return None


_SYSTEM_PROFILE_ID_RE = re.compile(rf"^({'|'.join(map(re.escape, GEO_PREFIXES))})\.[a-z0-9-]+\.[A-Za-z0-9._:-]+$")
_FOUNDATION_MODEL_ID_RE = re.compile(r"^[a-z0-9-]+\.[A-Za-z0-9._:-]+$")
_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):bedrock:(?P<region>[a-z0-9-]*):(?P<account>\d{12})?:"
    r"(?P<type>[a-z-]+)/(?P<id>[A-Za-z0-9._:-]+)$"
)

#: Tags aipctl writes itself; a caller cannot set these keys.
TAG_APPLICATION = "Application"
TAG_OWNER = "Owner"
TAG_ENVIRONMENT = "Environment"
#: Marker: value is the inventory name. Only AIPs carrying it are ever retagged or deleted.
TAG_MANAGED = "aipctl:managed"
TAG_CALLER = "aipctl:caller"
TAG_ALIAS = "aipctl:alias"
#: The copyFrom ARN: GetInferenceProfile does not return the model source, so we remember it.
TAG_SOURCE = "aipctl:source"
SNS_TOPIC_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

#: Set by `aipctl brake` ("<time> <reason>"), removed by `aipctl release`; plan leaves it alone.
TAG_BRAKE = "aipctl:brake"
#: Tenants braked on a caller's AIPs: `` acme globex `` (space-delimited, with a space on each side, so that
#: ``StringLike "* ${aws:PrincipalTag/Tenant} *"`` matches whole names only).
TAG_BRAKED_TENANTS = "aipctl:braked-tenants"
#: Set by `aipctl release CALLER --until T` (UTC, ISO 8601): `guard watch` does not brake the caller before T.
TAG_RELEASED_UNTIL = "aipctl:released-until"
#: On a staged replacement (``apply --staged``): the name of the AIP it replaces, deleted by a later ``--prune``.
TAG_REPLACES = "aipctl:replaces"
STATE_TAG_KEYS = (TAG_BRAKE, TAG_BRAKED_TENANTS, TAG_RELEASED_UNTIL, TAG_REPLACES)


def staged_name(name: str, source: str) -> str:
    """The name of ``name``'s staged replacement copying ``source`` (AIP names are unique per Region: a second one)."""
    import hashlib

    return f"{name[: PROFILE_NAME_MAX - 8]}-s{hashlib.sha256(source.encode()).hexdigest()[:6]}"


#: On IAM roles and users aipctl tagged: the keys it set there (space-separated), so it never touches others.
TAG_PRINCIPAL_KEYS = "aipctl:keys"
#: How Cost Explorer and CUR name a principal (IAM role/user or STS session) tag activated for cost allocation.
PRINCIPAL_TAG_PREFIX = "iamPrincipal/"
RESERVED_TAG_PREFIXES = ("aws:", "aipctl:")
STANDARD_TAG_KEYS = (TAG_APPLICATION, TAG_OWNER, TAG_ENVIRONMENT)
AIPCTL_TAG_KEYS = (TAG_MANAGED, TAG_CALLER, TAG_ALIAS, TAG_SOURCE)


#: Characters a tag value cannot hold that carry meaning in a brake reason ("spent $812 (101.5%)"): spelled out.
_SPELLED = {"$": "USD ", "%": " pct", "€": "EUR ", "£": "GBP ", "&": " and ", "#": "no. ", ",": ""}


def brake_tag(at: str, reason: str) -> str:
    """The ``aipctl:brake`` value: ``<UTC time> <reason>``, the reason reduced to tag characters
    (``$``, ``%``, ``€``, ``£``, ``&``, ``#`` spelled out, thousands commas dropped, the rest a space)."""
    text = "".join(_SPELLED.get(char, char) for char in reason)
    text = re.sub(r"[^\w .:/=+@-]", " ", text, flags=re.ASCII)
    text = re.sub(r" {2,}", " ", text).strip()
    return f"{at} {text}".strip()[:TAG_VALUE_MAX]


def parse_brake_tag(value: str) -> tuple[str, str]:
    """(time, reason) of an ``aipctl:brake`` value."""
    at, _, reason = value.partition(" ")
    return at, reason


def check_tag_key(key: str) -> str | None:
    """Return a problem description for an invalid tag key, else None."""
    if not 1 <= len(key) <= TAG_KEY_MAX:
        return f"tag key must be 1-{TAG_KEY_MAX} characters"
    if not TAG_CHARS_RE.match(key):
        return "tag key may only contain letters, digits, spaces and . _ : / = + @ -"
    if key.lower().startswith("aws:"):
        return "tag keys starting with 'aws:' are reserved by AWS"
    return None


def check_tag_value(value: str) -> str | None:
    """Return a problem description for an invalid tag value, else None."""
    if len(value) > TAG_VALUE_MAX:
        return f"tag value must be at most {TAG_VALUE_MAX} characters"
    if not TAG_CHARS_RE.match(value):
        return "tag value may only contain letters, digits, spaces and . _ : / = + @ -"
    return None


def check_identifier(value: str, what: str) -> str | None:
    if not IDENTIFIER_RE.match(value):
        return (
            f"{what} {value!r} must start with a letter or digit and contain only letters, digits and "
            "single '-' or '_' between them"
        )
    return None


def check_profile_name(name: str) -> str | None:
    if len(name) > PROFILE_NAME_MAX:
        return f"profile name {name!r} is {len(name)} characters; Bedrock allows at most {PROFILE_NAME_MAX}"
    if not PROFILE_NAME_RE.match(name):
        return f"profile name {name!r} does not match Bedrock's pattern ([0-9a-zA-Z][ _-]?)+"
    return None


def parse_bedrock_arn(arn: str) -> dict[str, str] | None:
    """Split a Bedrock ARN into partition, region, account, type and id (None if it is not one)."""
    match = _ARN_RE.match(arn)
    return match.groupdict(default="") if match else None


def is_system_profile_id(value: str) -> bool:
    return bool(_SYSTEM_PROFILE_ID_RE.match(value))


def is_foundation_model_id(value: str) -> bool:
    return bool(_FOUNDATION_MODEL_ID_RE.match(value)) and not is_system_profile_id(value)


def principal_pattern(pattern: str) -> tuple[str, str] | None:
    """(kind, ARN pattern) an identity pattern stands for; assumed-role sessions map to their role."""
    parts = pattern.split(":", 5)
    if len(parts) != 6:
        return None
    resource = parts[5]
    if parts[2] == "sts" and resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        return "role", f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
    if parts[2] == "iam" and resource.startswith("role/"):
        return "role", pattern
    if parts[2] == "iam" and resource.startswith("user/"):
        return "user", pattern
    return None
